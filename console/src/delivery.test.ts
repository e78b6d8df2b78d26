import { describe, expect, it } from "vitest";
import type { Schemas } from "./api/client";
import { deliveryProgress } from "./delivery";

function report(change: Partial<Schemas["DeliveryReport"]>): Schemas["DeliveryReport"] {
  return {
    identifier: "x",
    targeted: {},
    messages: { condition: 10, token: 17, sms: 2 },
    fanout: {
      contacts: 2,
      contacts_enqueued: 2,
      devices: 17,
      devices_enqueued: 17,
      started_at: "2026-12-03T10:00:00.5Z",
      finished_at: "2026-12-03T10:00:01.2Z",
      outcome: "finished",
    },
    channels: {},
    routes: { condition: {}, token: {} },
    failures: {},
    removed: 0,
    ...change,
  } as Schemas["DeliveryReport"];
}

describe("delivery progress", () => {
  it("counts against the plan while the fan-out is still enqueueing", () => {
    const p = deliveryProgress(
      report({
        channels: { push: { sent: 5, queued: 3 } },
        fanout: { ...report({}).fanout!, finished_at: null, devices_enqueued: 8 },
      }),
    );
    expect(p.share).toBeCloseTo(5 / 29);
    expect(p.done).toBe(false);
  });

  it("is done at 100% when every planned message is sent", () => {
    const p = deliveryProgress(report({ channels: { push: { sent: 27 }, sms: { sent: 2 } } }));
    expect(p.share).toBe(1);
    expect(p.done).toBe(true);
  });

  it("is done short of 100% when some were given up, and not while retries are due", () => {
    const dead = deliveryProgress(report({ channels: { push: { sent: 26, dead: 1 }, sms: { sent: 2 } } }));
    expect(dead.done).toBe(true);
    expect(dead.share).toBeLessThan(1);
    const retrying = deliveryProgress(report({ channels: { push: { sent: 26, failed: 1 }, sms: { sent: 2 } } }));
    expect(retrying.done).toBe(false);
  });
});
