// The Registry's rollout: a candidate version tried beside the serving one,
// in shadow (it predicts a copy of the traffic) or canary (it answers a share
// of the callers) mode, with what was seen of it; for an admin, start,
// change, abort and promote it. Every change carries the model's revision
// (If-Match), so that it applies only to what the page showed.

import { useMemo, useState } from "preact/hooks";

import type { components } from "../api";
import { barChart, ChartCanvas, heatMap } from "../charts";
import { api, ApiError, ifMatch, modelName, mustTagged } from "../client";
import { ErrorBox, ms, num3, pct, useEvery, when } from "../ui";

type Rollout = components["schemas"]["Rollout"];
type RolloutRequest = components["schemas"]["RolloutRequest"];
type Guard = components["schemas"]["RolloutGuard"];
type RolloutSide = components["schemas"]["RolloutSide"];
type ShadowStats = components["schemas"]["ShadowStats"];
type VersionInfo = components["schemas"]["VersionInfo"];

const path = { "model-name": modelName };

/** How often the figures of a running rollout refresh, in seconds. */
const refreshSeconds = 3;

/** Act runs a change of the registry and says what it did, or shows why not. */
export type Act = (what: () => Promise<string>) => Promise<void>;

/** describe says what a rollout does, in a sentence. */
function describe(r: Rollout | RolloutRequest & { serving_version?: number }): string {
  const percent = r.percent ?? 100;
  return r.mode === "shadow"
    ? `version ${r.candidate} predicts a copy of ${percent}% of the requests beside the serving version${r.serving_version ? ` ${r.serving_version}` : ""}; only the serving version answers`
    : `version ${r.candidate} answers ${percent}% of the callers (always the same ones), the serving version${r.serving_version ? ` ${r.serving_version}` : ""} the others`;
}

/**
 * RolloutSection shows the model's rollout, running or last, and its
 * figures, refreshed while it runs; with an admin key it starts, changes,
 * aborts and promotes one. `etag` is the model's revision as the page read
 * it; `reload` changes when the page reloads.
 */
export function RolloutSection({ versions, etag, busy, act, reload, onEnded }: {
  versions: VersionInfo[];
  etag: string;
  busy: boolean;
  act: Act;
  reload: number;
  /** Called when the running rollout is seen to end by other hands (its guard, another admin). */
  onEnded: () => void;
}) {
  const [rollout, setRollout] = useState<Rollout | null>();
  const [error, setError] = useState<unknown>();
  const active = rollout?.status === "active";

  useEvery(() => {
    mustTagged(api.GET("/models/{model-name}/rollout", { params: { path } }))
      .then((r) => {
        if (active && r.data.data.status !== "active") onEnded();
        setRollout(r.data.data);
        setError(undefined);
      })
      .catch((err: unknown) => {
        // 404: the model never had a rollout.
        if (err instanceof ApiError && err.status === 404) setRollout(null);
        else setError(err);
      });
  }, refreshSeconds, active, [reload]);

  const serving = versions.find((v) => v.serving)?.version ?? 0;

  function start(req: RolloutRequest): Promise<void> {
    return act(async () => {
      const r = await mustTagged(api.PUT("/models/{model-name}/rollout", { params: { path, header: ifMatch(etag) }, body: req }));
      const changed = active && rollout?.candidate === req.candidate;
      return `${changed ? "Changed the rollout" : `Started a ${req.mode} rollout`}: ${describe(r.data.data)}.`;
    });
  }

  function abort(): Promise<void> {
    return act(async () => {
      const r = await mustTagged(api.DELETE("/models/{model-name}/rollout", { params: { path, header: ifMatch(etag) } }));
      return `Aborted the rollout of version ${r.data.data.candidate}: version ${r.data.data.serving_version} answers every request again.`;
    });
  }

  function promote(candidate: number): Promise<void> {
    return act(async () => {
      await mustTagged(api.PUT("/models/{model-name}/serving-version", { params: { path, header: ifMatch(etag) }, body: { version: candidate } }));
      return `Promoted version ${candidate}: it serves every request, and the rollout has ended.`;
    });
  }

  return (
    <section class="card rollout" aria-labelledby="rollout-title" data-testid="rollout">
      <h2 id="rollout-title">Rollout</h2>
      <p class="hint">
        Try a version on live traffic before it serves: in <strong>shadow</strong> mode it predicts a copy of the requests and only the serving version
        answers; in <strong>canary</strong> mode it answers a share of the callers. Figures are this server's. Starting, changing, aborting and promoting need
        the admin role.
      </p>
      <ErrorBox error={error} />
      {rollout === null && <p data-testid="no-rollout">This model has had no rollout yet.</p>}
      {rollout && (
        <>
          <p data-testid="rollout-status" data-status={rollout.status} data-mode={rollout.mode}>
            {rollout.status === "active" ? (
              <><strong class="badge">Running</strong> since {when(rollout.started_at)} (started by {rollout.started_by}): {rollout.mode} — {describe(rollout)}.</>
            ) : (
              <>
                <strong>The last rollout</strong> ({rollout.mode} of version {rollout.candidate}, started by {rollout.started_by} at {when(rollout.started_at)}) was{" "}
                <strong>{rollout.status}</strong>{rollout.ended_at ? ` at ${when(rollout.ended_at)}` : ""}{rollout.reason ? `: ${rollout.reason}` : ""}.
              </>
            )}
          </p>
          {rollout.guard?.min_agreement !== undefined && (
            <p class="meta" data-testid="guard">
              Guard: abort when the agreement falls below {pct(rollout.guard.min_agreement)} once {rollout.guard.min_samples ?? 100} prediction{(rollout.guard.min_samples ?? 100) === 1 ? " was" : "s were"} compared.
            </p>
          )}
          {rollout.guard?.min_live_f1 !== undefined && (
            <p class="meta" data-testid="guard">
              Guard: abort when the candidate's live F1 falls below {rollout.guard.min_live_f1.toFixed(2)} once {rollout.guard.min_labels ?? 50} label{(rollout.guard.min_labels ?? 50) === 1 ? " has" : "s have"} come back.
            </p>
          )}
          {rollout.status === "aborted" && rollout.reason?.startsWith("guard") && (
            <p class="alarm" role="alert" data-testid="guard-fired"><strong>The guard fired:</strong> {rollout.reason}</p>
          )}
          {active && (
            <div class="actions">
              <button type="button" disabled={busy} onClick={() => void promote(rollout.candidate)}>Promote version {rollout.candidate}</button>
              <button type="button" class="secondary" disabled={busy} onClick={() => void abort()}>Abort the rollout</button>
            </div>
          )}
          <Figures rollout={rollout} />
        </>
      )}
      {rollout !== undefined && (
        <RolloutForm key={`${rollout?.candidate ?? 0}-${rollout?.status ?? ""}`} versions={versions} serving={serving} current={active ? rollout ?? undefined : undefined} busy={busy} onSubmit={start} />
      )}
    </section>
  );
}

/** Figures shows what the server saw of a rollout. */
function Figures({ rollout }: { rollout: Rollout }) {
  const st = rollout.stats;
  if (!st) return <p class="hint" data-testid="no-figures">This server has seen no request since the rollout started.</p>;
  return (
    <div class="figures" data-testid="figures">
      <p class="meta">Seen by replica <code>{st.replica}</code> since {when(st.since)}.</p>
      {st.shadow && <ShadowFigures shadow={st.shadow} />}
      <SidesTable sides={[["serving", st.serving], ["candidate", st.candidate]]} />
      <div class="two">
        <TagsBySide serving={st.serving} candidate={st.candidate} />
        {st.shadow && <Confusion shadow={st.shadow} serving={st.serving.version} candidate={st.candidate.version} />}
      </div>
    </div>
  );
}

function ShadowFigures({ shadow }: { shadow: ShadowStats }) {
  return (
    <p class="big-figures" data-testid="agreement">
      <span><strong>{shadow.agreement_rate === undefined ? "—" : pct(shadow.agreement_rate)}</strong> agreement</span>
      <span>{shadow.agreed} of {shadow.compared} predictions compared gave the same tag</span>
      <span>{shadow.sampled} requests shadowed, {shadow.dropped} dropped because the candidate fell behind (queue of {shadow.queue_capacity})</span>
    </p>
  );
}

function SidesTable({ sides }: { sides: Array<[string, RolloutSide]> }) {
  return (
    <table class="numbers" data-testid="sides">
      <caption>Each side of the rollout (latency is the model's time per request, not the HTTP round trip)</caption>
      <thead>
        <tr><th scope="col">side</th><th scope="col">version</th><th scope="col">requests</th><th scope="col">predictions</th><th scope="col">latency mean</th><th scope="col">p50</th><th scope="col">p95</th><th scope="col">p99</th><th scope="col">live F1</th></tr>
      </thead>
      <tbody>
        {sides.map(([name, s]) => (
          <tr key={name} data-side={name}>
            <th scope="row">{name}</th>
            <td>{s.version}</td>
            <td data-testid="requests">{s.requests}</td>
            <td>{s.predictions}</td>
            <td>{ms(s.latency.mean_ms)}</td>
            <td>{ms(s.latency.p50_ms)}</td>
            <td>{ms(s.latency.p95_ms)}</td>
            <td>{ms(s.latency.p99_ms)}</td>
            <td>{s.live_f1 === undefined ? "no feedback yet" : num3(s.live_f1)}</td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}

function shares(tags: Record<string, number>, labels: string[]): number[] {
  const total = labels.reduce((a, t) => a + (tags[t] ?? 0), 0);
  return labels.map((t) => (total > 0 ? (tags[t] ?? 0) / total : 0));
}

function TagsBySide({ serving, candidate }: { serving: RolloutSide; candidate: RolloutSide }) {
  const labels = [...new Set([...Object.keys(serving.tags), ...Object.keys(candidate.tags)])].sort();
  const series = [
    { label: `serving, version ${serving.version}`, values: shares(serving.tags, labels) },
    { label: `candidate, version ${candidate.version}`, values: shares(candidate.tags, labels) },
  ];
  const config = useMemo(() => barChart(labels, series, { max: 1 }), [JSON.stringify(series)]);
  return (
    <div>
      <h3>Tags given by each version</h3>
      {labels.length === 0 ? (
        <p class="hint">No predictions yet.</p>
      ) : (
        <>
          <ChartCanvas config={config} label={`Share of each tag given by version ${serving.version} and by version ${candidate.version}`} />
          <table class="numbers">
            <caption class="sr-only">Tags given by each version</caption>
            <thead><tr><th scope="col">tag</th><th scope="col">version {serving.version}</th><th scope="col">version {candidate.version}</th></tr></thead>
            <tbody>{labels.map((t) => <tr key={t}><th scope="row">{t}</th><td>{serving.tags[t] ?? 0}</td><td>{candidate.tags[t] ?? 0}</td></tr>)}</tbody>
          </table>
        </>
      )}
    </div>
  );
}

function Confusion({ shadow, serving, candidate }: { shadow: ShadowStats; serving: number; candidate: number }) {
  const { labels, matrix } = shadow.confusion;
  const config = useMemo(
    () => heatMap(labels, matrix, { rows: `version ${serving}`, columns: `version ${candidate}`, counts: "Texts" }),
    [JSON.stringify(shadow.confusion)],
  );
  return (
    <div>
      <h3>Where the versions disagree</h3>
      {shadow.compared === 0 ? (
        <p class="hint">No predictions compared yet.</p>
      ) : (
        <>
          <ChartCanvas config={config} label={`Tags of version ${serving} (rows) against version ${candidate} (columns) on the same texts`} height={260} />
          <table class="numbers confusion" data-testid="shadow-confusion">
            <caption>Texts by the serving version's tag (rows) and the candidate's (columns)</caption>
            <thead><tr><th scope="col">v{serving} \ v{candidate}</th>{labels.map((l) => <th scope="col" key={l}>{l}</th>)}</tr></thead>
            <tbody>
              {matrix.map((row, i) => (
                <tr key={i}><th scope="row">{labels[i]}</th>{row.map((v, j) => <td key={j} class={i === j ? "diag" : undefined}>{v}</td>)}</tr>
              ))}
            </tbody>
          </table>
        </>
      )}
    </div>
  );
}

/** RolloutForm starts a rollout, or changes the running one (`current`). */
function RolloutForm({ versions, serving, current, busy, onSubmit }: {
  versions: VersionInfo[];
  serving: number;
  current: Rollout | undefined;
  busy: boolean;
  onSubmit: (req: RolloutRequest) => Promise<void>;
}) {
  const candidates = versions.filter((v) => v.version !== serving);
  const [candidate, setCandidate] = useState(String(current?.candidate ?? candidates[candidates.length - 1]?.version ?? ""));
  const [mode, setMode] = useState<RolloutRequest["mode"]>(current?.mode ?? "shadow");
  const [percent, setPercent] = useState(String(current?.percent ?? 100));
  const [guarded, setGuarded] = useState(current?.guard !== undefined);
  const [minAgreement, setMinAgreement] = useState(String(current?.guard?.min_agreement !== undefined ? current.guard.min_agreement * 100 : 90));
  const [minSamples, setMinSamples] = useState(String(current?.guard?.min_samples ?? 100));
  const [minLiveF1, setMinLiveF1] = useState(String(current?.guard?.min_live_f1 ?? 0.8));
  const [minLabels, setMinLabels] = useState(String(current?.guard?.min_labels ?? 50));
  const [problem, setProblem] = useState("");

  if (candidates.length === 0) {
    return <p class="hint">Upload another version to try it beside the serving one.</p>;
  }
  const title = current ? `Change the rollout of version ${current.candidate}` : "Start a rollout";
  return (
    <form
      class="rollout-form"
      aria-labelledby="rollout-form-title"
      onSubmit={(e) => {
        e.preventDefault();
        const c = Number(candidate);
        const p = Number(percent);
        if (!Number.isInteger(c) || c < 1) return setProblem("Choose the candidate version.");
        if (percent.trim() === "" || !(p >= 0 && p <= 100)) return setProblem("The share must be a percentage from 0 to 100.");
        const req: RolloutRequest = { candidate: c, mode, percent: p };
        if (mode === "shadow" && guarded) {
          const a = Number(minAgreement);
          const n = Number(minSamples);
          if (minAgreement.trim() === "" || !(a >= 0 && a <= 100)) return setProblem("The least agreement must be a percentage from 0 to 100.");
          if (!Number.isInteger(n) || n < 1) return setProblem("The predictions to compare first must be a whole number from 1.");
          req.guard = { min_agreement: a / 100, min_samples: n };
        }
        if (mode === "canary" && guarded) {
          const f = Number(minLiveF1);
          const n = Number(minLabels);
          if (minLiveF1.trim() === "" || !(f >= 0 && f <= 1)) return setProblem("The least live F1 must be a number from 0 to 1.");
          if (!Number.isInteger(n) || n < 1) return setProblem("The labels to collect first must be a whole number from 1.");
          // min_samples has a default, so the generated type asks for it;
          // it is a shadow setting, which a canary's guard must not carry.
          const guard: Omit<Guard, "min_samples"> = { min_live_f1: f, min_labels: n };
          req.guard = guard as Guard;
        }
        setProblem("");
        void onSubmit(req);
      }}
    >
      <h3 id="rollout-form-title">{title}</h3>
      <div class="form-grid">
        <label for="rollout-candidate">Candidate version</label>
        <select id="rollout-candidate" value={candidate} disabled={current !== undefined} onChange={(e) => setCandidate(e.currentTarget.value)}>
          {candidates.map((v) => <option key={v.version} value={String(v.version)}>version {v.version}</option>)}
        </select>
        <span id="rollout-mode-label" class="label">Mode</span>
        <div role="radiogroup" aria-labelledby="rollout-mode-label" class="radios">
          <label class="inline">
            <input type="radio" name="rollout-mode" value="shadow" checked={mode === "shadow"} onChange={() => { setMode("shadow"); setPercent("100"); }} /> shadow (a copy of the traffic)
          </label>
          <label class="inline">
            <input type="radio" name="rollout-mode" value="canary" checked={mode === "canary"} onChange={() => { setMode("canary"); setPercent("10"); }} /> canary (a share of the callers)
          </label>
        </div>
        <label for="rollout-percent">{mode === "shadow" ? "Share of requests shadowed (%)" : "Share of callers answered by the candidate (%)"}</label>
        <input id="rollout-percent" type="number" min={0} max={100} step="any" value={percent} onInput={(e) => setPercent(e.currentTarget.value)} />
        <span class="label">Guard</span>
        <label class="inline">
          <input type="checkbox" checked={guarded} onChange={(e) => setGuarded(e.currentTarget.checked)} />{" "}
          {mode === "shadow" ? "Abort on its own when the candidate agrees too little" : "Abort on its own when the candidate's live F1 falls too low"}
        </label>
        {guarded && mode === "shadow" && (
          <>
            <label for="rollout-min-agreement">Least agreement (%)</label>
            <input id="rollout-min-agreement" type="number" min={0} max={100} step="any" value={minAgreement} onInput={(e) => setMinAgreement(e.currentTarget.value)} />
            <label for="rollout-min-samples">Predictions to compare before judging</label>
            <input id="rollout-min-samples" type="number" min={1} step={1} value={minSamples} onInput={(e) => setMinSamples(e.currentTarget.value)} />
          </>
        )}
        {guarded && mode === "canary" && (
          <>
            <label for="rollout-min-live-f1">Least live F1 (0 to 1)</label>
            <input id="rollout-min-live-f1" type="number" min={0} max={1} step="any" value={minLiveF1} onInput={(e) => setMinLiveF1(e.currentTarget.value)} />
            <label for="rollout-min-labels">Feedback labels to collect before judging</label>
            <input id="rollout-min-labels" type="number" min={1} step={1} value={minLabels} onInput={(e) => setMinLabels(e.currentTarget.value)} />
          </>
        )}
      </div>
      {problem !== "" && <p class="error" role="alert">{problem}</p>}
      <div><button type="submit" disabled={busy}>{current ? "Change the rollout" : "Start the rollout"}</button></div>
    </form>
  );
}
