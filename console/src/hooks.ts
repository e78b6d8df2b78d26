// Loading data, and reloading it when the live stream says it changed.
import { useCallback, useEffect, useRef, useState } from "preact/hooks";
import { subscribe } from "./live";

export interface Loaded<T> {
  data: T | null;
  error: string | null;
  reload: () => void;
}

/** Run `load` now and whenever `deps` change, or an event of `live` prefixes arrives. A burst
 * of events makes at most one load in flight and one after it, never one per event. */
export function useLoad<T>(load: () => Promise<T>, deps: unknown[], live: string[] = []): Loaded<T> {
  const [data, setData] = useState<T | null>(null);
  const [error, setError] = useState<string | null>(null);
  const generation = useRef(0);
  const inFlight = useRef(false);
  const again = useRef(false);
  const run = useCallback(() => {
    if (inFlight.current) {
      again.current = true;
      return;
    }
    inFlight.current = true;
    const mine = ++generation.current;
    const settle = () => {
      if (mine !== generation.current) return; // a newer load owns the flags
      inFlight.current = false;
      if (again.current) {
        again.current = false;
        run();
      }
    };
    load().then(
      (value) => {
        if (mine === generation.current) {
          setData(value);
          setError(null);
        }
        settle();
      },
      (err: unknown) => {
        if (mine === generation.current) setError(err instanceof Error ? err.message : String(err));
        settle();
      },
    );
  }, deps);
  useEffect(() => {
    // New deps: whatever is in flight is for the old ones; start afresh.
    inFlight.current = false;
    again.current = false;
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
