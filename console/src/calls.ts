// Where a call stands now, from its log row: in the menu, queued, with an operator, or over.
import type { Schemas } from "./api/client";

export type CallStage = "menu" | "queued" | "operator" | "ended";

export function callStage(call: Schemas["CallView"]): CallStage {
  if (call.ended_at) return "ended";
  if (call.answered_at || call.answered_by || call.operator_id !== null) return "operator";
  if (call.enqueued_at && !call.dequeued_at) return "queued";
  return "menu";
}

/** Queued calls, the longest waiting first, each with its place (1 = next). */
export function queueOf(calls: Schemas["CallView"][]): { call: Schemas["CallView"]; position: number }[] {
  return calls
    .filter((c) => callStage(c) === "queued")
    .sort((a, b) => (a.enqueued_at ?? "").localeCompare(b.enqueued_at ?? ""))
    .map((call, i) => ({ call, position: i + 1 }));
}
