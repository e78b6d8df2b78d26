// The typed API client: paths and bodies come from schema.d.ts, generated from
// /api/v1/openapi.json at build time, so a changed route breaks `tsc` and the build.
import createClient, { type Middleware } from "openapi-fetch";
import { signal } from "@preact/signals";
import type { components, paths } from "./schema";

export type Schemas = components["schemas"];
export type SessionView = Schemas["SessionView"];

/** The logged-in session (null: the login page). Its CSRF token goes with every write. */
export const session = signal<SessionView | null>(null);
/** Set when the server said the session is over: the login page says so and returns here. */
export const expired = signal<boolean>(false);

const UNSAFE = new Set(["POST", "PUT", "PATCH", "DELETE"]);

/** An answer that is not a 2xx, with the API's own message (never swallowed). */
export class ApiProblem extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

const csrf: Middleware = {
  onRequest({ request }) {
    const token = session.value?.csrf_token;
    if (token && UNSAFE.has(request.method)) request.headers.set("X-CSRF-Token", token);
    return request;
  },
  onResponse({ response, request }) {
    // A 401 on anything but the login itself: the session ended (expiry, logout elsewhere).
    if (response.status === 401 && !request.url.endsWith("/api/v1/auth/login") && session.value) {
      session.value = null;
      expired.value = true;
    }
    return response;
  },
};

export const api = createClient<paths>({ baseUrl: location.origin, credentials: "same-origin" });
api.use(csrf);

type Result<T> = { data?: T; error?: unknown; response: Response };

/** The answer's body, or an ApiProblem carrying the API's error code and message. */
export async function unwrap<T>(pending: Promise<Result<T>>): Promise<T> {
  const { data, error, response } = await pending;
  if (response.ok && data !== undefined) return data;
  throw problemOf(response, error);
}

export function problemOf(response: Response, error: unknown): ApiProblem {
  const body = (error ?? {}) as { error?: { code?: string; message?: string } };
  const code = body.error?.code ?? `http_${response.status}`;
  const message = body.error?.message ?? `${response.status} ${response.statusText}`;
  return new ApiProblem(response.status, code, message);
}

/** A raw GET for what is not JSON (the CAP XML): its text, or the API's error. */
export async function getText(url: string): Promise<string> {
  const response = await fetch(url, { credentials: "same-origin" });
  if (!response.ok) {
    let error: unknown = undefined;
    try {
      error = await response.json();
    } catch {
      // not JSON: the status line says it
    }
    throw problemOf(response, error);
  }
  return response.text();
}

export function hasRole(...roles: string[]): boolean {
  const mine = session.value?.roles ?? [];
  return mine.includes("admin") || roles.some((r) => mine.includes(r));
}
