// Batch: upload a CSV, follow the jobs, download a job's predictions.

import { useEffect, useState } from "preact/hooks";

import type { components } from "../api";
import { api, must } from "../client";
import { ErrorBox, pct, when } from "../ui";

type Job = components["schemas"]["BatchJob"];
type StoredPrediction = components["schemas"]["StoredPrediction"];

/** How often to refresh the jobs while one is unfinished. */
const pollMillis = 1000;

export function BatchPage(_: { onServingChange: () => void }) {
  const [jobs, setJobs] = useState<Job[]>();
  const [error, setError] = useState<unknown>();
  const [notice, setNotice] = useState("");
  const [file, setFile] = useState<File>();
  const [busy, setBusy] = useState(false);
  const [reload, setReload] = useState(0);

  useEffect(() => {
    let timer: ReturnType<typeof setTimeout> | undefined;
    let stopped = false;
    const load = async () => {
      try {
        const r = await must(api.GET("/batch-jobs", { params: { query: { limit: 50 } } }));
        if (stopped) return;
        setJobs(r.data.jobs);
        if (r.data.jobs.some((j) => j.status === "queued" || j.status === "running")) timer = setTimeout(() => void load(), pollMillis);
      } catch (err) {
        if (!stopped) setError(err);
      }
    };
    void load();
    return () => {
      stopped = true;
      clearTimeout(timer);
    };
  }, [reload]);

  async function start(e: Event): Promise<void> {
    e.preventDefault();
    if (!file) {
      setError(new Error("Choose a CSV file first."));
      return;
    }
    setBusy(true);
    setError(undefined);
    setNotice("");
    try {
      const csv = await file.text();
      const r = await must(api.POST("/batch-jobs", {
        body: csv as never,
        bodySerializer: (b: unknown) => b as BodyInit,
        headers: { "Content-Type": "text/csv" },
      }));
      setNotice(`Job ${r.data.id} was queued: ${r.data.total} items for version ${r.data.version}.`);
      setReload((n) => n + 1);
    } catch (err) {
      setError(err);
    } finally {
      setBusy(false);
    }
  }

  async function remove(job: Job): Promise<void> {
    setError(undefined);
    try {
      await must(api.DELETE("/batch-jobs/{job-id}", { params: { path: { "job-id": job.id } } }));
      setNotice(`Job ${job.id} was deleted.`);
      setReload((n) => n + 1);
    } catch (err) {
      setError(err);
    }
  }

  return (
    <div class="batch">
      <p class="lead">Tag many projects in the background. The CSV needs a header row: <code>id,text</code>, or the Made With ML columns <code>id,created_on,title,description,tag</code>.</p>
      <form class="card" onSubmit={(e) => void start(e)}>
        <label for="batch-file">CSV file</label>
        <input id="batch-file" type="file" accept=".csv,text/csv" onChange={(e) => setFile(e.currentTarget.files?.[0])} />
        <div><button type="submit" disabled={busy}>Start the job</button></div>
      </form>
      <ErrorBox error={error} />
      {notice !== "" && <p class="notice" role="status">{notice}</p>}
      {jobs && jobs.length === 0 && <p class="hint">No jobs yet.</p>}
      {jobs && jobs.length > 0 && (
        <table class="numbers jobs" data-testid="jobs">
          <caption>Jobs, newest first</caption>
          <thead><tr><th scope="col">job</th><th scope="col">status</th><th scope="col">progress</th><th scope="col">items</th><th scope="col">version</th><th scope="col">created</th><th scope="col">actions</th></tr></thead>
          <tbody>
            {jobs.map((j) => (
              <tr key={j.id} data-job={j.id} data-status={j.status}>
                <th scope="row"><code>{j.id}</code></th>
                <td>{j.status}{j.error ? `: ${j.error}` : ""}</td>
                <td>
                  <progress id={`progress-${j.id}`} max={1} value={j.progress} aria-label={`Progress of job ${j.id}`} />{" "}
                  <span>{pct(j.progress)}</span>
                </td>
                <td>{j.done} of {j.total}{j.failed > 0 ? `, ${j.failed} failed` : ""}</td>
                <td>{j.version}</td>
                <td>{when(j.created_at)}</td>
                <td class="actions">
                  <Download job={j} onError={setError} />
                  <button type="button" class="secondary" onClick={() => void remove(j)} aria-label={`Delete job ${j.id}`}>Delete</button>
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </div>
  );
}

/** csvField quotes a CSV field when it needs it (RFC 4180). */
function csvField(s: string): string {
  return /[",\r\n]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
}

/** toCSV writes predictions as CSV: id, tag, version and each class's probability. */
export function toCSV(preds: StoredPrediction[]): string {
  const classes = [...new Set(preds.flatMap((p) => Object.keys(p.predicted_probabilities)))].sort();
  const lines = [["item_id", "predicted_tag", "model", "version", ...classes].map(csvField).join(",")];
  for (const p of preds) {
    lines.push([p.item_id, p.predicted_tag, p.model, String(p.version), ...classes.map((c) => String(p.predicted_probabilities[c] ?? ""))].map(csvField).join(","));
  }
  return lines.join("\r\n") + "\r\n";
}

/** Download pages through a job's stored predictions and saves them as a CSV file. */
function Download({ job, onError }: { job: Job; onError: (err: unknown) => void }) {
  const [busy, setBusy] = useState(false);
  async function download(): Promise<void> {
    setBusy(true);
    try {
      const all: StoredPrediction[] = [];
      let cursor: string | undefined;
      do {
        const r = await must(api.GET("/batch-jobs/{job-id}/predictions", {
          params: { path: { "job-id": job.id }, query: { limit: 1000, ...(cursor ? { cursor } : {}) } },
        }));
        all.push(...r.data.predictions);
        cursor = r.data.next_cursor;
      } while (cursor);
      const url = URL.createObjectURL(new Blob([toCSV(all)], { type: "text/csv" }));
      const a = document.createElement("a");
      a.href = url;
      a.download = `predictions-${job.id}.csv`;
      document.body.append(a);
      a.click();
      a.remove();
      setTimeout(() => URL.revokeObjectURL(url), 10_000);
    } catch (err) {
      onError(err);
    } finally {
      setBusy(false);
    }
  }
  return (
    <button type="button" disabled={busy || job.done === 0} onClick={() => void download()} aria-label={`Download CSV of the predictions of job ${job.id}`}>
      {busy ? "Downloading…" : "Download CSV"}
    </button>
  );
}
