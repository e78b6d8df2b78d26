import { describe, expect, it } from "vitest";
import { matches, parseFrame, streamUrl } from "./live";

describe("the live stream", () => {
  it("reads a frame's JSON with its id, and drops what is not ours", () => {
    expect(parseFrame("call.queued", "42", '{"type":"call.queued","at":"2026-12-03T10:00:00.5Z","sid":"CA1"}')).toEqual({
      type: "call.queued",
      at: "2026-12-03T10:00:00.5Z",
      sid: "CA1",
      id: 42,
    });
    expect(parseFrame("call.queued", "43", "not json")).toBeNull();
    expect(parseFrame("message", "44", '{"at":"x"}')?.type).toBe("message");
  });

  it("matches types by their dotted prefix", () => {
    expect(matches("call.queued", ["call"])).toBe(true);
    expect(matches("callback.opened", ["call"])).toBe(false);
    expect(matches("alert.issued", ["alert.issued", "rescue"])).toBe(true);
    expect(matches("delivery.progress", ["*"])).toBe(true);
  });

  it("resumes a reopened stream after the last id seen", () => {
    expect(streamUrl(0)).toBe("/api/v1/events/stream");
    expect(streamUrl(1234)).toBe("/api/v1/events/stream?last_event_id=1234");
  });
});
