// Pieces every page uses: errors in words, the session hook, number formats.

import { useEffect, useState } from "preact/hooks";

import { ApiError, session } from "./client";

/** useSession re-renders the caller when the key or the need for one changes. */
export function useSession(): typeof session {
  const [, setTick] = useState(0);
  useEffect(() => session.subscribe(() => setTick((t) => t + 1)), []);
  return session;
}

/** ErrorBox says what went wrong, in words; nothing when there is no error. */
export function ErrorBox({ error }: { error: unknown }) {
  if (error === undefined || error === null) return null;
  let text: string;
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
