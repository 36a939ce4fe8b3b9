// check.ts calls a live tagifai server through the TypeScript SDK: the types
// openapi-typescript generated from openapi.yaml (api.d.ts) used through
// openapi-fetch. It type-checks in strict mode, so a change to a response
// schema that breaks a client breaks this file; at run time it checks what
// the server answers against what the spec promises.
//
//   BASE_URL=http://127.0.0.1:8000 ADMIN_KEY=tgf_... node out/check.js
//
// Each check prints a line on stderr; the last line, on stdout, sums them
// up. The exit status is 1 when any check fails, 2 on bad usage.

import createClient from "openapi-fetch";

import type { components, paths } from "./api.js";

type ErrorEnvelope = components["schemas"]["ErrorEnvelope"];
type Envelope = components["schemas"]["Envelope"];
type Metrics = components["schemas"]["Metrics"];
type PerformanceFilter = components["schemas"]["PerformanceFilter"];

/** Mismatch is thrown by a check when the server's answer is not the spec's. */
class Mismatch extends Error {}

function fail(message: string): never {
  throw new Mismatch(message);
}

function expect(ok: boolean, message: string): asserts ok {
  if (!ok) fail(message);
}

function show(v: unknown): string {
  return JSON.stringify(v) ?? String(v);
}

function expectEqual<T>(got: T, want: T, what: string): void {
  expect(show(got) === show(want), `${what}: got ${show(got)}, want ${show(want)}`);
}

function isStringArray(v: unknown): v is string[] {
  return Array.isArray(v) && v.every((s) => typeof s === "string");
}

const baseURL = process.env["BASE_URL"] ?? "";
const adminKey = process.env["ADMIN_KEY"] ?? "";
if (baseURL === "" || adminKey === "") {
  console.error("usage: BASE_URL=http://HOST:PORT ADMIN_KEY=KEY node out/check.js");
  process.exit(2);
}

/** timedFetch gives every request ten seconds. */
const timedFetch = (req: Request): Promise<Response> => fetch(req, { signal: AbortSignal.timeout(10_000) });

const anonymous = createClient<paths>({ baseUrl: baseURL, fetch: timedFetch });
const admin = createClient<paths>({
  baseUrl: baseURL,
  fetch: timedFetch,
  headers: { Authorization: `Bearer ${adminKey}` },
});

/**
 * checkEnvelope checks the fields every response has: message, method,
 * status-code (equal to the HTTP status), an RFC 3339 UTC timestamp and the
 * URL that was requested.
 */
function checkEnvelope(body: Envelope, response: Response, method: string, path: string): void {
  expectEqual(body["status-code"], response.status, "status-code");
  expectEqual(body.method, method, "method");
  expect(typeof body.message === "string" && body.message !== "", `message: got ${show(body.message)}`);
  expect(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$/.test(body.timestamp), `timestamp: got ${show(body.timestamp)}`);
  expect(new URL(body.url).pathname === path, `url: got ${show(body.url)}, want the path ${path}`);
  expect(response.headers.get("X-Request-ID") !== null, "no X-Request-ID header");
}

/**
 * checkError checks an error response: the documented status, the envelope
 * and data.errors, a non-empty list of problems each with a location (a
 * list of strings), a message and a type; the first problem is at
 * wantLocation with type wantType.
 */
function checkError(
  error: ErrorEnvelope | undefined,
  response: Response,
  want: { status: number; method: string; path: string; location: string[]; type: string },
): void {
  expectEqual(response.status, want.status, "HTTP status");
  expect(error !== undefined, "no error body");
  checkEnvelope(error, response, want.method, want.path);
  const problems: unknown = error.data?.errors;
  expect(Array.isArray(problems) && problems.length > 0, `data.errors: got ${show(problems)}`);
  for (const p of error.data.errors) {
    expect(isStringArray(p.location), `problem location: got ${show(p.location)}`);
    expect(typeof p.message === "string" && p.message !== "", `problem message: got ${show(p.message)}`);
    expect(typeof p.type === "string" && p.type !== "", `problem type: got ${show(p.type)}`);
  }
  const first = error.data.errors[0];
  expect(first !== undefined, "data.errors is empty");
  expectEqual(first.location, want.location, "first problem's location");
  expectEqual(first.type, want.type, "first problem's type");
}

function checkMetrics(m: Metrics | undefined, what: string): void {
  expect(m !== undefined, `${what}: missing`);
  for (const [name, v] of [["precision", m.precision], ["recall", m.recall], ["f1", m.f1]] as const) {
    expect(typeof v === "number" && v >= 0 && v <= 1, `${what}.${name}: got ${show(v)}, want a number in [0, 1]`);
  }
  expect(Number.isInteger(m.num_samples) && m.num_samples >= 0, `${what}.num_samples: got ${show(m.num_samples)}`);
}

/** What the checks learn from the server and pass on to later ones. */
const seen: { model: string; version: number; classes: string[] } = { model: "", version: 0, classes: [] };

/** checks run in order; each throws Mismatch (or a network error) on failure. */
const checks: Array<[string, () => Promise<void>]> = [
  ["GET / (health)", async () => {
    const { data, response } = await anonymous.GET("/");
    expectEqual(response.status, 200, "HTTP status");
    expect(data !== undefined, "no body");
    checkEnvelope(data, response, "GET", "/");
    expect(data.data.model !== "", "data.model is empty");
    expect(Number.isInteger(data.data.version) && data.data.version >= 1, `data.version: got ${data.data.version}`);
    expect(data.data.run_id !== "", "data.run_id is empty");
    expect(data.data.uptime_seconds >= 0, `data.uptime_seconds: got ${data.data.uptime_seconds}`);
    seen.model = data.data.model;
    seen.version = data.data.version;
  }],

  ["GET /models with the admin key", async () => {
    const { data, response } = await admin.GET("/models");
    expectEqual(response.status, 200, "HTTP status");
    expect(data !== undefined, "no body");
    checkEnvelope(data, response, "GET", "/models");
    const m = data.data.models.find((m) => m.name === seen.model);
    expect(m !== undefined, `model ${seen.model} is not listed: ${show(data.data.models.map((m) => m.name))}`);
    expectEqual(m.serving_version, seen.version, "serving_version of the model GET / reports");
  }],

  ["GET /models/{model-name}/versions/{version} (the model's classes)", async () => {
    const { data, response } = await admin.GET("/models/{model-name}/versions/{version}", {
      params: { path: { "model-name": seen.model, version: seen.version } },
    });
    expectEqual(response.status, 200, "HTTP status");
    expect(data !== undefined, "no body");
    expect(isStringArray(data.data.classes) && data.data.classes.length >= 2, `classes: got ${show(data.data.classes)}`);
    seen.classes = data.data.classes;
  }],

  ["GET /models without a key is a 401", async () => {
    const { error, response } = await anonymous.GET("/models");
    checkError(error, response, {
      status: 401, method: "GET", path: "/models", location: ["header", "Authorization"], type: "unauthorized",
    });
    expect(/^Bearer\b/.test(response.headers.get("WWW-Authenticate") ?? ""), "no WWW-Authenticate: Bearer header");
  }],

  ["GET /performance (each filter)", async () => {
    const filters: PerformanceFilter[] = ["overall", "class", "slices"];
    for (const filter of filters) {
      const { data, response } = await anonymous.GET("/performance", { params: { query: { filter } } });
      expectEqual(response.status, 200, `filter=${filter}: HTTP status`);
      expect(data !== undefined, `filter=${filter}: no body`);
      checkEnvelope(data, response, "GET", "/performance");
      const perf = data.data.performance;
      expectEqual(Object.keys(perf), [filter], `filter=${filter}: parts of the report`);
      switch (filter) {
        case "overall":
          checkMetrics(perf.overall, "overall");
          break;
        case "class": {
          const byClass = perf.class ?? {};
          expectEqual(Object.keys(byClass).sort(), [...seen.classes].sort(), "classes of the per-class report");
          for (const [name, m] of Object.entries(byClass)) checkMetrics(m, `class.${name}`);
          break;
        }
        case "slices": {
          const slices = perf.slices ?? {};
          expect(Object.keys(slices).length > 0, "no slices");
          for (const [name, m] of Object.entries(slices)) checkMetrics(m, `slices.${name}`);
          break;
        }
      }
    }
    const unknown = await anonymous.GET("/performance", {
      // A value the spec does not allow, sent on purpose: the server must say 422.
      params: { query: { filter: "everything" as PerformanceFilter } },
    });
    checkError(unknown.error, unknown.response, {
      status: 422, method: "GET", path: "/performance", location: ["query", "filter"], type: "enum",
    });
  }],

  ["GET /args and GET /args/{arg}", async () => {
    const all = await anonymous.GET("/args");
    expectEqual(all.response.status, 200, "GET /args: HTTP status");
    expect(all.data !== undefined, "GET /args: no body");
    checkEnvelope(all.data, all.response, "GET", "/args");
    const args = all.data.data.args;
    expect(Object.keys(args).length > 0, "no arguments");
    const name = "learning_rate" in args ? "learning_rate" : Object.keys(args)[0] ?? "";
    const one = await anonymous.GET("/args/{arg}", { params: { path: { arg: name } } });
    expectEqual(one.response.status, 200, `GET /args/${name}: HTTP status`);
    expect(one.data !== undefined, `GET /args/${name}: no body`);
    checkEnvelope(one.data, one.response, "GET", `/args/${name}`);
    expectEqual(one.data.data, { [name]: args[name] }, `GET /args/${name}: data`);

    const missing = await anonymous.GET("/args/{arg}", { params: { path: { arg: "no_such_arg" } } });
    checkError(missing.error, missing.response, {
      status: 404, method: "GET", path: "/args/no_such_arg", location: ["path", "arg"], type: "not_found",
    });
  }],

  ["POST /predict with two texts", async () => {
    const texts = [
      { text: "Transfer learning with transformers for text classification.", tag: "natural-language-processing" },
      { text: "Generative adversarial networks in both PyTorch and TensorFlow.", tag: "computer-vision" },
    ];
    const { data, response } = await anonymous.POST("/predict", { body: { texts: texts.map(({ text }) => ({ text })) } });
    expectEqual(response.status, 200, "HTTP status");
    expect(data !== undefined, "no body");
    checkEnvelope(data, response, "POST", "/predict");
    expectEqual(data.data.model, seen.model, "data.model");
    expectEqual(data.data.version, seen.version, "data.version");
    expectEqual(data.data.predictions.length, texts.length, "number of predictions");
    data.data.predictions.forEach((p, i) => {
      const want = texts[i];
      expect(want !== undefined, `prediction ${i} has no text`);
      expectEqual(p.input_text, want.text, `prediction ${i}: input_text (order kept)`);
      expect(seen.classes.includes(p.predicted_tag), `prediction ${i}: tag ${p.predicted_tag} is not one of ${show(seen.classes)}`);
      expectEqual(p.predicted_tag, want.tag, `prediction ${i}: tag of the spec's example`);
      const probs = p.predicted_probabilities;
      expectEqual(Object.keys(probs).sort(), [...seen.classes].sort(), `prediction ${i}: classes of the probabilities`);
      const sum = Object.values(probs).reduce((a, b) => a + b, 0);
      expect(Math.abs(sum - 1) < 1e-6, `prediction ${i}: probabilities sum to ${sum}, want 1`);
      const best = Object.entries(probs).reduce((a, b) => (b[1] > a[1] ? b : a));
      expect(p.predicted_tag === best[0] || p.predicted_tag === "other",
        `prediction ${i}: tag ${p.predicted_tag} is neither the most probable class ${best[0]} nor the fallback`);
    });
  }],

  ["POST /predict with no texts is a 422", async () => {
    const { error, response } = await anonymous.POST("/predict", { body: { texts: [] } });
    checkError(error, response, { status: 422, method: "POST", path: "/predict", location: ["body", "texts"], type: "too_few" });
  }],
];

let failed = 0;
for (const [name, check] of checks) {
  try {
    await check();
    console.error(`ok    ${name}`);
  } catch (err) {
    failed++;
    const why = err instanceof Mismatch ? err.message : `${err instanceof Error ? err.stack ?? err.message : String(err)}`;
    console.error(`FAIL  ${name}: ${why}`);
  }
}
const summary = `${checks.length - failed} of ${checks.length} checks passed against ${baseURL} (model ${seen.model} v${seen.version})`;
if (failed > 0) {
  console.log(`ts-check: FAIL: ${summary}`);
  process.exit(1);
}
console.log(`ts-check: ok: ${summary}`);
