// Pieces every page uses: errors in words, the session hook, number formats.

import { useEffect, useState } from "preact/hooks";

import { ApiError, session } from "./client";

/** useSession re-renders the caller when the key or the need for one changes. */
export function useSession(): typeof session {
  const [, setTick] = useState(0);
  useEffect(() => session.subscribe(() => setTick((t) => t + 1)), []);
  return session;
}

/**
 * ErrorBox says what went wrong, in words; nothing when there is no error.
 * A 412 (the model changed since the page read it) says so, with a button to
 * reload when `onReload` is given.
 */
export function ErrorBox({ error, onReload }: { error: unknown; onReload?: () => void }) {
  if (error === undefined || error === null) return null;
  let text: string;
  if (error instanceof ApiError && error.status === 412) {
    return (
      <div class="error" role="alert" data-testid="stale">
        <strong>Someone else changed this model since this page read it; reload to see it as it is now, then try again.</strong>{" "}
        Nothing was changed.
        {onReload && <> <button type="button" class="secondary" onClick={onReload}>Reload</button></>}
      </div>
    );
  }
  if (error instanceof ApiError) {
    text = error.problems.length > 0 ? "" : error.message;
    return (
      <div class="error" role="alert">
        <strong>{error.status === 0 ? "No answer" : `The server refused (${error.status})`}:</strong>{" "}
        {text}
        {error.problems.length > 0 && (
          <ul>
            {error.problems.map((p, i) => (
              <li key={i}>
                {p.message}
                {p.location.length > 0 && <span class="where"> — at {p.location.join(" › ")}</span>}
              </li>
            ))}
          </ul>
        )}
      </div>
    );
  }
  text = error instanceof Error ? error.message : String(error);
  return <div class="error" role="alert">{text}</div>;
}

/** pct formats a fraction as a percentage with one decimal. */
export function pct(x: number): string {
  return `${(x * 100).toFixed(1)}%`;
}

/** num3 formats a metric with three decimals. */
export function num3(x: number): string {
  return x.toFixed(3);
}

/** when formats an RFC 3339 time in the browser's locale. */
export function when(t: string | undefined): string {
  if (!t) return "";
  const d = new Date(t);
  return Number.isNaN(d.getTime()) ? t : d.toLocaleString();
}

/** bytes formats a size in KB or MB. */
export function bytes(n: number): string {
  return n >= 1 << 20 ? `${(n / (1 << 20)).toFixed(1)} MB` : `${(n / 1024).toFixed(1)} KB`;
}

/** ms formats a duration in milliseconds, with µs precision below 1 ms. */
export function ms(x: number): string {
  return x < 1 ? `${(x * 1000).toFixed(0)} µs` : `${x.toFixed(2)} ms`;
}

/** clock formats an RFC 3339 time as the browser's local time of day. */
export function clock(t: Date): string {
  return t.toLocaleTimeString();
}

/**
 * useEvery calls fn now and then every `seconds` while `on`, and again
 * whenever `deps` change; it stops when the page goes away.
 */
export function useEvery(fn: () => void, seconds: number, on: boolean, deps: unknown[]): void {
  useEffect(() => {
    fn();
    if (!on) return undefined;
    const id = setInterval(fn, seconds * 1000);
    return () => clearInterval(id);
  }, [on, ...deps]);
}
