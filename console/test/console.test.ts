// console.test.ts drives the web console of a running tagifai (GET /console)
// in Debian's Chromium through playwright-core, as a person would:
//
//   - Try: each of the lesson's two example projects, one click away, shows
//     the tag the API gives, every class's probability, and the words that
//     pushed it there highlighted, with the explanation's features listed;
//     a project typed in and sent with the keyboard is tagged too;
//   - Performance: per-class charts and tables, the confusion matrix when the
//     report has one, the slices; with a key, two versions side by side;
//   - Registry: a wrong key is refused in words and the key prompt stays; an
//     admin key uploads a second version, deploys it, predictions come from
//     it, and rolling back makes version 1 answer again, all through the page;
//   - Batch: a CSV job runs to the end, its progress bar full, and its
//     predictions download as CSV with the API's tags;
//   - Live: before any feedback it says there is none; after predictions of
//     the fixture's projects and their true tags (one sent through Try's
//     "Was this right?"), it shows the tag and confidence charts against the
//     baseline, the four drift tests, and live precision, recall and F1 with
//     the number of labels, the API's own figures;
//   - Registry, rollouts: an admin starts a guarded shadow rollout of
//     version 2, sees its figures after a few predictions (the agreement
//     rate equal to a direct comparison of both versions' predictions), is
//     told in words when someone else changed the model meanwhile (412),
//     reloads and aborts it; starts a canary that answers the callers the API
//     says it did, and promotes it; a guarded shadow rollout is aborted by
//     its guard on texts where the versions disagree, and the page says so;
//   - Registry, audit trail: those actions newest first, by the admin's
//     user, filtered by resource and by user, a page at a time; with a
//     viewer's key, the rollout shows and the audit trail says it needs the
//     admin role, without asking for another key;
//   - on every page: axe-core finds no serious or critical violation, no
//     console error (a Content-Security-Policy violation included), and no
//     request leaves the server.
//
// It saves a screenshot of each page in OUT, measures first paint with the
// browser's Performance API and the bundle's gzipped size, and reports them
// (times are reported, never asserted). The exit status is 1 when any check
// fails; the last line, on stdout, sums them up.
//
//   BASE_URL=http://127.0.0.1:8000 ADMIN_KEY=... ARTIFACT=artifacts/model.tagifai \
//     [BUNDLE=server/console] [OUT=dir] [CHROMIUM=/usr/bin/chromium] node console/test/out/console.test.js

import { mkdir, mkdtemp, readdir, readFile, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { gzipSync } from "node:zlib";

import axe from "axe-core";
import { chromium, type Page } from "playwright-core";

const env = (name: string, fallback?: string): string => {
  const v = process.env[name] ?? fallback;
  if (v === undefined || v === "") {
    console.error(`usage: BASE_URL=http://HOST:PORT ADMIN_KEY=key ARTIFACT=model.tagifai [BUNDLE=dir] [OUT=dir] node console.test.js (${name} is missing)`);
    process.exit(2);
  }
  return v;
};
const baseURL = env("BASE_URL");
const adminKey = env("ADMIN_KEY");
const artifact = env("ARTIFACT");
const fixturePath = env("FIXTURE", "console/test/projects.csv");
const bundleDir = env("BUNDLE", "server/console");
const outDir = env("OUT", "console/out");
const origin = new URL(baseURL).origin;

/** The budget for the console's JavaScript and CSS, gzipped. */
const bundleBudget = 250 * 1024;

/** The lesson's two example projects. */
const lessonTexts = [
  "Transfer learning with transformers for text classification.",
  "Generative adversarial networks in both PyTorch and TensorFlow.",
];

const failures: string[] = [];
function check(ok: boolean, message: string): void {
  if (!ok) failures.push(message);
}

/** apiPredict asks the API itself what the serving model says of text. */
async function apiPredict(text: string): Promise<{ tag: string; version: number }> {
  const r = await fetch(`${origin}/predict`, { method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify({ texts: [{ text }] }) });
  const body = (await r.json()) as { data: { version: number; predictions: Array<{ predicted_tag: string }> } };
  return { tag: body.data.predictions[0]?.predicted_tag ?? "", version: body.data.version };
}

/** The admin's user name (scripts/sdkserver.sh creates it). */
const adminUser = env("ADMIN_USER", "sdk-check");

/** A project of the fixture: its text and its true tag. */
interface Project {
  text: string;
  tag: string;
}

/** readFixture reads the fixture's projects (id,created_on,title,description,tag; no quoted fields). */
async function readFixture(): Promise<Project[]> {
  const lines = (await readFile(fixturePath, "utf8")).trim().split(/\r?\n/).slice(1);
  return lines.map((l) => {
    const f = l.split(",");
    return { text: `${f[2] ?? ""} ${f.slice(3, -1).join(",")}`.trim(), tag: f[f.length - 1] ?? "" };
  });
}

/** A prediction as the API gives it. */
interface ApiPrediction {
  predicted_tag: string;
  prediction_id: string;
}

/** apiCall sends a JSON request to the API as the admin (or as `key`), and returns its status and body. */
async function apiCall(method: string, path: string, body?: unknown, headers: Record<string, string> = {}): Promise<{ status: number; body: any }> {
  const r = await fetch(`${origin}${path}`, {
    method,
    headers: { Authorization: `Bearer ${adminKey}`, ...(body === undefined ? {} : { "Content-Type": "application/json" }), ...headers },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  return { status: r.status, body: await r.json() };
}

/** predictAll asks the serving model (anonymously, as `caller` when given) for the tags of texts. */
async function predictAll(texts: string[], caller?: string): Promise<{ version: number; predictions: ApiPrediction[] }> {
  const r = await fetch(`${origin}/predict`, {
    method: "POST",
    headers: { "Content-Type": "application/json", ...(caller ? { "X-Routing-Key": caller } : {}) },
    body: JSON.stringify({ texts: texts.map((text) => ({ text })) }),
  });
  const body = (await r.json()) as { data: { version: number; predictions: ApiPrediction[] } };
  return body.data;
}

/** Every request the page made, and every error it logged. */
const requests: string[] = [];
const pageErrors: string[] = [];
/** Console errors the current step expects (the browser logs a 401 it was meant to get). */
let expectedErrors: RegExp | undefined;
/** Set once the test's steps are done: closing the page aborts what it still has in flight. */
let closing = false;

function watch(page: Page): void {
  page.on("request", (r) => requests.push(r.url()));
  page.on("requestfailed", (r) => {
    if (r.failure()?.errorText === "net::ERR_ABORTED" && (closing || r.url().startsWith("blob:"))) return; // a download, or the page closing
    pageErrors.push(`request failed: ${r.url()}: ${r.failure()?.errorText ?? ""}`);
  });
  page.on("console", (m) => {
    if (m.type() !== "error") return;
    if (expectedErrors?.test(m.text())) return;
    // The documented answer of a model that never had a rollout; the
    // browser logs every 4xx of a fetch.
    if (/status of 404/.test(m.text()) && m.location().url.endsWith("/models/tagifai/rollout")) return;
    pageErrors.push(`console: ${m.text()}${m.location().url ? ` (${m.location().url})` : ""}`);
  });
  page.on("pageerror", (e) => pageErrors.push(`uncaught: ${e.message}`));
}

/** Axe's verdict on each page: how many violations, and which were serious or critical. */
const axeSummary: string[] = [];

async function runAxe(page: Page, name: string): Promise<void> {
  if (!(await page.evaluate("typeof window.axe !== 'undefined'"))) await page.evaluate(axe.source);
  const result = (await page.evaluate("window.axe.run(document, { resultTypes: ['violations'] })")) as axe.AxeResults;
  const bad = result.violations.filter((v) => v.impact === "serious" || v.impact === "critical");
  for (const v of bad) {
    check(false, `${name}: axe: ${v.impact} ${v.id}: ${v.help} (${v.nodes.map((n) => n.target.join(" ")).slice(0, 3).join("; ")})`);
  }
  const ids = result.violations.map((v) => `${v.id} (${v.impact ?? "?"})`).join(", ");
  axeSummary.push(`${name} ${result.violations.length} violations${ids ? `: ${ids}` : ""}`);
}

/** goTo opens a page of the console through its navigation, as a person would. */
async function goTo(page: Page, title: string): Promise<void> {
  await page.getByRole("navigation", { name: "Pages" }).getByRole("link", { name: title, exact: true }).click();
  await page.getByRole("heading", { level: 1, name: title }).waitFor();
}

async function shot(page: Page, name: string): Promise<void> {
  await page.screenshot({ path: join(outDir, `console-${name}.png`), fullPage: true });
}

/** readResult returns the tag, version, highlights and probability rows that Try shows. */
async function readResult(page: Page): Promise<{ tag: string; version: string; marks: string[]; rows: number; features: number }> {
  const tag = (await page.getByTestId("tag").textContent())?.trim() ?? "";
  const version = (await page.getByTestId("result-version").textContent()) ?? "";
  const marks = await page.locator("[data-testid=explained-text] mark").allTextContents();
  const rows = await page.locator(".result table.numbers").first().locator("tbody tr").count();
  const features = await page.locator(".result table.features tbody tr").count();
  return { tag, version, marks, rows, features };
}

async function waitForNewResult(page: Page, action: () => Promise<void>): Promise<void> {
  const before = await page.locator(".result").count() > 0 ? await page.locator(".result").innerText() : "";
  await action();
  await page.waitForFunction((b) => {
    const r = document.querySelector(".result");
    return r !== null && (r as HTMLElement).innerText !== b;
  }, before);
}

async function checkTry(page: Page, round: string, wantVersion?: number): Promise<void> {
  for (const [i, text] of lessonTexts.entries()) {
    const want = await apiPredict(text);
    await waitForNewResult(page, () => page.getByRole("button", { name: text }).click());
    const got = await readResult(page);
    check(got.tag === want.tag, `Try ${round}: "${text}": tag ${got.tag}, the API says ${want.tag}`);
    check(got.rows === 4, `Try ${round}: "${text}": ${got.rows} class probabilities shown, want 4`);
    if (wantVersion !== undefined) {
      check(want.version === wantVersion, `Try ${round}: the API predicts with version ${want.version}, want ${wantVersion}`);
      check(got.version.includes(`version ${wantVersion} `), `Try ${round}: predicted by "${got.version}", want version ${wantVersion}`);
    }
    check(got.marks.length > 0, `Try ${round}: "${text}": no highlighted features`);
    for (const m of got.marks) check(text.includes(m), `Try ${round}: highlight "${m}" is not part of the text`);
    check(got.features > 0, `Try ${round}: "${text}": no features listed`);
    if (round === "first" && i === 0) await shot(page, "try");
  }
}

/** First contentful paint and the app's first render, in ms, of each load. */
const firstPaint: number[] = [];
const appRendered: number[] = [];

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)] ?? -1;
}

async function main(): Promise<void> {
  await mkdir(outDir, { recursive: true });

  // The bundle's size, as a browser receives it (gzip).
  let gzipped = 0;
  for (const f of await readdir(bundleDir)) {
    if (f.endsWith(".js") || f.endsWith(".css")) gzipped += gzipSync(await readFile(join(bundleDir, f)), { level: 9 }).length;
  }
  check(gzipped <= bundleBudget, `the console's JavaScript and CSS are ${gzipped} bytes gzipped, over the ${bundleBudget}-byte budget`);

  const browser = await chromium.launch({
    executablePath: process.env["CHROMIUM"] ?? "/usr/bin/chromium",
    headless: true,
    timeout: 60_000,
    args: ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
      "--disable-component-update", "--disable-sync"],
  });
  try {
    const context = await browser.newContext({ viewport: { width: 1280, height: 900 }, acceptDownloads: true });
    context.setDefaultTimeout(30_000);
    const page = await context.newPage();
    watch(page);

    // First paint: the first load is cold; later ones revalidate the assets.
    for (let i = 0; i < 5; i++) {
      const res = await page.goto(`${origin}/console?load=${i}#/try`);
      check(res?.status() === 200, `/console: status ${res?.status()}`);
      await page.getByRole("heading", { level: 1, name: "Try" }).waitFor();
      const fcp = await page.evaluate(() => {
        const p = performance.getEntriesByName("first-contentful-paint")[0];
        const nav = performance.getEntriesByType("navigation")[0] as PerformanceNavigationTiming | undefined;
        const app = performance.getEntriesByName("console-rendered")[0];
        return { fcp: p?.startTime ?? -1, dcl: nav?.domContentLoadedEventEnd ?? -1, app: app?.startTime ?? -1 };
      });
      firstPaint.push(fcp.fcp);
      appRendered.push(fcp.app);
    }
    check(await page.title() === "Try · tagifai console", `Try: title ${await page.title()}`);

    // Try: the lesson's examples, then a project typed and sent with the keyboard.
    await checkTry(page, "first");
    await page.locator("#title").fill("");
    await page.locator("#title").focus();
    await page.keyboard.type("Kubernetes pipelines to deploy and monitor models");
    await page.keyboard.press("Tab");
    await page.keyboard.type("Serving, monitoring and CI for machine learning in production.");
    const typed = "Kubernetes pipelines to deploy and monitor models Serving, monitoring and CI for machine learning in production.";
    const wantTyped = await apiPredict(typed);
    await waitForNewResult(page, async () => {
      await page.keyboard.press("Tab");
      await page.keyboard.press("Enter");
    });
    const typedResult = await readResult(page);
    check(typedResult.tag === wantTyped.tag, `Try: typed project: tag ${typedResult.tag}, the API says ${wantTyped.tag}`);
    await runAxe(page, "Try");

    // An empty project is refused in words, before any request.
    await page.locator("#title").fill("");
    await page.locator("#description").fill("");
    await page.getByRole("button", { name: "Tag it" }).click();
    check((await page.getByRole("alert").first().textContent())?.includes("Type a title or a description") ?? false, "Try: an empty project is not refused in words");

    // Performance, the serving version, without a key.
    await goTo(page, "Performance");
    await page.getByTestId("report").first().waitFor();
    await page.locator(".report canvas").first().waitFor();
    const classRows = await page.locator(".report table.numbers", { has: page.locator("caption", { hasText: "Per class" }) }).locator("tbody tr").count();
    check(classRows === 4, `Performance: ${classRows} classes in the table, want 4`);
    check(await page.locator(".report table.numbers", { has: page.locator("caption", { hasText: "Slices" }) }).count() === 1, "Performance: no slices");
    check(await page.getByTestId("confusion-table").count() === 1, "Performance: no confusion matrix");
    check(await page.locator(".report canvas").count() === 2, "Performance: want two charts, per class and the confusion matrix");
    await runAxe(page, "Performance");

    // Registry: the key prompt; a wrong key is refused in words.
    await goTo(page, "Registry");
    const keyInput = page.getByLabel("API key", { exact: true });
    await keyInput.waitFor();
    expectedErrors = /status of 401/;
    await keyInput.fill("tgf_not-a-key");
    await page.getByRole("button", { name: "Use this key" }).click();
    await page.getByTestId("key-reason").filter({ hasText: "unknown or revoked" }).waitFor();
    check(await page.locator(".error, [role=alert]").filter({ hasText: "{" }).count() === 0, "Registry: an error is shown as raw JSON");
    expectedErrors = undefined;
    await page.getByLabel("API key", { exact: true }).fill(adminKey);
    await page.getByRole("button", { name: "Use this key" }).click();
    const versions = page.getByTestId("versions");
    await versions.locator("tr[data-version='1']").waitFor();
    check((await versions.locator("tr[data-version='1']").textContent())?.includes("serving") ?? false, "Registry: version 1 is not shown serving");
    await runAxe(page, "Registry");

    // Upload version 2, deploy it, see predictions come from it.
    await page.getByLabel("Version number").fill("2");
    await page.getByLabel(/^Artifact/).setInputFiles(artifact);
    await page.getByRole("button", { name: "Upload", exact: true }).click();
    await page.getByTestId("notice").filter({ hasText: "Uploaded version 2" }).waitFor();
    await versions.locator("tr[data-version='2']").waitFor();
    await page.getByRole("button", { name: "Deploy version 2" }).click();
    await page.getByTestId("notice").filter({ hasText: "Deployed: version 2 serves" }).waitFor();
    await page.getByTestId("serving").filter({ hasText: "version 2" }).waitFor();
    await shot(page, "registry");
    await goTo(page, "Try");
    await checkTry(page, "after deploying version 2", 2);

    // Performance with a key: two versions side by side.
    await goTo(page, "Performance");
    await page.getByLabel("Version", { exact: true }).selectOption("1");
    await page.getByLabel("Compare with").selectOption("2");
    await page.locator(".side-by-side [data-testid=report]").nth(1).waitFor();
    check(await page.locator(".side-by-side [data-testid=report]").count() === 2, "Performance: two versions are not side by side");
    await page.locator(".side-by-side canvas").last().waitFor();
    check(await page.locator(".side-by-side [data-testid=diff]").count() > 0, "Performance: versions 1 and 2 differ, but no difference is marked");
    await shot(page, "performance");
    await runAxe(page, "Performance (two versions)");

    // Roll back to version 1.
    await goTo(page, "Registry");
    await page.getByRole("button", { name: "Roll back to version 1" }).click();
    await page.getByTestId("notice").filter({ hasText: "Rolled back: version 1 serves" }).waitFor();
    await page.getByTestId("serving").filter({ hasText: "version 1" }).waitFor();
    await goTo(page, "Try");
    await checkTry(page, "after rolling back", 1);

    // Batch: a CSV job to the end, and its predictions downloaded.
    await goTo(page, "Batch");
    const items = [
      ["p1", lessonTexts[0] ?? ""],
      ["p2", lessonTexts[1] ?? ""],
      ["p3", "Comparison between YOLO and RCNN on real world videos"],
      ["p4", "MLflow, Kubeflow and feature stores: shipping models, monitoring drift"],
      ["p5", "\"Quoted\" title, with a comma: BERT for sentiment"],
    ] as const;
    const csv = "id,text\n" + items.map(([id, text]) => `${id},${/[",]/.test(text) ? `"${text.replace(/"/g, '""')}"` : text}`).join("\n") + "\n";
    await page.getByLabel("CSV file").setInputFiles({ name: "projects.csv", mimeType: "text/csv", buffer: Buffer.from(csv) });
    await page.getByRole("button", { name: "Start the job" }).click();
    const notice = page.getByRole("status").filter({ hasText: "was queued" });
    await notice.waitFor();
    const jobID = /Job ([0-9a-f]{16})/.exec((await notice.textContent()) ?? "")?.[1] ?? "";
    check(jobID !== "", "Batch: the page does not say which job was queued");
    const row = page.locator(`tr[data-job='${jobID}']`);
    await page.locator(`tr[data-job='${jobID}'][data-status='succeeded']`).waitFor({ timeout: 60_000 });
    check(await row.locator("progress").getAttribute("value") === "1", "Batch: the finished job's progress bar is not full");
    await shot(page, "batch");
    await runAxe(page, "Batch");
    const [download] = await Promise.all([page.waitForEvent("download"), row.getByRole("button", { name: /Download CSV/ }).click()]);
    const saved = join(await mkdtemp(join(tmpdir(), "console-test-")), download.suggestedFilename());
    await download.saveAs(saved);
    const lines = (await readFile(saved, "utf8")).trim().split(/\r?\n/);
    check(lines[0]?.startsWith("item_id,predicted_tag,model,version,") ?? false, `Batch: the download's header is ${lines[0]}`);
    check(lines.length === items.length + 1, `Batch: the download has ${lines.length - 1} predictions, want ${items.length}`);
    for (const [id, text] of items) {
      const want = await apiPredict(text);
      const line = lines.find((l) => l.startsWith(`${id},`));
      check(line?.startsWith(`${id},${want.tag},tagifai,1,`) ?? false, `Batch: ${id}: the download says ${line}, the API's tag is ${want.tag} by version 1`);
    }
    await writeFile(join(outDir, "console-batch-download.csv"), lines.join("\n") + "\n");

    await checkLive(page);
    await checkRollouts(page);
    await checkAudit(page);
    await checkViewer(page);
    closing = true;
    await context.close();
  } finally {
    await browser.close();
  }

  const foreign = requests.filter((u) => {
    const url = new URL(u);
    return url.protocol !== "data:" && url.protocol !== "blob:" && url.origin !== origin;
  });
  for (const u of new Set(foreign)) check(false, `the console requested ${u}, not on ${origin}`);
  for (const e of pageErrors) check(false, e);

  for (const f of failures) console.error(`FAIL  ${f}`);
  const figures = `bundle ${(gzipped / 1024).toFixed(1)} KB gzipped (budget ${bundleBudget / 1024} KB); first contentful paint median ${median(firstPaint).toFixed(0)} ms ` +
    `(loads: ${firstPaint.map((x) => x.toFixed(0)).join(", ")} ms), app rendered median ${median(appRendered).toFixed(0)} ms; ` +
    `axe: ${axeSummary.join("; ")}`;
  if (failures.length > 0) {
    console.log(`console-test: FAIL: ${failures.length} problems; ${figures}; screenshots in ${outDir}`);
    process.exit(1);
  }
  console.log(`console-test: ok: Try, Performance, Registry (upload, deploy, roll back), Batch, Live, rollouts (shadow, 412, abort, canary, promotion, guard) and the audit trail through the page, ` +
    `${requests.length} requests all to ${origin}; ${figures}; screenshots in ${outDir}`);
}

/** refreshUntil clicks the Live page's "Refresh now" until ok holds, for up to 30 s. */
async function refreshUntil(page: Page, what: string, ok: () => Promise<boolean>): Promise<boolean> {
  for (let i = 0; i < 60; i++) {
    if (await ok()) return true;
    await page.getByTestId("refresh").click();
    await page.waitForTimeout(500);
  }
  check(false, `Live: ${what}`);
  return false;
}

/** checkLive: the Live page before feedback, then with predictions and feedback. */
async function checkLive(page: Page): Promise<void> {
  await goTo(page, "Live");
  const serving = page.locator("[data-testid=version-live][data-version='1']");
  await serving.waitFor();
  await serving.getByTestId("no-feedback").waitFor();
  check(await serving.getByTestId("drift").locator("tbody tr").count() === 4, "Live: want four drift tests (tags, confidence, length, OOV rate)");

  // The fixture's projects, twice, and the true tags of the first round.
  const projects = await readFixture();
  const first = await predictAll(projects.map((p) => p.text));
  await predictAll(projects.map((p) => p.text));
  check(first.version === 1, `Live: the fixture was predicted by version ${first.version}, want 1`);
  const fb = await apiCall("POST", "/feedback", { items: first.predictions.map((p, i) => ({ prediction_id: p.prediction_id, tag: projects[i]?.tag ?? "" })) });
  check(fb.status === 200 && fb.body.data.accepted === projects.length, `Live: feedback: ${fb.status}, ${fb.body.data?.accepted} accepted, want ${projects.length}`);

  // One more true tag, through Try's "Was this right?".
  await goTo(page, "Try");
  await waitForNewResult(page, () => page.getByRole("button", { name: lessonTexts[0] ?? "" }).click());
  await page.getByLabel("The true tag").selectOption("natural-language-processing");
  await page.getByRole("button", { name: "Send the true tag" }).click();
  await page.getByTestId("feedback-said").filter({ hasText: "the true tag is recorded" }).waitFor();
  const labels = projects.length + 1;

  await goTo(page, "Live");
  const window = 2 * projects.length + 1;
  await refreshUntil(page, `the window never showed ${window} predictions`, async () => {
    const text = (await serving.getByTestId("window").textContent()) ?? "";
    return Number(/the last (\d+) of/.exec(text)?.[1] ?? 0) >= window;
  });
  await refreshUntil(page, `the live performance never showed ${labels} labels`, async () =>
    (await serving.getByTestId("labels").count()) > 0 && ((await serving.getByTestId("labels").textContent()) ?? "").includes(`${labels} since it serves`));
  // The page's figures are the API's.
  const mon = await apiCall("GET", "/monitoring");
  const v1 = mon.body.data.versions[0];
  const overall = (await serving.getByTestId("live-overall").locator("td").allTextContents()).map((t) => t.trim());
  check(overall[6] === v1.live_performance.all.overall.f1.toFixed(3), `Live: overall F1 since serving shows ${overall[6]}, the API says ${v1.live_performance.all.overall.f1}`);
  check(overall[7] === String(labels), `Live: overall labels since serving shows ${overall[7]}, want ${labels}`);
  const verdicts = await serving.getByTestId("drift-verdict").allTextContents();
  check(verdicts.length === 4 && verdicts.every((v) => v === "drifted" || v === "no drift"), `Live: with ${window} predictions every drift test should judge: ${verdicts.join(", ")}`);
  const drifted = v1.drift.map((d: { drifted: boolean }) => (d.drifted ? "drifted" : "no drift"));
  check(JSON.stringify(verdicts) === JSON.stringify(drifted), `Live: drift verdicts ${verdicts.join(", ")}, the API says ${drifted.join(", ")}`);
  check(await serving.locator("canvas").count() === 3, `Live: ${await serving.locator("canvas").count()} charts, want 3 (tags, confidence, live F1)`);
  await serving.locator("[data-testid=verdict], [data-testid=too-little]").first().waitFor();
  await shot(page, "live");
  await runAxe(page, "Live");

  // Another version beside the serving one.
  await page.getByLabel("Also show").selectOption("2");
  await page.locator("[data-testid=version-live][data-version='2']").waitFor();
  check(await page.getByTestId("version-live").count() === 2, "Live: version 2 is not shown beside the serving version");
  await page.getByLabel("Also show").selectOption("none");
  await page.locator("[data-testid=version-live][data-version='2']").waitFor({ state: "detached" });
}

/** rolloutStatus waits until the page shows the rollout in this status (and mode). */
async function rolloutStatus(page: Page, status: string, mode?: string): Promise<void> {
  await page.locator(`[data-testid=rollout-status][data-status=${status}]${mode ? `[data-mode=${mode}]` : ""}`).waitFor();
}

/** checkRollouts: a guarded shadow rollout with its figures, a 412, an abort; a canary promoted. */
async function checkRollouts(page: Page): Promise<void> {
  await goTo(page, "Registry");
  const rollout = page.getByTestId("rollout");
  await rollout.getByTestId("no-rollout").waitFor();

  // Shadow, with a guard that cannot fire on so few predictions.
  await page.getByLabel("Candidate version").selectOption("2");
  await page.getByRole("radio", { name: /shadow/ }).check();
  await page.getByLabel("Share of requests shadowed (%)").fill("100");
  await page.getByRole("checkbox", { name: /Abort on its own/ }).check();
  await page.getByLabel("Least agreement (%)").fill("50");
  await page.getByLabel("Predictions to compare before judging").fill("1000");
  await page.getByRole("button", { name: "Start the rollout" }).click();
  await page.getByTestId("notice").filter({ hasText: "Started a shadow rollout" }).waitFor();
  await rolloutStatus(page, "active", "shadow");
  check(((await rollout.getByTestId("guard").textContent()) ?? "").includes("below 50.0% once 1000"), "Rollout: the guard is not shown");

  // A few predictions; the agreement is what both versions' own answers give.
  const texts = (await readFixture()).slice(0, 20).map((p) => p.text);
  await predictAll(texts);
  const tagsOf = async (version: number) =>
    ((await apiCall("POST", `/models/tagifai/versions/${version}/predictions`, { texts: texts.map((text) => ({ text })) })).body.data.predictions as ApiPrediction[]).map((p) => p.predicted_tag);
  const [t1, t2] = [await tagsOf(1), await tagsOf(2)];
  const agreed = t1.filter((t, i) => t === t2[i]).length;
  const agreement = rollout.getByTestId("agreement");
  await agreement.filter({ hasText: `of ${texts.length} predictions compared` }).waitFor();
  const shown = (await agreement.textContent()) ?? "";
  check(shown.includes(`${agreed} of ${texts.length} predictions compared`) && shown.includes(`${((agreed / texts.length) * 100).toFixed(1)}%`),
    `Rollout: shadow agreement shows "${shown}", a direct comparison gives ${agreed} of ${texts.length}`);
  check((await rollout.locator("tr[data-side=candidate] [data-testid=requests]").textContent()) === "1", "Rollout: the shadow candidate did not count the one request");
  check(await rollout.getByTestId("shadow-confusion").locator("tbody tr").count() === 4, "Rollout: no confusion between the versions' tags");
  check(await rollout.locator("canvas").count() === 2, "Rollout: want two charts, tags by version and the confusion");
  await shot(page, "rollout-shadow");
  await runAxe(page, "Registry (shadow rollout)");

  // Someone else changes the rollout: the page's abort is refused in words, nothing changes.
  const changed = await apiCall("PUT", "/models/tagifai/rollout", { candidate: 2, mode: "shadow", percent: 50 });
  check(changed.status === 200, `Rollout: changing it through the API: ${changed.status}`);
  expectedErrors = /status of 412/;
  await page.getByRole("button", { name: "Abort the rollout" }).click();
  await page.getByTestId("stale").filter({ hasText: "Someone else changed this model" }).waitFor();
  expectedErrors = undefined;
  const still = await apiCall("GET", "/models/tagifai/rollout");
  check(still.body.data.status === "active", `Rollout: a refused abort ended the rollout (${still.body.data.status})`);
  await page.getByTestId("stale").getByRole("button", { name: "Reload" }).click();
  await rollout.getByText("copy of 50% of the requests").waitFor();
  await page.getByRole("button", { name: "Abort the rollout" }).click();
  await page.getByTestId("notice").filter({ hasText: "Aborted the rollout of version 2" }).waitFor();
  await rolloutStatus(page, "aborted");

  // A canary for a fifth of the callers, guarded by its live F1 (on more
  // labels than come back here): the page counts what the callers saw.
  await page.getByRole("radio", { name: /canary/ }).check();
  await page.getByLabel("Share of callers answered by the candidate (%)").fill("20");
  const guardBox = page.getByRole("checkbox", { name: /live F1 falls too low/ });
  if (!(await guardBox.isChecked())) await guardBox.check();
  await page.getByLabel("Least live F1 (0 to 1)").fill("0.75");
  await page.getByLabel("Feedback labels to collect before judging").fill("500");
  await page.getByRole("button", { name: "Start the rollout" }).click();
  await page.getByTestId("notice").filter({ hasText: "Started a canary rollout" }).waitFor();
  await rolloutStatus(page, "active", "canary");
  const canaryGuard = await apiCall("GET", "/models/tagifai/rollout");
  check(canaryGuard.body.data.guard?.min_live_f1 === 0.75 && canaryGuard.body.data.guard?.min_labels === 500,
    `Rollout: the canary's guard is ${JSON.stringify(canaryGuard.body.data.guard)}, want min_live_f1 0.75 and min_labels 500`);
  check(((await rollout.getByTestId("guard").textContent()) ?? "").includes("live F1 falls below 0.75 once 500"), "Rollout: the canary's guard is not shown");
  let byCandidate = 0;
  const callers = 40;
  for (let i = 0; i < callers; i++) {
    if ((await predictAll([texts[i % texts.length] ?? ""], `caller-${i}`)).version === 2) byCandidate++;
  }
  check(byCandidate > 0 && byCandidate < callers, `Rollout: the canary answered ${byCandidate} of ${callers} callers`);
  await rollout.locator("tr[data-side=candidate] [data-testid=requests]").filter({ hasText: new RegExp(`^${byCandidate}$`) }).waitFor();
  await rollout.locator("tr[data-side=serving] [data-testid=requests]").filter({ hasText: new RegExp(`^${callers - byCandidate}$`) }).waitFor();
  await shot(page, "rollout-canary");
  await runAxe(page, "Registry (canary rollout)");

  // Promote it: version 2 serves, the rollout has ended.
  await page.getByRole("button", { name: "Promote version 2" }).click();
  await page.getByTestId("notice").filter({ hasText: "Promoted version 2" }).waitFor();
  await page.getByTestId("serving").filter({ hasText: "version 2" }).waitFor();
  await rolloutStatus(page, "promoted");
  check((await predictAll([texts[0] ?? ""], "caller-0")).version === 2, "Rollout: after the promotion, version 2 does not answer");

  // A guard that fires: version 1 shadows version 2, which must agree on
  // every text; the page says what fired.
  const pool = [...lessonTexts, "Comparison between YOLO and RCNN on real world videos", "MLflow, Kubeflow and feature stores: shipping models, monitoring drift",
    "A recipe blog about sourdough bread", "Reinforcement learning agents play Atari games", "Speech recognition with wav2vec", "Time series forecasting of sales with ARIMA",
    "Docker images for Jupyter notebooks", "Image captioning with attention", "Weekly newsletter of machine learning papers", "Recommender systems with matrix factorization"];
  const tagsBy = async (version: number) =>
    ((await apiCall("POST", `/models/tagifai/versions/${version}/predictions`, { texts: pool.map((text) => ({ text })) })).body.data.predictions as ApiPrediction[]).map((p) => p.predicted_tag);
  const [p1, p2] = [await tagsBy(1), await tagsBy(2)];
  const differing = pool.filter((_, i) => p1[i] !== p2[i]);
  check(differing.length > 0, "Rollout: versions 1 and 2 agree on every text of the pool; the guard cannot be shown firing");
  if (differing.length > 0) {
    await page.getByLabel("Candidate version").selectOption("1");
    await page.getByRole("radio", { name: /shadow/ }).check();
    await page.getByRole("checkbox", { name: /Abort on its own/ }).check();
    await page.getByLabel("Least agreement (%)").fill("99");
    await page.getByLabel("Predictions to compare before judging").fill("1");
    await page.getByRole("button", { name: "Start the rollout" }).click();
    await page.getByTestId("notice").filter({ hasText: "Started a shadow rollout" }).waitFor();
    await rolloutStatus(page, "active", "shadow");
    await predictAll(differing);
    await rolloutStatus(page, "aborted");
    await page.getByTestId("guard-fired").waitFor();
    check(((await page.getByTestId("guard-fired").textContent()) ?? "").includes("agreement"), "Rollout: the page does not say what the guard found");
    // The page follows: the audit trail shows the guard's abort without a reload.
    await page.locator("[data-testid=audit-events] tr[data-action='rollout.guard_abort']").waitFor();
    await shot(page, "rollout-guard");
  }
}

/** checkAudit: the audit trail of the page's actions, newest first, filtered and paged. */
async function checkAudit(page: Page): Promise<void> {
  const audit = page.getByTestId("audit");
  const rows = audit.getByTestId("audit-events").locator("tbody tr");
  const read = async () => ({
    ids: (await rows.evaluateAll((trs) => trs.map((tr) => Number(tr.getAttribute("data-event"))))),
    actions: (await rows.evaluateAll((trs) => trs.map((tr) => tr.getAttribute("data-action") ?? ""))),
    cells: (await rows.evaluateAll((trs) => trs.map((tr) => Array.from(tr.children).map((c) => c.textContent ?? "")))),
  });
  await audit.getByLabel("Per page").selectOption("100");
  await audit.getByTestId("audit-page").filter({ hasText: "Page 1" }).waitFor();
  await rows.filter({ has: page.locator("code", { hasText: "rollout.promote" }) }).first().waitFor();
  const all = await read();
  check(all.ids.every((id, i) => i === 0 || id < (all.ids[i - 1] ?? 0)), `Audit: events are not newest first: ${all.ids.join(", ")}`);
  // The page's actions, newest first (other events may come between).
  const want = ["rollout.guard_abort", "rollout.start", "rollout.promote", "rollout.start", "rollout.abort", "rollout.change", "rollout.start", "batch_job.create", "serving.rollback", "serving.deploy", "version.upload"];
  let at = 0;
  for (const a of all.actions) if (a === want[at]) at++;
  check(at === want.length, `Audit: want ${want.join(", ")} in this order, newest first; got ${all.actions.join(", ")}`);
  const promote = all.cells[all.actions.indexOf("rollout.promote")] ?? [];
  check(promote[1] === adminUser, `Audit: the promotion was by ${promote[1]}, want ${adminUser}`);
  const guarded = all.cells[all.actions.indexOf("rollout.guard_abort")] ?? [];
  check(guarded[1] === "guard", `Audit: the guard's abort was by ${guarded[1]}, want guard`);

  // Filtered by resource, then by user.
  await audit.getByLabel("Resource").fill("models/tagifai/rollout");
  await audit.getByRole("button", { name: "Filter" }).click();
  await audit.getByTestId("audit-events").locator("caption", { hasText: "on models/tagifai/rollout" }).waitFor();
  const rolloutOnly = await read();
  check(rolloutOnly.cells.length === 7 && rolloutOnly.cells.every((c) => c[3] === "models/tagifai/rollout"),
    `Audit: the rollout's events are ${rolloutOnly.cells.map((c) => `${c[3]} ${c[2]}`).join("; ")}`);
  await audit.getByLabel("Resource").fill("");
  await audit.getByLabel("User").fill("nobody-at-all");
  await audit.getByRole("button", { name: "Filter" }).click();
  await audit.getByTestId("audit-empty").waitFor();
  await audit.getByLabel("User").fill(adminUser);
  await audit.getByRole("button", { name: "Filter" }).click();
  await audit.getByTestId("audit-events").locator("caption", { hasText: `by ${adminUser}` }).waitFor();
  const mine = await read();
  check(mine.cells.length >= want.length - 1 && mine.cells.every((c) => c[1] === adminUser), `Audit: the admin's events: ${mine.cells.map((c) => c[1]).join(", ")}`);

  // A page at a time.
  await audit.getByLabel("User").fill("");
  await audit.getByRole("button", { name: "Filter" }).click();
  await audit.getByLabel("Per page").selectOption("10");
  await audit.getByTestId("audit-page").filter({ hasText: "Page 1" }).waitFor();
  await page.waitForFunction(() => document.querySelectorAll("[data-testid=audit-events] tbody tr").length === 10);
  const page1 = await read();
  await audit.getByRole("button", { name: "Older" }).click();
  await audit.getByTestId("audit-page").filter({ hasText: "Page 2" }).waitFor();
  await page.waitForFunction((last) => {
    const first = document.querySelector("[data-testid=audit-events] tbody tr");
    return first !== null && Number(first.getAttribute("data-event")) < last;
  }, page1.ids[page1.ids.length - 1] ?? 0);
  const page2 = await read();
  check(page2.ids.length > 0 && page2.ids.every((id) => id < Math.min(...page1.ids)), `Audit: page 2 (${page2.ids.join(", ")}) is not older than page 1 (${page1.ids.join(", ")})`);
  await shot(page, "audit");
  await runAxe(page, "Registry (audit trail)");
  await audit.getByRole("button", { name: "Newest" }).click();
  await audit.getByTestId("audit-page").filter({ hasText: "Page 1" }).waitFor();
}

/** checkViewer: a viewer's key sees the rollout, and is told in place that the audit trail needs the admin role. */
async function checkViewer(page: Page): Promise<void> {
  const created = await apiCall("POST", "/users", { name: "console-viewer", role: "viewer" });
  check(created.status === 201, `Viewer: creating a viewer: ${created.status}`);
  await page.getByRole("button", { name: "Forget the key" }).click();
  await page.getByLabel("API key", { exact: true }).fill(String(created.body.data?.api_key ?? ""));
  expectedErrors = /status of 403/;
  await page.getByRole("button", { name: "Use this key" }).click();
  await page.getByTestId("audit-forbidden").waitFor();
  await page.getByTestId("rollout-status").waitFor();
  check(await page.getByLabel("API key", { exact: true }).count() === 0, "Viewer: the audit trail's 403 asks for another key instead of saying so in place");
  await runAxe(page, "Registry (viewer)");
  expectedErrors = undefined;
}

await main();
