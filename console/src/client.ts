// The console's one way to the API: an openapi-fetch client typed by the
// types generated from openapi.yaml (./api.d.ts), the admin key kept for the
// browser session, and problems turned into sentences.

import createClient, { type Middleware } from "openapi-fetch";

import type { components, paths } from "./api";

/** The documented error envelope's list of problems. */
export type Problem = components["schemas"]["Problem"];

const keyItem = "tagifai.apiKey";

type Listener = () => void;

/**
 * session holds the API key (in sessionStorage, so only for this browser
 * session) and whether the page needs one: a 401 or 403 sets `needed`,
 * which shows the key prompt.
 */
class Session {
  private listeners = new Set<Listener>();
  /** Why a key is needed (the server's words), or "" when none is. */
  needed = "";
  /** Bumped whenever the key changes, so pages reload their data. */
  generation = 0;

  get key(): string {
    try {
      return sessionStorage.getItem(keyItem) ?? "";
    } catch {
      return "";
    }
  }

  setKey(key: string): void {
    if (key === "") sessionStorage.removeItem(keyItem);
    else sessionStorage.setItem(keyItem, key);
    this.needed = "";
    this.generation++;
    this.emit();
  }

  need(reason: string): void {
    this.needed = reason;
    this.emit();
  }

  dismiss(): void {
    this.needed = "";
    this.emit();
  }

  subscribe(l: Listener): () => void {
    this.listeners.add(l);
    return () => this.listeners.delete(l);
  }

  private emit(): void {
    for (const l of this.listeners) l();
  }
}

export const session = new Session();

/** ApiError is a failed call: its status and problems, said in words. */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly problems: Problem[],
  ) {
    super(describeProblems(status, problems));
    this.name = "ApiError";
  }
}

/** where says a problem's location for a person: "body › texts › 0 › text". */
export function where(location: string[]): string {
  return location.join(" › ");
}

function describeProblems(status: number, problems: Problem[]): string {
  if (problems.length === 0) return `The server answered ${status}.`;
  return problems.map((p) => (p.location.length > 0 ? `${p.message} (at ${where(p.location)})` : p.message)).join("; ");
}

/** problemsOf reads the problems of an error envelope, or none from anything else. */
function problemsOf(body: unknown): Problem[] {
  const errors = (body as { data?: { errors?: unknown } } | undefined)?.data?.errors;
  if (!Array.isArray(errors)) return [];
  return errors.filter((e): e is Problem => typeof (e as Problem)?.message === "string" && Array.isArray((e as Problem).location));
}

const auth: Middleware = {
  onRequest({ request }) {
    const key = session.key;
    if (key !== "" && !request.headers.has("Authorization")) request.headers.set("Authorization", `Bearer ${key}`);
    return request;
  },
};

/** api is the typed client of this server's API. */
export const api = createClient<paths>({ baseUrl: location.origin });
api.use(auth);

/**
 * must returns a call's data, or throws an ApiError that says what went
 * wrong; a 401 or 403 also asks for a key, unless opts.prompt is false
 * (for a page that only says in place what needs another role).
 */
export async function must<T>(call: Promise<{ data?: T; error?: unknown; response: Response }>, opts: { prompt?: boolean } = {}): Promise<T> {
  let result: { data?: T; error?: unknown; response: Response };
  try {
    result = await call;
  } catch (err) {
    throw new ApiError(0, [{ location: [], message: `The server could not be reached: ${err instanceof Error ? err.message : String(err)}`, type: "network" }]);
  }
  const { data, error, response } = result;
  if (response.ok && data !== undefined) return data;
  const err = new ApiError(response.status, problemsOf(error));
  if ((response.status === 401 || response.status === 403) && opts.prompt !== false) session.need(err.message);
  throw err;
}

/** Tagged is a call's data and the `ETag` it came with ("" when none). */
export interface Tagged<T> {
  data: T;
  etag: string;
}

/**
 * mustTagged is must that also returns the response's `ETag`, the model's
 * revision, to send back in `If-Match` so that a change applies only to
 * what the page showed.
 */
export async function mustTagged<T>(call: Promise<{ data?: T; error?: unknown; response: Response }>): Promise<Tagged<T>> {
  let etag = "";
  const data = await must(call.then((r) => {
    etag = r.response.headers.get("ETag") ?? "";
    return r;
  }));
  return { data, etag };
}

/** ifMatch is the `If-Match` header for an ETag, or none without one. */
export function ifMatch(etag: string): { "If-Match"?: string } {
  return etag === "" ? {} : { "If-Match": etag };
}

/** isStale tells whether err is a 412: the model changed since the page read it. */
export function isStale(err: unknown): boolean {
  return err instanceof ApiError && err.status === 412;
}

/** The model the console works on. */
export const modelName = "tagifai";
