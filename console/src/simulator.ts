// The Local-mode simulators (the "sse" helper's routes, issue 14). Their answers are read
// loosely until those routes are in the OpenAPI document the typed client is generated from.
import { problemOf, session } from "./api/client";

export interface SimDevice {
  device_id: string;
  language?: string;
  platform?: string;
  [field: string]: unknown;
}

export interface SimNotification {
  id: number;
  title: string;
  body: string;
  language: string;
  arrived_at: string;
  identifier?: string | null;
  via?: string;
  [field: string]: unknown;
}

export interface SimCall {
  call_sid: string;
  prompts: string[];
  expects?: string;
  status?: string;
  queue_position?: number | null;
  wait_s?: number | null;
  [field: string]: unknown;
}

async function json<T>(method: string, url: string, body?: unknown): Promise<T> {
  const headers: Record<string, string> = {};
  if (body !== undefined) headers["Content-Type"] = "application/json";
  const token = session.value?.csrf_token;
  if (token && method !== "GET") headers["X-CSRF-Token"] = token;
  const response = await fetch(url, {
    method,
    headers,
    credentials: "same-origin",
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  let parsed: unknown = undefined;
  try {
    parsed = await response.json();
  } catch {
    // an empty or non-JSON answer
  }
  if (!response.ok) throw problemOf(response, parsed);
  return parsed as T;
}

const BASE = "/api/v1/simulator";

export function listDevices(): Promise<SimDevice[]> {
  return json<{ devices?: SimDevice[] }>("GET", `${BASE}/devices`).then((r) => r.devices ?? []);
}

export function deviceNotifications(id: string): Promise<SimNotification[]> {
  return json<{ notifications?: SimNotification[] }>(
    "GET",
    `${BASE}/devices/${encodeURIComponent(id)}/notifications`,
  ).then((r) => r.notifications ?? []);
}

export function placeCall(from: string): Promise<SimCall> {
  return json<SimCall>("POST", `${BASE}/calls`, { from });
}

export function sendDigits(sid: string, digits: string): Promise<SimCall> {
  return json<SimCall>("POST", `${BASE}/calls/${encodeURIComponent(sid)}/digits`, { digits });
}

export function hangUp(sid: string): Promise<SimCall> {
  return json<SimCall>("POST", `${BASE}/calls/${encodeURIComponent(sid)}/hangup`, {});
}

export function sendSms(from: string, body: string): Promise<{ replies: string[] }> {
  return json("POST", `${BASE}/sms`, { from, body });
}
