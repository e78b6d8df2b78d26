// How far a warning's delivery has got, from GET /api/v1/alerts/{id}/delivery.
import type { Schemas } from "./api/client";

export interface Progress {
  planned: number; // messages the frozen plan holds (condition + token + sms + voice)
  enqueued: number; // rows in the outbox so far (large warnings are enqueued in batches)
  sent: number;
  dead: number; // given up after the last attempt
  waiting: number; // queued, sending, or failed and due for another attempt
  share: number; // sent / the larger of planned and enqueued, 0..1
  done: boolean; // every message sent or given up, and the fan-out finished
}

const WAITING = new Set(["queued", "sending", "failed"]);

export function deliveryProgress(report: Schemas["DeliveryReport"]): Progress {
  const planned = Object.values(report.messages).reduce((a, b) => a + b, 0);
  let enqueued = 0;
  let sent = 0;
  let dead = 0;
  let waiting = 0;
  for (const statuses of Object.values(report.channels)) {
    for (const [status, count] of Object.entries(statuses)) {
      enqueued += count;
      if (status === "sent") sent += count;
      else if (status === "dead") dead += count;
      else if (WAITING.has(status)) waiting += count;
    }
  }
  const total = Math.max(planned, enqueued);
  const fannedOut = report.fanout === null ? enqueued >= planned : report.fanout.finished_at !== null;
  return {
    planned,
    enqueued,
    sent,
    dead,
    waiting,
    share: total ? sent / total : 0,
    done: fannedOut && waiting === 0 && enqueued >= planned && total > 0,
  };
}
