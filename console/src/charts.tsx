// Charts through Chart.js (and chartjs-chart-matrix for heat maps). Each
// canvas is an image with a label; the numbers are also in a table next to
// it, for keyboards and screen readers.

import { BarController, BarElement, CategoryScale, Chart, type ChartConfiguration, Legend, LinearScale, type ScriptableContext, Tooltip } from "chart.js";
import { MatrixController, MatrixElement } from "chartjs-chart-matrix";
import { useEffect, useRef } from "preact/hooks";

Chart.register(BarController, BarElement, CategoryScale, LinearScale, Tooltip, Legend, MatrixController, MatrixElement);
Chart.defaults.font.family = "system-ui, -apple-system, 'Segoe UI', Roboto, sans-serif";
Chart.defaults.color = "#1f2933";
Chart.defaults.animation = false;

/** Colours with at least 3:1 contrast against white, told apart by hue. */
export const palette = ["#1d4ed8", "#b45309", "#047857", "#7c3aed", "#be123c"];

/** ChartCanvas draws config on a canvas labelled `label`; it redraws when config changes. */
export function ChartCanvas({ config, label, height = 240 }: { config: ChartConfiguration; label: string; height?: number }) {
  const canvas = useRef<HTMLCanvasElement>(null);
  useEffect(() => {
    if (!canvas.current) return undefined;
    const chart = new Chart(canvas.current, { ...config, options: { responsive: true, maintainAspectRatio: false, ...config.options } });
    return () => chart.destroy();
  }, [config]);
  return (
    <div class="chart" style={{ height: `${height}px` }}>
      <canvas ref={canvas} role="img" aria-label={label} />
    </div>
  );
}

/** barChart is a bar chart of one or more series over the same labels. */
export function barChart(labels: string[], series: Array<{ label: string; values: number[] }>, opts: { horizontal?: boolean; max?: number } = {}): ChartConfiguration {
  return {
    type: "bar",
    data: {
      labels,
      datasets: series.map((s, i) => ({ label: s.label, data: s.values, backgroundColor: palette[i % palette.length] })),
    },
    options: {
      indexAxis: opts.horizontal ? "y" : "x",
      scales: { [opts.horizontal ? "x" : "y"]: { min: 0, ...(opts.max === undefined ? {} : { max: opts.max }) } },
      plugins: { legend: { display: series.length > 1 } },
    },
  };
}

/** What a heat map's rows and columns are, and what its cells count. */
export interface HeatMapAxes {
  rows: string;
  columns: string;
  counts: string;
}

/** The axes of a confusion matrix of a holdout set. */
const holdoutAxes: HeatMapAxes = { rows: "true", columns: "predicted", counts: "Holdout samples" };

/**
 * heatMap is a confusion matrix as a heat map: rows are true classes, columns
 * predicted ones (or as `axes` says); a cell's shade is its share of its row.
 */
export function heatMap(labels: string[], matrix: number[][], axes: HeatMapAxes = holdoutAxes): ChartConfiguration {
  const cells: Array<{ x: string; y: string; v: number; share: number }> = [];
  matrix.forEach((row, i) => {
    const total = row.reduce((a, b) => a + b, 0);
    row.forEach((v, j) => cells.push({ x: labels[j] ?? String(j), y: labels[i] ?? String(i), v, share: total > 0 ? v / total : 0 }));
  });
  const n = Math.max(labels.length, 1);
  return {
    type: "matrix",
    data: {
      datasets: [{
        label: axes.counts,
        data: cells,
        backgroundColor: (ctx: ScriptableContext<"matrix">) => {
          const c = ctx.raw as { share: number } | undefined;
          return `rgba(29, 78, 216, ${0.08 + 0.92 * (c?.share ?? 0)})`;
        },
        borderColor: "#ffffff",
        borderWidth: 1,
        width: ({ chart }) => (chart.chartArea?.width ?? 0) / n - 2,
        height: ({ chart }) => (chart.chartArea?.height ?? 0) / n - 2,
      }],
    },
    options: {
      plugins: {
        legend: { display: false },
        tooltip: {
          callbacks: {
            title: () => "",
            label: (ctx) => {
              const c = ctx.raw as { x: string; y: string; v: number };
              return `${axes.rows} ${c.y}, ${axes.columns} ${c.x}: ${c.v}`;
            },
          },
        },
      },
      scales: {
        x: { type: "category", labels, offset: true, position: "top", title: { display: true, text: axes.columns }, grid: { display: false }, ticks: { autoSkip: false, maxRotation: 20 } },
        y: { type: "category", labels, offset: true, reverse: false, title: { display: true, text: axes.rows }, grid: { display: false } },
      },
    },
  } as ChartConfiguration;
}
