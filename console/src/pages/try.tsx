// Try: tag a project and see why.

import { useMemo, useState } from "preact/hooks";

import type { components } from "../api";
import { barChart, ChartCanvas } from "../charts";
import { api, must } from "../client";
import { ErrorBox, pct } from "../ui";

type Prediction = components["schemas"]["Prediction"];
type Explanation = components["schemas"]["Explanation"];
type PredictRequest = components["schemas"]["PredictRequest"];

/** The lesson's example projects (README and openapi.yaml use them too). */
export const examples = [
  { title: "Transfer learning with transformers for text classification.", description: "" },
  { title: "Generative adversarial networks in both PyTorch and TensorFlow.", description: "" },
  { title: "Comparison between YOLO and RCNN on real world videos", description: "" },
];

/** How many features to ask the explanation for. */
const explainFeatures = 10;

interface Result {
  prediction: Prediction;
  explanation: Explanation | undefined;
  version: number;
  runId: string;
}

export function TryPage(_: { onServingChange: () => void }) {
  const [title, setTitle] = useState("");
  const [description, setDescription] = useState("");
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<unknown>();
  const [result, setResult] = useState<Result>();

  async function tag(t: string, d: string): Promise<void> {
    const text = [t.trim(), d.trim()].filter((s) => s !== "").join(" ");
    if (text === "") {
      setError(new Error("Type a title or a description first."));
      return;
    }
    setBusy(true);
    setError(undefined);
    try {
      const req: PredictRequest = { texts: [{ text }], explain: { features: explainFeatures } };
      const res = await must(api.POST("/predict", { body: req }));
      const p = res.data.predictions[0];
      if (!p) throw new Error("The server sent no prediction.");
      setResult({ prediction: p, explanation: p.explanation, version: res.data.version, runId: res.data.run_id });
    } catch (err) {
      setError(err);
      setResult(undefined);
    } finally {
      setBusy(false);
    }
  }

  return (
    <div class="try">
      <p class="lead">Type or paste a machine-learning project; the serving model tags it and shows which words pushed it there.</p>
      <div class="examples" role="group" aria-label="Example projects">
        <span>Examples:</span>
        {examples.map((ex) => (
          <button
            type="button"
            class="example"
            key={ex.title}
            onClick={() => {
              setTitle(ex.title);
              setDescription(ex.description);
              void tag(ex.title, ex.description);
            }}
          >
            {ex.title}
          </button>
        ))}
      </div>
      <form
        class="card"
        onSubmit={(e) => {
          e.preventDefault();
          void tag(title, description);
        }}
      >
        <label for="title">Title</label>
        <input id="title" value={title} maxLength={300} onInput={(e) => setTitle(e.currentTarget.value)} />
        <label for="description">Description</label>
        <textarea id="description" rows={3} maxLength={9000} value={description} onInput={(e) => setDescription(e.currentTarget.value)} />
        <div><button type="submit" disabled={busy}>{busy ? "Tagging…" : "Tag it"}</button></div>
      </form>
      <ErrorBox error={error} />
      {result && <ResultView result={result} />}
    </div>
  );
}

function ResultView({ result }: { result: Result }) {
  const { prediction: p, explanation } = result;
  const classes = Object.keys(p.predicted_probabilities).sort();
  const probs = classes.map((c) => p.predicted_probabilities[c] ?? 0);
  const config = useMemo(() => barChart(classes, [{ label: "probability", values: probs }], { horizontal: true, max: 1 }), [p]);
  return (
    <section class="result" aria-live="polite" aria-labelledby="result-title">
      <h2 id="result-title">
        Tag: <span class="tag" data-testid="tag">{p.predicted_tag}</span>
      </h2>
      <p class="meta" data-testid="result-version">Predicted by version {result.version} (run {result.runId})</p>
      <div class="two">
        <div class="card">
          <h3>Probability of each class</h3>
          <ChartCanvas config={config} label={`Probabilities: ${classes.map((c, i) => `${c} ${pct(probs[i] ?? 0)}`).join(", ")}`} height={180} />
          <table class="numbers">
            <caption class="sr-only">Probability of each class</caption>
            <thead><tr><th scope="col">class</th><th scope="col">probability</th></tr></thead>
            <tbody>
              {classes.map((c, i) => (
                <tr key={c} class={c === p.predicted_tag ? "winner" : undefined}><th scope="row">{c}</th><td>{pct(probs[i] ?? 0)}</td></tr>
              ))}
            </tbody>
          </table>
        </div>
        <div class="card">
          <h3>Why</h3>
          {explanation ? (
            <ExplanationView text={p.input_text} explanation={explanation} />
          ) : (
            <p class="hint" data-testid="no-explanation">The server sent no explanation for this prediction.</p>
          )}
        </div>
      </div>
      <Feedback key={p.prediction_id} prediction={p} classes={classes} />
    </section>
  );
}

/**
 * ExplanationView shows the text with the words that pushed the prediction
 * towards its class highlighted (darker for larger contributions), and the
 * features as a table.
 */
function ExplanationView({ text, explanation }: { text: string; explanation: Explanation }) {
  const points = Array.from(text); // spans count Unicode code points
  const max = Math.max(...explanation.features.map((f) => Math.abs(f.contribution)), 1e-12);
  // The strongest positive feature covering each code point.
  const cover: Array<{ feature: string; contribution: number } | undefined> = new Array(points.length);
  for (const f of explanation.features) {
    if (f.contribution <= 0) continue;
    for (const [start = 0, end = 0] of f.spans) {
      for (let i = Math.max(0, start); i < Math.min(end, points.length); i++) {
        const c = cover[i];
        if (!c || c.contribution < f.contribution) cover[i] = { feature: f.feature, contribution: f.contribution };
      }
    }
  }
  const parts: Array<{ text: string; hit: { feature: string; contribution: number } | undefined }> = [];
  points.forEach((ch, i) => {
    const hit = cover[i];
    const last = parts[parts.length - 1];
    if (last && last.hit === hit) last.text += ch;
    else parts.push({ text: ch, hit });
  });
  return (
    <>
      <p class="explained" data-testid="explained-text">
        {parts.map((part, i) =>
          part.hit ? (
            <mark key={i} class={`w${Math.min(4, Math.ceil((part.hit.contribution / max) * 4))}`} title={`${part.hit.feature}: +${part.hit.contribution.toFixed(3)}`}>
              {part.text}
            </mark>
          ) : (
            <span key={i}>{part.text}</span>
          ),
        )}
      </p>
      <table class="numbers features">
        <caption>
          Top features for <strong>{explanation.class}</strong>: score {explanation.score.toFixed(3)} = intercept {explanation.intercept.toFixed(3)} + contributions
        </caption>
        <thead><tr><th scope="col">feature (␣ marks a word's edge)</th><th scope="col">kind</th><th scope="col">contribution</th></tr></thead>
        <tbody>
          {explanation.features.map((f) => (
            <tr key={`${f.kind}:${f.feature}`}>
              <th scope="row"><code>{f.kind === "char_ngram" ? f.feature.replace(/ /g, "␣") : f.feature}</code></th>
              <td>{f.kind === "word" ? "word" : "character n-gram"}</td>
              <td class={f.contribution >= 0 ? "up" : "down"}>{f.contribution >= 0 ? "+" : "−"}{Math.abs(f.contribution).toFixed(3)}</td>
            </tr>
          ))}
        </tbody>
      </table>
    </>
  );
}

/** What became of feedback, in words. */
const feedbackWords: Record<components["schemas"]["FeedbackStatus"], string> = {
  accepted: "Thank you: the true tag is recorded; the Live page counts it in this version's live precision, recall and F1.",
  already_recorded: "This prediction already had this true tag.",
  conflict: "This prediction already had another true tag; the first one stays.",
  duplicate: "The tag was sent twice in one request; only the first counts.",
  invalid_id: "The server did not recognise this prediction.",
  unknown_version: "The version that made this prediction is no longer in the registry.",
  expired: "This prediction is too old for feedback (30 days).",
  unknown_tag: "That tag is not one of the model's classes.",
};

/** Feedback sends the true tag of a prediction (POST /feedback). */
function Feedback({ prediction, classes }: { prediction: Prediction; classes: string[] }) {
  const [tag, setTag] = useState(prediction.predicted_tag);
  const [said, setSaid] = useState("");
  const [error, setError] = useState<unknown>();
  const [busy, setBusy] = useState(false);
  return (
    <form
      class="card feedback"
      aria-labelledby="feedback-title"
      onSubmit={(e) => {
        e.preventDefault();
        setBusy(true);
        setError(undefined);
        must(api.POST("/feedback", { body: { items: [{ prediction_id: prediction.prediction_id, tag }] } }))
          .then((r) => {
            const res = r.data.results[0];
            setSaid(res ? feedbackWords[res.status] : "The server said nothing of this feedback.");
          })
          .catch(setError)
          .finally(() => setBusy(false));
      }}
    >
      <h3 id="feedback-title">Was this right?</h3>
      <div class="pickers">
        <label for="feedback-tag">The true tag</label>
        <select id="feedback-tag" value={tag} onChange={(e) => setTag(e.currentTarget.value)}>
          {classes.map((c) => <option key={c} value={c}>{c}{c === prediction.predicted_tag ? " (as predicted)" : ""}</option>)}
        </select>
        <button type="submit" disabled={busy}>Send the true tag</button>
      </div>
      {said !== "" && <p class="notice" role="status" data-testid="feedback-said">{said}</p>}
      <ErrorBox error={error} />
    </form>
  );
}
