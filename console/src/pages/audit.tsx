// The Registry's audit trail: every management action, newest first, a page
// at a time, filtered by resource and by user. Reading it needs the admin
// role; with another key the section says so in place.

import { useEffect, useState } from "preact/hooks";

import type { components } from "../api";
import { api, ApiError, must } from "../client";
import { ErrorBox, when } from "../ui";

type AuditEvent = components["schemas"]["AuditEvent"];

/** What each action means, for a person. */
const actionWords: Record<string, string> = {
  "version.upload": "uploaded a version",
  "version.delete": "deleted a version",
  "serving.deploy": "deployed a version",
  "serving.rollback": "rolled back",
  "rollout.start": "started a rollout",
  "rollout.change": "changed a rollout",
  "rollout.abort": "aborted a rollout",
  "rollout.guard_abort": "the guard aborted a rollout",
  "rollout.promote": "promoted a rollout's candidate",
  "user.create": "created a user",
  "user.revoke": "revoked a user",
  "batch_job.create": "created a batch job",
  "batch_job.cancel": "cancelled a batch job",
};

const pageSizes = [10, 25, 100];

interface Filter {
  resource: string;
  user: string;
  limit: number;
}

/** AuditTrail lists the audit events; `reload` changes after each action of the page. */
export function AuditTrail({ reload }: { reload: number }) {
  const [filter, setFilter] = useState<Filter>({ resource: "", user: "", limit: pageSizes[1] ?? 25 });
  const [draft, setDraft] = useState({ resource: "", user: "" });
  // The cursors of the pages before this one, and this one's ("" for the newest).
  const [cursors, setCursors] = useState<string[]>([""]);
  // The events on show and the filter they were read with: the caption speaks
  // of what is shown, not of a filter whose answer has not come yet.
  const [shown, setShown] = useState<{ events: AuditEvent[]; filter: Filter }>();
  const events = shown?.events;
  const [next, setNext] = useState<string>();
  const [error, setError] = useState<unknown>();
  const [forbidden, setForbidden] = useState(false);
  const cursor = cursors[cursors.length - 1] ?? "";

  useEffect(() => {
    const query = {
      limit: filter.limit,
      ...(filter.resource !== "" ? { resource: filter.resource } : {}),
      ...(filter.user !== "" ? { user: filter.user } : {}),
      ...(cursor !== "" ? { cursor } : {}),
    };
    // An answer that comes after the filter changed again is dropped.
    let current = true;
    must(api.GET("/audit-events", { params: { query } }), { prompt: false })
      .then((r) => {
        if (!current) return;
        setShown({ events: r.data.events, filter });
        setNext(r.data.next_cursor);
        setError(undefined);
        setForbidden(false);
      })
      .catch((err: unknown) => {
        if (!current) return;
        if (err instanceof ApiError && (err.status === 401 || err.status === 403)) setForbidden(true);
        else setError(err);
      });
    return () => { current = false; };
  }, [filter, cursor, reload]);

  const first = cursors.length === 1;
  return (
    <section class="card audit" aria-labelledby="audit-title" data-testid="audit">
      <h2 id="audit-title">Audit trail</h2>
      {forbidden ? (
        <p class="hint" data-testid="audit-forbidden">The audit trail needs a key with the admin role.</p>
      ) : (
        <>
          <form
            class="pickers"
            onSubmit={(e) => {
              e.preventDefault();
              setFilter({ ...filter, resource: draft.resource.trim(), user: draft.user.trim() });
              setCursors([""]);
            }}
          >
            <label for="audit-resource">Resource</label>
            <input id="audit-resource" list="audit-resources" placeholder="everything" value={draft.resource} onInput={(e) => setDraft({ ...draft, resource: e.currentTarget.value })} />
            <datalist id="audit-resources">
              <option value="models/tagifai" />
              <option value="models/tagifai/rollout" />
              <option value="users" />
              <option value="batch-jobs" />
            </datalist>
            <label for="audit-user">User</label>
            <input id="audit-user" placeholder="anyone" value={draft.user} onInput={(e) => setDraft({ ...draft, user: e.currentTarget.value })} />
            <label for="audit-limit">Per page</label>
            <select id="audit-limit" value={String(filter.limit)} onChange={(e) => { setFilter({ ...filter, limit: Number(e.currentTarget.value) }); setCursors([""]); }}>
              {pageSizes.map((n) => <option key={n} value={String(n)}>{n}</option>)}
            </select>
            <button type="submit">Filter</button>
          </form>
          <ErrorBox error={error} />
          {events && events.length === 0 && <p class="hint" data-testid="audit-empty">No events{shown?.filter.resource || shown?.filter.user ? " match the filter" : ""}.</p>}
          {events && events.length > 0 && (
            <table class="numbers" data-testid="audit-events">
              <caption>Management actions, newest first{shown?.filter.resource ? ` on ${shown.filter.resource}` : ""}{shown?.filter.user ? ` by ${shown.filter.user}` : ""}</caption>
              <thead><tr><th scope="col">when</th><th scope="col">who</th><th scope="col">what</th><th scope="col">resource</th><th scope="col">from</th><th scope="col">to</th><th scope="col">request</th></tr></thead>
              <tbody>
                {events.map((ev) => (
                  <tr key={ev.id} data-event={ev.id} data-action={ev.action}>
                    <td>{when(ev.at)}</td>
                    <td>{ev.user}</td>
                    <th scope="row">{actionWords[ev.action] ?? ev.action} <code class="hint">{ev.action}</code></th>
                    <td><code>{ev.resource}</code></td>
                    <td>{ev.from || "—"}</td>
                    <td>{ev.to || "—"}</td>
                    <td><code>{ev.request_id || "—"}</code></td>
                  </tr>
                ))}
              </tbody>
            </table>
          )}
          <div class="actions">
            <button type="button" class="secondary" disabled={first} onClick={() => setCursors([""])}>Newest</button>
            <button type="button" class="secondary" disabled={first} onClick={() => setCursors(cursors.slice(0, -1))}>Newer</button>
            <button type="button" class="secondary" disabled={next === undefined} onClick={() => next !== undefined && setCursors([...cursors, next])}>Older</button>
            <span class="hint" data-testid="audit-page">Page {cursors.length}</span>
          </div>
        </>
      )}
    </section>
  );
}
