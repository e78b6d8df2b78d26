import { describe, expect, it } from "vitest";
import type { Schemas } from "./api/client";
import { callStage, queueOf } from "./calls";

function call(change: Partial<Schemas["CallView"]>): Schemas["CallView"] {
  return {
    sid: "CA1",
    from: "+84905000001",
    to: "+8419001075",
    direction: "inbound",
    kind: "hotline",
    status: "in-progress",
    received_at: "2026-12-03T10:00:00.5+00:00",
    answered_at: null,
    answered_by: null,
    callback_task_id: null,
    dequeued_at: null,
    duration_s: null,
    ended_at: null,
    enqueued_at: null,
    menu_path: [],
    notes: "",
    operator_id: null,
    outcome: null,
    parent_sid: null,
    queue_wait_s: null,
    rescue_request_id: null,
    ...change,
  } as Schemas["CallView"];
}

describe("calls now", () => {
  it("places a call in the menu, the queue, with an operator, or over", () => {
    expect(callStage(call({}))).toBe("menu");
    expect(callStage(call({ enqueued_at: "2026-12-03T10:00:05+00:00" }))).toBe("queued");
    expect(callStage(call({ enqueued_at: "x", dequeued_at: "y", answered_at: "y" }))).toBe("operator");
    expect(callStage(call({ enqueued_at: "x", ended_at: "z" }))).toBe("ended");
  });

  it("numbers the queue from the longest waiting (sub-second enqueue times)", () => {
    const queue = queueOf([
      call({ sid: "late", enqueued_at: "2026-12-03T10:00:05.900Z" }),
      call({ sid: "early", enqueued_at: "2026-12-03T10:00:05.100Z" }),
      call({ sid: "menu" }),
    ]);
    expect(queue.map((q) => [q.call.sid, q.position])).toEqual([
      ["early", 1],
      ["late", 2],
    ]);
  });
});
