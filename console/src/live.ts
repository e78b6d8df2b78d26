// One server-sent-events stream for the whole console: views subscribe to event types and
// refetch what changed. EventSource resends Last-Event-ID itself when it reconnects, so the
// server replays what was missed; no view polls.
import { signal } from "@preact/signals";

export const STREAM_URL = "/api/v1/events/stream";

export interface LiveEvent {
  id: number;
  type: string;
  at?: string;
  [field: string]: unknown;
}

type Handler = (event: LiveEvent) => void;

// Every type the server sends (canhbao/stream_catalogue.py); a listener per name is how
// EventSource delivers named events.
export const EVENT_TYPES = [
  "station.band",
  "source.health",
  "camera.flagged",
  "alert.drafted",
  "alert.edited",
  "alert.submitted",
  "alert.approved",
  "alert.rejected",
  "alert.withdrawn",
  "alert.issued",
  "alert.updated",
  "alert.cancelled",
  "alert.superseded",
  "alert.expired",
  "delivery.progress",
  "rescue.created",
  "rescue.updated",
  "rescue.state",
  "rescue.priority",
  "rescue.claim",
  "rescue.escalated",
  "rescue.offer",
  "operator.changed",
  "callback.opened",
  "callback.closed",
  "call.menu",
  "call.queued",
  "call.left",
] as const;

export const connected = signal(false);

const handlers = new Set<{ prefixes: string[]; handler: Handler }>();
let source: EventSource | null = null;

/** Parse one frame's data; a frame that is not our JSON is dropped, never thrown. */
export function parseFrame(name: string, lastEventId: string, data: string): LiveEvent | null {
  try {
    const body = JSON.parse(data) as Record<string, unknown>;
    if (typeof body !== "object" || body === null) return null;
    const type = typeof body.type === "string" ? body.type : name;
    return { ...body, id: Number(lastEventId) || 0, type };
  } catch {
    return null;
  }
}

/** Does `type` ("call.queued") match one of `prefixes` ("call", "call.queued", "*")? */
export function matches(type: string, prefixes: string[]): boolean {
  return prefixes.some((p) => p === "*" || p === type || type.startsWith(`${p}.`));
}

function dispatch(name: string, message: MessageEvent<string>): void {
  const event = parseFrame(name, message.lastEventId, message.data);
  if (!event) return;
  for (const entry of handlers) if (matches(event.type, entry.prefixes)) entry.handler(event);
}

export function startLive(): void {
  if (source || typeof EventSource === "undefined") return;
  source = new EventSource(STREAM_URL, { withCredentials: true });
  source.onopen = () => {
    connected.value = true;
  };
  source.onerror = () => {
    connected.value = false;
  };
  source.onmessage = (m) => dispatch("message", m);
  for (const name of EVENT_TYPES) source.addEventListener(name, (m) => dispatch(name, m));
}

export function stopLive(): void {
  source?.close();
  source = null;
  connected.value = false;
}

/** Call `handler` for each event whose type matches; returns the unsubscribe function. */
export function subscribe(prefixes: string[], handler: Handler): () => void {
  const entry = { prefixes, handler };
  handlers.add(entry);
  return () => handlers.delete(entry);
}
