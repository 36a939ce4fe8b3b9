// The tagifai console: a single-page app over the public API. Pages are
// chosen by the URL's hash (#/try, #/performance, #/live, #/registry,
// #/batch), so the server serves one page, GET /console.

import "./style.css";

import { render } from "preact";
import { useEffect, useState } from "preact/hooks";

import { api, must } from "./client";
import { KeyPrompt, KeyStatus } from "./key";
import { BatchPage } from "./pages/batch";
import { LivePage } from "./pages/live";
import { PerformancePage } from "./pages/performance";
import { RegistryPage } from "./pages/registry";
import { TryPage } from "./pages/try";
import { useSession } from "./ui";

const pages = {
  try: { title: "Try", component: TryPage },
  performance: { title: "Performance", component: PerformancePage },
  live: { title: "Live", component: LivePage },
  registry: { title: "Registry", component: RegistryPage },
  batch: { title: "Batch", component: BatchPage },
} as const;

type PageName = keyof typeof pages;

function pageFromHash(): PageName {
  const name = location.hash.replace(/^#\/?/, "");
  return name in pages ? (name as PageName) : "try";
}

/** Serving says which version answers predictions; it refreshes when told to. */
function Serving({ refresh }: { refresh: number }) {
  const [text, setText] = useState("");
  useEffect(() => {
    must(api.GET("/"))
      .then((h) => setText(`Serving ${h.data.model} version ${h.data.version}`))
      .catch(() => setText("No model is serving"));
  }, [refresh]);
  return <span class="serving" data-testid="serving">{text}</span>;
}

function App() {
  const [page, setPage] = useState<PageName>(pageFromHash());
  const [refresh, setRefresh] = useState(0);
  const s = useSession();
  useEffect(() => {
    const onHash = () => setPage(pageFromHash());
    addEventListener("hashchange", onHash);
    return () => removeEventListener("hashchange", onHash);
  }, []);
  useEffect(() => {
    document.title = `${pages[page].title} · tagifai console`;
    setRefresh((r) => r + 1);
  }, [page]);
  const Page = pages[page].component;
  return (
    <>
      <a class="skip" href="#main" onClick={(e) => { e.preventDefault(); document.getElementById("main")?.focus(); }}>Skip to the page</a>
      <header>
        <div class="brand">tagifai <span>console</span></div>
        <nav aria-label="Pages">
          <ul>
            {(Object.keys(pages) as PageName[]).map((p) => (
              <li key={p}>
                <a href={`#/${p}`} aria-current={p === page ? "page" : undefined}>{pages[p].title}</a>
              </li>
            ))}
          </ul>
        </nav>
        <div class="status">
          <Serving refresh={refresh} />
          <KeyStatus />
        </div>
      </header>
      {s.needed !== "" && <KeyPrompt reason={s.needed} />}
      <main id="main" tabIndex={-1}>
        <h1>{pages[page].title}</h1>
        <Page key={`${page}-${s.generation}`} onServingChange={() => setRefresh((r) => r + 1)} />
      </main>
      <footer>
        API: <a href="/docs">Swagger UI</a> · <a href="/redoc">ReDoc</a> · <a href="/openapi.yaml">openapi.yaml</a>
      </footer>
    </>
  );
}

const root = document.getElementById("app");
if (root) {
  root.textContent = ""; // the page's static shell, painted while this script loaded
  render(<App />, root);
  // The app's first render, for the browser test's first-paint report.
  performance.mark("console-rendered");
}
