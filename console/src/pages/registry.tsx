// Registry: the versions with their metrics and which one serves, the
// rollout and the audit trail; with an admin key, upload, deploy, roll back,
// and start, abort or promote a rollout. Changes carry the model's revision
// as the page read it (If-Match): a change made meanwhile by someone else is
// refused (412) and the page says so.

import { useEffect, useRef, useState } from "preact/hooks";

import type { components } from "../api";
import { api, ifMatch, modelName, must, mustTagged, session } from "../client";
import { bytes, ErrorBox, num3, when } from "../ui";
import { AuditTrail } from "./audit";
import { RolloutSection } from "./rollout";

type VersionInfo = components["schemas"]["VersionInfo"];

const path = { "model-name": modelName };

export function RegistryPage({ onServingChange }: { onServingChange: () => void }) {
  const [versions, setVersions] = useState<VersionInfo[]>();
  const [error, setError] = useState<unknown>();
  const [notice, setNotice] = useState("");
  const [busy, setBusy] = useState(false);
  const [reload, setReload] = useState(0);
  // The model's revision when the page read it, sent back in If-Match.
  const [etag, setEtag] = useState("");
  // Where the outcome of an action shows, scrolled into view when it changes.
  const outcome = useRef<HTMLDivElement>(null);
  useEffect(() => outcome.current?.scrollIntoView({ block: "nearest" }), [error, notice]);

  useEffect(() => {
    if (session.key === "") {
      session.need("The registry needs an API key (the viewer role to look, admin to act).");
      return;
    }
    (async () => {
      const model = await mustTagged(api.GET("/models/{model-name}", { params: { path } }));
      setEtag(model.etag);
      const list = await must(api.GET("/models/{model-name}/versions", { params: { path } }));
      // The list has no performance; each version's own answer does.
      const full = await Promise.all(
        list.data.versions.map((v) => must(api.GET("/models/{model-name}/versions/{version}", { params: { path: { ...path, version: v.version } } })).then((r) => r.data, () => v)),
      );
      setVersions(full);
    })().catch(setError);
  }, [reload]);

  async function act(what: () => Promise<string>): Promise<void> {
    setBusy(true);
    setError(undefined);
    setNotice("");
    try {
      setNotice(await what());
      setReload((r) => r + 1);
      onServingChange();
    } catch (err) {
      setError(err);
    } finally {
      setBusy(false);
    }
  }

  const serving = versions?.find((v) => v.serving)?.version ?? 0;
  const next = Math.max(0, ...(versions ?? []).map((v) => v.version)) + 1;

  function serve(version: number): Promise<void> {
    return act(async () => {
      await must(api.PUT("/models/{model-name}/serving-version", { params: { path, header: ifMatch(etag) }, body: { version } }));
      return version < serving ? `Rolled back: version ${version} serves.` : `Deployed: version ${version} serves.`;
    });
  }

  return (
    <div class="registry">
      <p class="lead">The versions of the <code>{modelName}</code> model. Looking needs a key with the viewer role; uploading, deploying and rolling back need the admin role.</p>
      <div ref={outcome} class="outcome">
        <ErrorBox error={error} onReload={() => { setError(undefined); setNotice(""); setReload((r) => r + 1); }} />
        {notice !== "" && <p class="notice" role="status" data-testid="notice">{notice}</p>}
      </div>
      {versions && (
        <table class="numbers versions" data-testid="versions">
          <caption>Versions, oldest first</caption>
          <thead>
            <tr><th scope="col">version</th><th scope="col">serving</th><th scope="col">F1</th><th scope="col">precision</th><th scope="col">recall</th><th scope="col">run</th><th scope="col">uploaded</th><th scope="col">by</th><th scope="col">size</th><th scope="col">action</th></tr>
          </thead>
          <tbody>
            {versions.map((v) => {
              const o = v.performance?.overall;
              return (
                <tr key={v.version} class={v.serving ? "winner" : undefined} data-version={v.version}>
                  <th scope="row">{v.version}</th>
                  <td>{v.serving ? <strong class="badge">serving</strong> : ""}</td>
                  <td>{o ? num3(o.f1) : "—"}</td>
                  <td>{o ? num3(o.precision) : "—"}</td>
                  <td>{o ? num3(o.recall) : "—"}</td>
                  <td><code>{v.run_id}</code></td>
                  <td>{when(v.created_at)}</td>
                  <td>{v.uploaded_by}</td>
                  <td>{bytes(v.size_bytes)}</td>
                  <td>
                    {!v.serving && (
                      <button type="button" disabled={busy} onClick={() => void serve(v.version)}>
                        {v.version < serving ? `Roll back to version ${v.version}` : `Deploy version ${v.version}`}
                      </button>
                    )}
                  </td>
                </tr>
              );
            })}
          </tbody>
        </table>
      )}
      {versions && <Upload next={next} busy={busy} onUpload={(version, file) => act(async () => {
        const r = await must(api.PUT("/models/{model-name}/versions/{version}", {
          params: { path: { ...path, version } },
          body: file as unknown as string,
          bodySerializer: (b: unknown) => b as BodyInit,
          headers: { "Content-Type": "application/octet-stream" },
        }));
        return `Uploaded version ${r.data.version} (run ${r.data.run_id}); it does not serve until deployed.`;
      })} />}
      {versions && <RolloutSection versions={versions} etag={etag} busy={busy} act={act} reload={reload} onEnded={() => setReload((r) => r + 1)} />}
      {versions && <AuditTrail reload={reload} />}
    </div>
  );
}

function Upload({ next, busy, onUpload }: { next: number; busy: boolean; onUpload: (version: number, file: File) => Promise<void> }) {
  const [version, setVersion] = useState(String(next));
  const [file, setFile] = useState<File>();
  const [problem, setProblem] = useState("");
  useEffect(() => setVersion(String(next)), [next]);
  return (
    <form
      class="card upload"
      aria-labelledby="upload-title"
      onSubmit={(e) => {
        e.preventDefault();
        const n = Number(version);
        if (!Number.isInteger(n) || n < 1) return setProblem("The version must be a whole number from 1.");
        if (!file) return setProblem("Choose an artifact file (model.tagifai) first.");
        setProblem("");
        void onUpload(n, file);
      }}
    >
      <h2 id="upload-title">Upload a version</h2>
      <label for="upload-version">Version number</label>
      <input id="upload-version" type="number" min={1} step={1} value={version} onInput={(e) => setVersion(e.currentTarget.value)} />
      <label for="upload-file">Artifact (the model.tagifai file that <code>tagifai train</code> writes)</label>
      <input id="upload-file" type="file" onChange={(e) => setFile(e.currentTarget.files?.[0])} />
      {problem !== "" && <p class="error" role="alert">{problem}</p>}
      <div><button type="submit" disabled={busy}>Upload</button></div>
    </form>
  );
}
