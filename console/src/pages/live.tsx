// Live: how the serving version (and any other picked) does on live
// traffic: its tags and confidence against the training baseline, the drift
// tests, and precision, recall and F1 from the feedback on its predictions.
// It refreshes on its own every few seconds.

import { useMemo, useState } from "preact/hooks";

import type { components } from "../api";
import { barChart, ChartCanvas } from "../charts";
import { api, modelName, must, session } from "../client";
import { clock, ErrorBox, num3, pct, useEvery } from "../ui";

type VersionMonitoring = components["schemas"]["VersionMonitoring"];
type SignalSummary = components["schemas"]["SignalSummary"];
type Summary = components["schemas"]["Summary"];
type DriftResult = components["schemas"]["DriftResult"];
type LivePerformance = components["schemas"]["LivePerformance"];
type Metrics = components["schemas"]["Metrics"];
type Performance = components["schemas"]["Performance"];
type VersionInfo = components["schemas"]["VersionInfo"];

/** How often the page asks again, in seconds. */
const refreshSeconds = 10;

/** What the page shows of a version: its monitoring and its holdout report. */
interface Shown {
  monitoring: VersionMonitoring;
  holdout: Performance | undefined;
}

export function LivePage(_: { onServingChange: () => void }) {
  const [shown, setShown] = useState<Shown[]>();
  const [versions, setVersions] = useState<VersionInfo[]>();
  const [other, setOther] = useState<number | "none">("none");
  const [auto, setAuto] = useState(true);
  const [updated, setUpdated] = useState<Date>();
  const [error, setError] = useState<unknown>();
  const [tick, setTick] = useState(0);
  const hasKey = session.key !== "";

  useEvery(() => {
    if (!hasKey) {
      session.need("Live monitoring needs an API key (the viewer role).");
      return;
    }
    (async () => {
      const query = other === "none" ? {} : { version: other };
      const [m, list] = await Promise.all([
        must(api.GET("/monitoring", { params: { query: { model: modelName, ...query } } })),
        must(api.GET("/models/{model-name}/versions", { params: { path: { "model-name": modelName } } })),
      ]);
      // The holdout reports, to set live F1 beside; a version's own answer has it.
      const holdout = await Promise.all(
        m.data.versions.map((v) =>
          must(api.GET("/models/{model-name}/versions/{version}", { params: { path: { "model-name": modelName, version: v.version } } })).then(
            (r) => r.data.performance,
            () => undefined,
          ),
        ),
      );
      setVersions(list.data.versions);
      setShown(m.data.versions.map((monitoring, i) => ({ monitoring, holdout: holdout[i] })));
      setUpdated(new Date());
      setError(undefined);
    })().catch(setError);
  }, refreshSeconds, auto && hasKey, [other, hasKey, tick]);

  return (
    <div class="live">
      <p class="lead">
        How versions do on live traffic, as this server sees it: the tags and confidence of its recent predictions against the training baseline, drift
        tests, and precision, recall and F1 from the true tags sent back as feedback (<code>POST /feedback</code>, or “Was this right?” on the Try page).
      </p>
      <div class="pickers card">
        {versions && (
          <>
            <label for="live-other">Also show</label>
            <select id="live-other" value={String(other)} onChange={(e) => setOther(e.currentTarget.value === "none" ? "none" : Number(e.currentTarget.value))}>
              <option value="none">only the serving version</option>
              {versions.filter((v) => !v.serving).map((v) => <option key={v.version} value={String(v.version)}>version {v.version}</option>)}
            </select>
          </>
        )}
        <label class="inline"><input type="checkbox" checked={auto} onChange={(e) => setAuto(e.currentTarget.checked)} /> Refresh every {refreshSeconds} s</label>
        <button type="button" class="secondary" onClick={() => setTick((t) => t + 1)} disabled={!hasKey} data-testid="refresh">Refresh now</button>
        <p class="hint" role="status" data-testid="updated">{updated ? `Updated at ${clock(updated)}` : hasKey ? "Loading…" : ""}</p>
      </div>
      <ErrorBox error={error} />
      {shown?.map((s) => <VersionLive key={s.monitoring.version} shown={s} />)}
    </div>
  );
}

/** Overall says in a sentence whether the version drifts, or why that cannot be said. */
function Verdict({ m }: { m: VersionMonitoring }) {
  if (!m.has_baseline) {
    return <p class="hint" data-testid="no-baseline">This version's artifact has no training baseline (it was trained before baselines were recorded): there is nothing to compare its traffic with, so no drift tests.</p>;
  }
  if (m.window.size === 0) {
    return <p class="hint" data-testid="no-traffic">No predictions of this version in the window yet: this server has not predicted with it in the last {Math.round(m.window.max_age_seconds / 60)} minutes.</p>;
  }
  const enough = m.drift.length > 0 && m.drift.every((d) => d.enough);
  if (m.drifted) {
    const which = m.drift.filter((d) => d.drifted).map((d) => signalNames[d.signal]).join(", ");
    return <p class="alarm" role="alert" data-testid="verdict"><strong>Drift:</strong> live traffic differs from the training baseline in {which}.</p>;
  }
  if (!enough) {
    const need = 50;
    return <p class="hint" data-testid="too-little">Only {m.window.size} predictions in the window: the drift tests judge from {need}.</p>;
  }
  return <p class="notice" data-testid="verdict">No drift: live traffic looks like the training baseline on every test.</p>;
}

const signalNames: Record<DriftResult["signal"], string> = {
  tag: "the predicted tags",
  confidence: "the confidence",
  tokens: "the text length",
  oov_rate: "the out-of-vocabulary rate",
};

const testNames: Record<DriftResult["test"], string> = {
  chi_squared: "chi-squared",
  kolmogorov_smirnov: "Kolmogorov-Smirnov",
  threshold: "threshold on the mean",
};

function VersionLive({ shown }: { shown: Shown }) {
  const m = shown.monitoring;
  const label = `version ${m.version}${m.serving ? " (serving)" : ""}`;
  const w = m.window;
  return (
    <section class="version-live" aria-labelledby={`live-${m.version}`} data-testid="version-live" data-version={m.version}>
      <h2 id={`live-${m.version}`}>Version {m.version}{m.serving ? " (serving)" : ""}</h2>
      <p class="meta" data-testid="window">
        Window: the last {w.size} of at most {w.capacity} predictions from the last {Math.round(w.max_age_seconds / 60)} minutes
        {w.start && w.end ? `, ${new Date(w.start).toLocaleTimeString()} to ${new Date(w.end).toLocaleTimeString()}` : ""}; {w.observed} observed since this
        server loaded it{w.dropped > 0 ? `; ${w.dropped} left out because monitoring fell behind` : ""}.
      </p>
      <Verdict m={m} />
      <div class="two">
        <TagsCard label={label} window={m.signals.window} baseline={m.signals.baseline} />
        <ConfidenceCard label={label} window={m.signals.window} baseline={m.signals.baseline} />
      </div>
      {m.has_baseline && <DriftTable drift={m.drift} />}
      <SignalsTable window={m.signals.window} baseline={m.signals.baseline} />
      <LiveF1 label={label} live={m.live_performance} holdout={shown.holdout} />
    </section>
  );
}

/** sorted returns the keys of a record in order. */
function keys(...records: Array<Record<string, unknown> | undefined>): string[] {
  const all = new Set<string>();
  for (const r of records) for (const k of Object.keys(r ?? {})) all.add(k);
  return [...all].sort();
}

function TagsCard({ label, window: win, baseline }: { label: string; window: SignalSummary; baseline: SignalSummary | undefined }) {
  const tags = keys(win.tag_shares, baseline?.tag_shares);
  const series = [{ label: `live (${win.count})`, values: tags.map((t) => win.tag_shares[t] ?? 0) }];
  if (baseline) series.push({ label: `baseline (${baseline.count})`, values: tags.map((t) => baseline.tag_shares[t] ?? 0) });
  const config = useMemo(() => barChart(tags, series, { max: 1 }), [JSON.stringify(series)]);
  return (
    <div class="card">
      <h3>Predicted tags</h3>
      <ChartCanvas config={config} label={`Share of each predicted tag of ${label}, live${baseline ? " and in the baseline" : ""}`} />
      <table class="numbers">
        <caption class="sr-only">Share of each predicted tag</caption>
        <thead><tr><th scope="col">tag</th><th scope="col">live</th>{baseline && <th scope="col">baseline</th>}</tr></thead>
        <tbody>
          {tags.map((t) => (
            <tr key={t}><th scope="row">{t}</th><td>{pct(win.tag_shares[t] ?? 0)}</td>{baseline && <td>{pct(baseline.tag_shares[t] ?? 0)}</td>}</tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}

const quantiles = [["p10", "10th percentile"], ["p50", "median"], ["mean", "mean"], ["p90", "90th percentile"]] as const;

function ConfidenceCard({ label, window: win, baseline }: { label: string; window: SignalSummary; baseline: SignalSummary | undefined }) {
  const series = [{ label: `live (${win.count})`, values: quantiles.map(([k]) => win.confidence[k]) }];
  if (baseline) series.push({ label: `baseline (${baseline.count})`, values: quantiles.map(([k]) => baseline.confidence[k]) });
  const config = useMemo(() => barChart(quantiles.map(([, name]) => name), series, { max: 1 }), [JSON.stringify(series)]);
  return (
    <div class="card">
      <h3>Confidence (the winning class's probability)</h3>
      <ChartCanvas config={config} label={`Confidence of ${label}: percentiles and mean, live${baseline ? " and in the baseline" : ""}`} />
      <p class="hint">Lower bars than the baseline's mean the model is less sure of live texts than of its holdout set.</p>
    </div>
  );
}

function SignalsTable({ window: win, baseline }: { window: SignalSummary; baseline: SignalSummary | undefined }) {
  const rows: Array<[string, Summary, Summary | undefined, (x: number) => string]> = [
    ["confidence", win.confidence, baseline?.confidence, num3],
    ["margin to the runner-up", win.margin, baseline?.margin, num3],
    ["length in tokens", win.tokens, baseline?.tokens, (x) => x.toFixed(1)],
    ["out-of-vocabulary rate", win.oov_rate, baseline?.oov_rate, pct],
  ];
  const fmt = (s: Summary | undefined, f: (x: number) => string) => (s ? `${f(s.mean)} (${f(s.p10)} · ${f(s.p50)} · ${f(s.p90)})` : "—");
  return (
    <div class="card">
      <h3>Signals</h3>
      <table class="numbers" data-testid="signals">
        <caption class="sr-only">Signals of the live window and of the baseline</caption>
        <thead><tr><th scope="col">signal: mean (10th · 50th · 90th percentile)</th><th scope="col">live</th><th scope="col">baseline</th></tr></thead>
        <tbody>
          {rows.map(([name, a, b, f]) => <tr key={name}><th scope="row">{name}</th><td>{fmt(a, f)}</td><td>{fmt(b, f)}</td></tr>)}
          <tr><th scope="row">texts with no known feature</th><td>{pct(win.empty_rate)}</td><td>{baseline ? pct(baseline.empty_rate) : "—"}</td></tr>
          <tr><th scope="row">tagged <code>other</code> by the threshold</th><td>{pct(win.fallback_rate)}</td><td>{baseline ? pct(baseline.fallback_rate) : "—"}</td></tr>
        </tbody>
      </table>
    </div>
  );
}

function pValue(p: number | undefined): string {
  if (p === undefined) return "—";
  return p < 1e-4 ? p.toExponential(1) : p.toFixed(4);
}

function DriftTable({ drift }: { drift: DriftResult[] }) {
  return (
    <div class="card">
      <h3>Drift tests</h3>
      <table class="numbers" data-testid="drift">
        <caption class="sr-only">Drift tests of the live window against the baseline</caption>
        <thead>
          <tr><th scope="col">signal</th><th scope="col">test</th><th scope="col">statistic</th><th scope="col">p-value</th><th scope="col">drifts when</th><th scope="col">window · baseline</th><th scope="col">verdict</th></tr>
        </thead>
        <tbody>
          {drift.map((d) => (
            <tr key={d.signal} data-signal={d.signal} class={d.drifted ? "alarm-row" : undefined}>
              <th scope="row">{signalNames[d.signal]}</th>
              <td>{testNames[d.test]}{d.degrees_of_freedom !== undefined ? ` (${d.degrees_of_freedom} df)` : ""}</td>
              <td>{d.statistic.toFixed(3)}</td>
              <td>{pValue(d.p_value)}</td>
              <td>{d.significance !== undefined ? `p < ${d.significance}` : d.threshold !== undefined ? `mean > ${d.threshold.toFixed(3)}` : "—"}</td>
              <td>{d.window_size} · {d.reference_size}</td>
              <td data-testid="drift-verdict">{d.drifted ? <strong class="down">drifted</strong> : d.enough ? <span class="up">no drift</span> : "too few predictions"}</td>
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}

const metricNames = ["precision", "recall", "f1"] as const;

function LiveF1({ label, live, holdout }: { label: string; live: { last_24h: LivePerformance; all: LivePerformance }; holdout: Performance | undefined }) {
  const classes = keys(live.all.class, live.last_24h.class, holdout?.class);
  const series = [
    { label: "last 24 h", values: classes.map((c) => live.last_24h.class[c]?.f1 ?? 0) },
    { label: "since serving", values: classes.map((c) => live.all.class[c]?.f1 ?? 0) },
  ];
  if (holdout?.class) {
    const h = holdout.class;
    series.push({ label: "holdout", values: classes.map((c) => h[c]?.f1 ?? 0) });
  }
  const config = useMemo(() => barChart(classes, series, { max: 1 }), [JSON.stringify(series)]);
  const none = live.all.labels === 0;
  const row = (name: string, m: Metrics | undefined) =>
    m && m.num_samples > 0 ? <>{metricNames.map((k) => <td key={k}>{num3(m[k])}</td>)}<td>{m.num_samples}</td></> : <><td>—</td><td>—</td><td>—</td><td>{m?.num_samples ?? 0}</td></>;
  return (
    <div class="card">
      <h3>Live performance from feedback</h3>
      {none ? (
        <p class="hint" data-testid="no-feedback">
          No feedback yet: nobody has sent the true tag of this version's predictions. Send them with <code>POST /feedback</code> (each prediction's
          <code> prediction_id</code> and its true tag), or with “Was this right?” on the Try page; precision, recall and F1 appear here.
        </p>
      ) : (
        <>
          <ChartCanvas config={config} label={`F1 per class of ${label} from feedback, over the last 24 hours and since it serves${holdout ? ", and on its holdout set" : ""}`} />
          <table class="numbers" data-testid="live-performance">
            <caption>Precision, recall and F1 from feedback (overall weighted by support); labels are the true tags behind each figure</caption>
            <thead>
              <tr><th scope="col" rowSpan={2}>class</th><th scope="colgroup" colSpan={4}>last 24 hours</th><th scope="colgroup" colSpan={4}>since it serves</th><th scope="col" rowSpan={2}>holdout F1</th></tr>
              <tr>{["24h", "all"].flatMap((w) => ["precision", "recall", "F1", "labels"].map((h) => <th scope="col" key={`${w}-${h}`}>{h}</th>))}</tr>
            </thead>
            <tbody>
              <tr class="winner" data-testid="live-overall">
                <th scope="row">overall</th>{row("overall", live.last_24h.overall)}{row("overall", live.all.overall)}<td>{holdout?.overall ? num3(holdout.overall.f1) : "—"}</td>
              </tr>
              {classes.map((c) => (
                <tr key={c}>
                  <th scope="row">{c}</th>{row(c, live.last_24h.class[c])}{row(c, live.all.class[c])}<td>{holdout?.class?.[c] ? num3(holdout.class[c]?.f1 ?? 0) : "—"}</td>
                </tr>
              ))}
            </tbody>
          </table>
          <p class="hint" data-testid="labels">{live.last_24h.labels} labels in the last 24 hours, {live.all.labels} since it serves.</p>
        </>
      )}
    </div>
  );
}
