// Client routes under /console/: the server answers index.html for each of them.
import { signal } from "@preact/signals";

export const BASE = "/console";

function current(): string {
  const path = location.pathname.startsWith(BASE) ? location.pathname.slice(BASE.length) : "/";
  return path || "/";
}

export const route = signal<string>(current());

window.addEventListener("popstate", () => {
  route.value = current();
});

export function navigate(path: string, replace = false): void {
  const url = BASE + path;
  if (replace) history.replaceState(null, "", url);
  else history.pushState(null, "", url);
  route.value = current();
  window.scrollTo(0, 0);
}

/** Match "/warnings/:id" against a path; the named parts, or null. */
export function match(pattern: string, path: string): Record<string, string> | null {
  const want = pattern.split("/");
  const got = path.split("/");
  if (want.length !== got.length) return null;
  const found: Record<string, string> = {};
  for (let i = 0; i < want.length; i += 1) {
    const part = want[i] ?? "";
    const value = got[i] ?? "";
    if (part.startsWith(":")) {
      if (!value) return null;
      found[part.slice(1)] = decodeURIComponent(value);
    } else if (part !== value) return null;
  }
  return found;
}

/** Where the login page sends the user back to (only paths of ours, never another site). */
export function safeReturn(raw: string | null): string {
  if (!raw || !raw.startsWith("/") || raw.startsWith("//") || raw.startsWith("/login")) return "/";
  return raw;
}
