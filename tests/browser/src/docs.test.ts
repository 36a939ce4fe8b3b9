// docs.test.ts opens the docs pages of a running tagifai, /docs (Swagger UI)
// and /redoc (ReDoc), in Debian's Chromium driven by playwright-core, and
// checks that
//
//   - every operation of openapi.yaml is listed on both pages;
//   - Swagger UI's "Try it out" -> "Execute" on POST /predict, with the
//     spec's example body, gets a 200 with a predicted tag, shown on the page;
//   - neither page makes a request to any host but the server's, and
//     neither logs an error (a Content-Security-Policy violation included).
//
// It saves out/docs-after-execute.png and out/redoc.png. The exit status is
// 1 when any check fails; the last line, on stdout, sums them up.
//
//   BASE_URL=http://127.0.0.1:8000 [SPEC=openapi.yaml] [OUT=dir] node out/js/docs.test.js

import { mkdir, readFile } from "node:fs/promises";
import { fileURLToPath } from "node:url";

import { load } from "js-yaml";
import { chromium, type BrowserContext, type Page } from "playwright-core";

/** An operation of the spec. */
interface Operation {
  method: string;
  path: string;
  operationId: string;
  summary: string;
}

const methods = ["get", "put", "post", "delete", "options", "head", "patch", "trace"];

/** readOperations returns every operation of the spec at specPath. */
async function readOperations(specPath: string): Promise<Operation[]> {
  const doc = load(await readFile(specPath, "utf8")) as { paths?: Record<string, Record<string, unknown>> };
  const ops: Operation[] = [];
  for (const [path, item] of Object.entries(doc.paths ?? {})) {
    for (const [method, op] of Object.entries(item)) {
      if (!methods.includes(method)) continue;
      const { operationId, summary } = op as { operationId?: unknown; summary?: unknown };
      if (typeof operationId !== "string" || typeof summary !== "string") {
        throw new Error(`${method.toUpperCase()} ${path}: no operationId or summary in the spec`);
      }
      ops.push({ method, path, operationId, summary });
    }
  }
  if (ops.length === 0) throw new Error(`${specPath}: no operations`);
  return ops;
}

const baseURL = process.env["BASE_URL"] ?? "";
if (baseURL === "") {
  console.error("usage: BASE_URL=http://HOST:PORT [SPEC=openapi.yaml] [OUT=dir] node out/js/docs.test.js");
  process.exit(2);
}
const specPath = process.env["SPEC"] ?? fileURLToPath(new URL("../../../../openapi.yaml", import.meta.url));
const outDir = process.env["OUT"] ?? fileURLToPath(new URL("../", import.meta.url));
const serverOrigin = new URL(baseURL).origin;

const failures: string[] = [];
function check(ok: boolean, message: string): void {
  if (!ok) failures.push(message);
}

/** Every request a page made, and every error it logged. */
const requests: string[] = [];
const pageErrors: string[] = [];

/** watch records the requests and errors of page, prefixed by its name. */
function watch(page: Page, name: string): void {
  page.on("request", (r) => requests.push(r.url()));
  page.on("requestfailed", (r) => pageErrors.push(`${name}: request failed: ${r.url()}: ${r.failure()?.errorText ?? ""}`));
  page.on("console", (m) => {
    if (m.type() !== "error") return;
    pageErrors.push(`${name}: console: ${m.text()}${m.location().url ? ` (${m.location().url})` : ""}`);
  });
  page.on("pageerror", (e) => pageErrors.push(`${name}: uncaught: ${e.message}`));
}

/**
 * checkSwagger opens /docs, checks that every operation is listed with its
 * method, path and summary, and runs "Try it out" -> "Execute" on
 * POST /predict with the example body.
 */
async function checkSwagger(context: BrowserContext, ops: Operation[]): Promise<void> {
  const page = await context.newPage();
  watch(page, "/docs");
  const res = await page.goto(`${baseURL}/docs`);
  check(res?.status() === 200, `/docs: status ${res?.status()}`);
  await page.locator(".opblock").first().waitFor();
  const listed = await page.locator(".opblock").evaluateAll((blocks) =>
    blocks.map((b) => ({
      method: b.querySelector(".opblock-summary-method")?.textContent?.trim().toLowerCase() ?? "",
      path: b.querySelector(".opblock-summary-path")?.getAttribute("data-path") ?? "",
      summary: b.querySelector(".opblock-summary-description")?.textContent?.trim() ?? "",
    })),
  );
  for (const op of ops) {
    const found = listed.find((l) => l.method === op.method && l.path === op.path);
    check(found !== undefined, `/docs: ${op.method.toUpperCase()} ${op.path} (${op.operationId}) is not listed`);
    if (found) check(found.summary === op.summary, `/docs: ${op.operationId}: summary ${JSON.stringify(found.summary)}, want ${JSON.stringify(op.summary)}`);
  }
  check(listed.length === ops.length, `/docs: ${listed.length} operations listed, the spec has ${ops.length}`);

  const predict = ops.find((o) => o.operationId === "predict");
  if (!predict) {
    check(false, "the spec has no predict operation");
    return;
  }
  const block = page.locator(".opblock", { has: page.locator(`.opblock-summary-path[data-path="${predict.path}"]`) })
    .filter({ has: page.locator(".opblock-summary-method", { hasText: /^POST$/ }) });
  await block.locator(".opblock-summary-control").click();
  const tryIt = block.getByRole("button", { name: "Try it out" });
  if (await tryIt.count() > 0) await tryIt.click();
  const body = await block.locator(".body-param textarea").inputValue();
  check(body.includes('"texts"'), `/docs: the request body is not the example: ${body}`);

  const [response] = await Promise.all([
    page.waitForResponse((r) => r.request().method() === "POST" && new URL(r.url()).pathname === predict.path),
    block.getByRole("button", { name: "Execute" }).click(),
  ]);
  check(response.status() === 200, `/docs: Execute: status ${response.status()}, want 200`);
  const json = (await response.json()) as { data?: { predictions?: Array<{ predicted_tag?: unknown }> } };
  const tags = (json.data?.predictions ?? []).map((p) => p.predicted_tag);
  check(tags.length > 0 && tags.every((t) => typeof t === "string" && t !== ""), `/docs: Execute: no predicted tags in ${JSON.stringify(json)}`);

  const live = block.locator(".live-responses-table");
  await live.locator(".response-col_status").first().waitFor();
  const shownStatus = (await live.locator("tbody .response-col_status").first().textContent())?.trim();
  check(shownStatus === "200", `/docs: the page shows status ${shownStatus}, want 200`);
  const shownBody = (await live.locator(".response-col_description pre").first().textContent()) ?? "";
  for (const tag of tags) {
    check(shownBody.includes(`"predicted_tag": "${String(tag)}"`), `/docs: the page does not show the predicted tag ${String(tag)}`);
  }
  // From the operation's heading to the live response: the example body,
  // Execute, the curl command, the request URL and the server's answer.
  // Boxes are relative to the viewport; at the top of the page they are
  // page coordinates, which a full-page clip takes.
  await page.evaluate(() => window.scrollTo(0, 0));
  const top = await block.boundingBox();
  const bottom = await live.boundingBox();
  if (top && bottom) {
    await page.screenshot({
      path: `${outDir}/docs-after-execute.png`, fullPage: true,
      clip: { x: top.x, y: top.y, width: top.width, height: bottom.y + bottom.height - top.y },
    });
  } else {
    await block.screenshot({ path: `${outDir}/docs-after-execute.png` });
  }
  await page.close();
}

/**
 * checkRedoc opens /redoc and checks that every operation has its section,
 * headed by its summary, and its entry in the side menu.
 */
async function checkRedoc(context: BrowserContext, ops: Operation[]): Promise<void> {
  const page = await context.newPage();
  watch(page, "/redoc");
  const res = await page.goto(`${baseURL}/redoc`);
  check(res?.status() === 200, `/redoc: status ${res?.status()}`);
  await page.locator('[id^="operation/"]').first().waitFor();
  const sections = await page.locator('[id^="operation/"]').evaluateAll((els) =>
    els.map((e) => ({ id: e.id.slice("operation/".length), heading: e.querySelector("h2")?.textContent?.trim() ?? "" })),
  );
  const menu = await page.locator('[role="menuitem"], .menu-content li label').allTextContents();
  for (const op of ops) {
    const s = sections.find((x) => x.id === op.operationId);
    check(s !== undefined, `/redoc: ${op.operationId} has no section`);
    if (s) check(s.heading === op.summary, `/redoc: ${op.operationId}: heading ${JSON.stringify(s.heading)}, want ${JSON.stringify(op.summary)}`);
    check(menu.some((m) => m.includes(op.summary)), `/redoc: ${op.operationId} (${op.summary}) is not in the menu`);
  }
  check(sections.length === ops.length, `/redoc: ${sections.length} operations, the spec has ${ops.length}`);
  // The menu, and POST /predict from its heading, with its samples.
  await page.locator('[id="operation/predict"]').evaluate((e) => e.scrollIntoView({ block: "start" }));
  await page.waitForTimeout(300); // the menu follows the scroll position
  await page.screenshot({ path: `${outDir}/redoc.png` });
  await page.close();
}

const ops = await readOperations(specPath);
await mkdir(outDir, { recursive: true });
const browser = await chromium.launch({
  executablePath: process.env["CHROMIUM"] ?? "/usr/bin/chromium",
  headless: true,
  timeout: 60_000,
  args: ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
    "--disable-component-update", "--disable-sync"],
});
try {
  const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
  context.setDefaultTimeout(30_000);
  for (const [name, run] of [["/docs", checkSwagger], ["/redoc", checkRedoc]] as const) {
    try {
      await run(context, ops);
    } catch (err) {
      check(false, `${name}: ${err instanceof Error ? err.message : String(err)}`);
    }
  }
  await context.close();
} finally {
  await browser.close();
}

const foreign = requests.filter((u) => {
  const url = new URL(u);
  return url.protocol !== "data:" && url.protocol !== "blob:" && url.origin !== serverOrigin;
});
for (const u of new Set(foreign)) check(false, `a page requested ${u}, not on ${serverOrigin}`);
for (const e of pageErrors) check(false, e);

for (const f of failures) console.error(`FAIL  ${f}`);
if (failures.length > 0) {
  console.log(`browser-test: FAIL: ${failures.length} problems on ${serverOrigin}; screenshots in ${outDir}`);
  process.exit(1);
}
console.log(`browser-test: ok: ${ops.length} operations listed on /docs and /redoc, Execute on POST /predict gave 200, ` +
  `${requests.length} requests all to ${serverOrigin}; screenshots in ${outDir}`);
