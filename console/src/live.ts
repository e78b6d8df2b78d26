// One server-sent-events stream for the whole console: views subscribe to event types and
// refetch what changed. EventSource resends Last-Event-ID itself when it reconnects, so the
// server replays what was missed; no view polls.
import { signal } from "@preact/signals";
import type { Schemas } from "./api/client";

export const STREAM_URL = "/api/v1/events/stream";

export interface LiveEvent {
  id: number;
  type: string;
  at?: string;
  [field: string]: unknown;
}

type Handler = (event: LiveEvent) => void;

/** Every event type the server sends: the `type` of the OpenAPI document's StreamEventData
 * union (canhbao/stream_catalogue.py owns it). A listener per name is how EventSource delivers
 * named events; the record below is checked both ways by `tsc` (a type missing here, or one the
 * server no longer sends, breaks the build), so the list has one owner. */
export type EventType = Schemas["StreamEventData"]["type"];

const ALL_TYPES: Record<EventType, true> = {
  "station.band": true,
  "source.health": true,
  "camera.flagged": true,
  "alert.drafted": true,
  "alert.edited": true,
  "alert.submitted": true,
  "alert.approved": true,
  "alert.rejected": true,
  "alert.withdrawn": true,
  "alert.issued": true,
  "alert.updated": true,
  "alert.cancelled": true,
  "alert.superseded": true,
  "alert.expired": true,
  "delivery.progress": true,
  "rescue.created": true,
  "rescue.updated": true,
  "rescue.state": true,
  "rescue.priority": true,
  "rescue.claim": true,
  "rescue.escalated": true,
  "rescue.offer": true,
  "operator.changed": true,
  "callback.opened": true,
  "callback.closed": true,
  "callback.exhausted": true,
  "call.menu": true,
  "call.queued": true,
  "call.left": true,
  "stream.reset": true,
};

export const EVENT_TYPES = Object.keys(ALL_TYPES) as EventType[];

// The server could not replay what this console missed: every view reloads.
const RESET: EventType = "stream.reset";

export const connected = signal(false);

const handlers = new Set<{ prefixes: string[]; handler: Handler }>();
let source: EventSource | null = null;
let lastId = 0;
let retry: ReturnType<typeof setTimeout> | null = null;
const REOPEN_MS = 3000;

/** The stream's URL: after a stream the browser gave up on (an HTTP error, not a dropped
 * connection, which EventSource resumes itself with Last-Event-ID), resume from the last id. */
export function streamUrl(after: number): string {
  return after > 0 ? `${STREAM_URL}?last_event_id=${after}` : STREAM_URL;
}

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
  if (event.id > lastId) lastId = event.id;
  for (const entry of handlers) {
    if (event.type === RESET || matches(event.type, entry.prefixes)) entry.handler(event);
  }
}

export function startLive(): void {
  if (source || typeof EventSource === "undefined") return;
  const opened = new EventSource(streamUrl(lastId), { withCredentials: true });
  source = opened;
  opened.onopen = () => {
    connected.value = true;
  };
  opened.onerror = () => {
    connected.value = false;
    // CONNECTING: the browser retries by itself. CLOSED: it gave up (a 5xx, a restart that
    // answered 503): open a new stream a little later, from the last id seen.
    if (opened.readyState === EventSource.CLOSED && source === opened) {
      source = null;
      retry = setTimeout(() => {
        retry = null;
        startLive();
      }, REOPEN_MS);
    }
  };
  opened.onmessage = (m) => dispatch("message", m);
  for (const name of EVENT_TYPES) opened.addEventListener(name, (m) => dispatch(name, m));
}

export function stopLive(): void {
  if (retry) clearTimeout(retry);
  retry = null;
  source?.close();
  source = null;
  lastId = 0; // the next user starts from now: events are filtered by who is asking
  connected.value = false;
}

/** Call `handler` for each event whose type matches; returns the unsubscribe function. */
export function subscribe(prefixes: string[], handler: Handler): () => void {
  const entry = { prefixes, handler };
  handlers.add(entry);
  return () => handlers.delete(entry);
}
