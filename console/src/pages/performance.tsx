// Performance: how well a version does on its holdout set, per class and on
// slices, with its confusion matrix; two versions side by side.

import { useEffect, useMemo, useState } from "preact/hooks";

import type { components } from "../api";
import { barChart, ChartCanvas, heatMap } from "../charts";
import { api, modelName, must, session } from "../client";
import { ErrorBox, num3 } from "../ui";

type Report = components["schemas"]["Performance"];
type Metrics = components["schemas"]["Metrics"];
type VersionInfo = components["schemas"]["VersionInfo"];

/** A report and what it belongs to. */
interface Loaded {
  label: string;
  report: Report;
}

const metricNames = ["precision", "recall", "f1"] as const;

async function loadReport(version: number | "serving"): Promise<Loaded> {
  if (version === "serving") {
    const [perf, health] = await Promise.all([must(api.GET("/performance")), must(api.GET("/"))]);
    return { label: `version ${health.data.version} (serving)`, report: perf.data.performance };
  }
  const v = await must(api.GET("/models/{model-name}/versions/{version}", { params: { path: { "model-name": modelName, version } } }));
  return { label: `version ${v.data.version}${v.data.serving ? " (serving)" : ""}`, report: v.data.performance ?? {} };
}

export function PerformancePage(_: { onServingChange: () => void }) {
  const [versions, setVersions] = useState<VersionInfo[]>();
  const [a, setA] = useState<number | "serving">("serving");
  const [b, setB] = useState<number | "none">("none");
  const [left, setLeft] = useState<Loaded>();
  const [right, setRight] = useState<Loaded>();
  const [error, setError] = useState<unknown>();
  const hasKey = session.key !== "";

  useEffect(() => {
    if (!hasKey) return;
    must(api.GET("/models/{model-name}/versions", { params: { path: { "model-name": modelName } } }))
      .then((r) => setVersions(r.data.versions))
      .catch(setError);
  }, [hasKey]);
  useEffect(() => {
    setError(undefined);
    loadReport(a).then(setLeft, setError);
  }, [a]);
  useEffect(() => {
    if (b === "none") {
      setRight(undefined);
      return;
    }
    loadReport(b).then(setRight, setError);
  }, [b]);

  return (
    <div class="performance">
      <p class="lead">Precision, recall and F1 on each version's holdout set (weighted by support overall), per class and on slices.</p>
      <div class="pickers card">
        {versions ? (
          <>
            <label for="pick-a">Version</label>
            <select id="pick-a" value={String(a)} onChange={(e) => setA(e.currentTarget.value === "serving" ? "serving" : Number(e.currentTarget.value))}>
              <option value="serving">the serving version</option>
              {versions.map((v) => <option key={v.version} value={String(v.version)}>version {v.version}{v.serving ? " (serving)" : ""}</option>)}
            </select>
            <label for="pick-b">Compare with</label>
            <select id="pick-b" value={String(b)} onChange={(e) => setB(e.currentTarget.value === "none" ? "none" : Number(e.currentTarget.value))}>
              <option value="none">no other version</option>
              {versions.map((v) => <option key={v.version} value={String(v.version)}>version {v.version}{v.serving ? " (serving)" : ""}</option>)}
            </select>
          </>
        ) : (
          <p>
            Showing the serving version.{" "}
            {!hasKey && <button type="button" class="link" onClick={() => session.need("Enter an API key (any role) to pick and compare versions.")}>Enter an API key to pick and compare versions</button>}
          </p>
        )}
      </div>
      <ErrorBox error={error} />
      <div class={right ? "side-by-side" : undefined}>
        {left && <ReportView loaded={left} other={right} />}
        {right && left && <ReportView loaded={right} other={left} />}
      </div>
    </div>
  );
}

/** Diff marks a value against the other version's: ▲ better, ▼ worse, with the difference in words for screen readers. */
function Diff({ value, other }: { value: number; other: number | undefined }) {
  if (other === undefined || Math.abs(value - other) < 5e-4) return null;
  const up = value > other;
  return (
    <span class={`diff ${up ? "up" : "down"}`} data-testid="diff">
      {up ? " ▲" : " ▼"}
      {up ? "+" : "−"}{Math.abs(value - other).toFixed(3)}
      <span class="sr-only">{up ? " higher" : " lower"} than the other version</span>
    </span>
  );
}

function MetricsRow({ name, m, other }: { name: string; m: Metrics; other: Metrics | undefined }) {
  // Metrics of no samples are not figures to compare.
  const comparable = other !== undefined && other.num_samples > 0 ? other : undefined;
  return (
    <tr>
      <th scope="row">{name}</th>
      {metricNames.map((k) => (
        <td key={k}>{m.num_samples === 0 ? "—" : <>{num3(m[k])}<Diff value={m[k]} other={comparable?.[k]} /></>}</td>
      ))}
      <td>{m.num_samples}</td>
    </tr>
  );
}

function MetricsTable({ caption, rows, other, hideCaption = false }: { caption: string; rows: Array<[string, Metrics]>; other: Record<string, Metrics> | undefined; hideCaption?: boolean }) {
  return (
    <table class="numbers">
      <caption class={hideCaption ? "sr-only" : undefined}>{caption}</caption>
      <thead><tr><th scope="col">name</th><th scope="col">precision</th><th scope="col">recall</th><th scope="col">F1</th><th scope="col">samples</th></tr></thead>
      <tbody>{rows.map(([name, m]) => <MetricsRow key={name} name={name} m={m} other={other?.[name]} />)}</tbody>
    </table>
  );
}

function ReportView({ loaded, other }: { loaded: Loaded; other: Loaded | undefined }) {
  const r = loaded.report;
  const classes = Object.entries(r.class ?? {}).sort(([x], [y]) => x.localeCompare(y));
  const slices = Object.entries(r.slices ?? {}).sort(([x], [y]) => x.localeCompare(y));
  const cm = r.confusion_matrix;
  const classChart = useMemo(
    () => barChart(classes.map(([c]) => c), metricNames.map((k) => ({ label: k === "f1" ? "F1" : k, values: classes.map(([, m]) => m[k]) })), { max: 1 }),
    [r],
  );
  const cmChart = useMemo(() => (cm ? heatMap(cm.labels, cm.matrix) : undefined), [r]);
  return (
    <section class="report" aria-label={`Performance of ${loaded.label}`} data-testid="report">
      <h2>{loaded.label[0]?.toUpperCase()}{loaded.label.slice(1)}</h2>
      {r.overall && <MetricsTable caption="Overall" rows={[["overall", r.overall]]} other={other?.report.overall ? { overall: other.report.overall } : undefined} />}
      <div class="card">
        <h3>Per class</h3>
        <ChartCanvas config={classChart} label={`Precision, recall and F1 per class of ${loaded.label}`} />
        <MetricsTable caption="Per class" rows={classes} other={other?.report.class} hideCaption />
      </div>
      <div class="card">
        <h3>Confusion matrix</h3>
        {cm && cmChart ? (
          <>
            <ChartCanvas config={cmChart} label={`Confusion matrix of ${loaded.label}: rows are true classes, columns predicted ones`} height={300} />
            <ConfusionTable labels={cm.labels} matrix={cm.matrix} />
          </>
        ) : (
          <p class="hint" data-testid="no-confusion-matrix">This version's report has no confusion matrix (its artifact was trained before they were recorded, or the server does not report them yet).</p>
        )}
      </div>
      <div class="card">
        <h3>Slices</h3>
        {slices.length > 0 ? <MetricsTable caption="Slices" rows={slices} other={other?.report.slices} hideCaption /> : <p class="hint">No slices.</p>}
      </div>
    </section>
  );
}

function ConfusionTable({ labels, matrix }: { labels: string[]; matrix: number[][] }) {
  return (
    <table class="numbers confusion" data-testid="confusion-table">
      <caption>Confusion matrix (rows: true class, columns: predicted class)</caption>
      <thead><tr><th scope="col">true \ predicted</th>{labels.map((l) => <th scope="col" key={l}>{l}</th>)}</tr></thead>
      <tbody>
        {matrix.map((row, i) => (
          <tr key={i}><th scope="row">{labels[i]}</th>{row.map((v, j) => <td key={j} class={i === j ? "diag" : undefined}>{v}</td>)}</tr>
        ))}
      </tbody>
    </table>
  );
}
