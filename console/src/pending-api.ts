// TO BE REPLACED BY THE GENERATED TYPES.
//
// The explanation of a prediction and the confusion matrix of a performance
// report are agreed but not yet in openapi.yaml. Until they are, this is the
// one file that declares them by hand; when openapi.yaml has them, each type
// below becomes an alias of its generated counterpart in ./api.d.ts
// (components["schemas"][...]) and the casts in withExplain and
// confusionMatrixOf go away. Nothing else in the console declares API types.
//
// The console sends `explain` only when the served /openapi.json declares it
// (see explainSupported in ./client.ts), so that a server without
// explanations is never sent a field its schema rejects.

import type { components } from "./api";

/** One feature of an explanation: a word or character n-gram of the text. */
export interface ExplanationFeature {
  /** The word or n-gram as a person reads it. */
  feature: string;
  kind: "word" | "char_ngram";
  /** Its TF-IDF value in the text. */
  value: number;
  /** The class's weight of the feature. */
  weight: number;
  /** value x weight: what it adds to the class's score. */
  contribution: number;
  /** [start, end) offsets, in Unicode code points, into input_text; each has two. */
  spans: number[][];
}

/** Why a prediction has its class: the class score's intercept and top features. */
export interface Explanation {
  class: string;
  score: number;
  intercept: number;
  /** Sorted by contribution, largest first. */
  features: ExplanationFeature[];
}

/** A confusion matrix: rows are true classes, columns predicted ones. */
export interface ConfusionMatrix {
  labels: string[];
  matrix: number[][];
}

/** A prediction, with its explanation when one was asked for. */
export type Prediction = components["schemas"]["Prediction"] & { explanation?: Explanation };

/** A performance report, with its confusion matrix when it has one. */
export type Performance = components["schemas"]["Performance"] & { confusion_matrix?: ConfusionMatrix };

/** withExplain adds a request for the top `features` features to a predict request. */
export function withExplain(req: components["schemas"]["PredictRequest"], features: number): components["schemas"]["PredictRequest"] {
  return { ...req, explain: { features } } as components["schemas"]["PredictRequest"];
}

/** confusionMatrixOf returns a report's confusion matrix, or undefined when it has none. */
export function confusionMatrixOf(p: components["schemas"]["Performance"] | undefined): ConfusionMatrix | undefined {
  const cm = (p as Performance | undefined)?.confusion_matrix;
  if (!cm || !Array.isArray(cm.labels) || !Array.isArray(cm.matrix)) return undefined;
  return cm;
}

/** explanationOf returns a prediction's explanation, or undefined when it has none. */
export function explanationOf(p: components["schemas"]["Prediction"]): Explanation | undefined {
  const e = (p as Prediction).explanation;
  if (!e || !Array.isArray(e.features)) return undefined;
  return e;
}
