// The API key: asked for once when the server answers 401 or 403, kept in
// sessionStorage for this browser session only, forgotten on request.

import { useEffect, useRef, useState } from "preact/hooks";

import { session } from "./client";
import { useSession } from "./ui";

/** KeyPrompt asks for an API key, saying why the server wants one. */
export function KeyPrompt({ reason }: { reason: string }) {
  const [key, setKey] = useState("");
  const input = useRef<HTMLInputElement>(null);
  useEffect(() => input.current?.focus(), []);
  return (
    <section class="key-prompt" aria-labelledby="key-title">
      <h2 id="key-title">An API key is needed</h2>
      <p data-testid="key-reason">{reason}</p>
      <form
        onSubmit={(e) => {
          e.preventDefault();
          if (key.trim() !== "") session.setKey(key.trim());
        }}
      >
        <label for="api-key">API key</label>
        <input id="api-key" ref={input} type="password" autoComplete="off" value={key} onInput={(e) => setKey(e.currentTarget.value)} />
        <button type="submit">Use this key</button>
        <button type="button" class="secondary" onClick={() => session.dismiss()}>Not now</button>
      </form>
      <p class="hint">The key stays in this browser tab until you close it or choose “Forget the key”.</p>
    </section>
  );
}

/** KeyStatus says whether a key is set, with a button to forget it or enter one. */
export function KeyStatus() {
  const s = useSession();
  if (s.key === "") {
    return <button type="button" class="link" onClick={() => s.need("Enter an API key to see the registry and act on it.")}>Enter an API key</button>;
  }
  return <button type="button" class="link" onClick={() => s.setKey("")}>Forget the key</button>;
}
