// Loading data, and reloading it when the live stream says it changed.
import { useCallback, useEffect, useRef, useState } from "preact/hooks";
import { subscribe } from "./live";

export interface Loaded<T> {
  data: T | null;
  error: string | null;
  reload: () => void;
}

/** Run `load` now and whenever `deps` change, or an event of `live` prefixes arrives. */
export function useLoad<T>(load: () => Promise<T>, deps: unknown[], live: string[] = []): Loaded<T> {
  const [data, setData] = useState<T | null>(null);
  const [error, setError] = useState<string | null>(null);
  const generation = useRef(0);
  const run = useCallback(() => {
    const mine = ++generation.current;
    load().then(
      (value) => {
        if (mine !== generation.current) return;
        setData(value);
        setError(null);
      },
      (err: unknown) => {
        if (mine !== generation.current) return;
        setError(err instanceof Error ? err.message : String(err));
      },
    );
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, deps);
  useEffect(() => {
    run();
  }, [run]);
  useEffect(() => (live.length ? subscribe(live, () => run()) : undefined), [run, live.join(",")]);
  return { data, error, reload: run };
}

/** The time now, moving every `everyMs` (for ages and waits shown on screen). */
export function useNow(everyMs = 1000): Date {
  const [now, setNow] = useState(() => new Date());
  useEffect(() => {
    const timer = setInterval(() => setNow(new Date()), everyMs);
    return () => clearInterval(timer);
  }, [everyMs]);
  return now;
}
