// The stub runner's client of the simulator's private runner protocol (`/_runner/`, see
// src/runner-api.ts). Refusals come back as ServerError with the `errorKind` the listener acts on.

/** The version this stub reports, shaped like actions/runner's. */
export const VERSION = process.env.LAUNCHPLANE_STUB_RUNNER_VERSION ?? '2.330.0';

/** A failed call: `status` 0 means no answer (network error). Messages never hold secrets. */
export class ServerError extends Error {
  constructor(message, status, kind) {
    super(message);
    this.status = status;
    this.kind = kind;
  }

  /** Whether the listener should try again later (no answer, or a server error). */
  get transient() {
    return this.status === 0 || this.status >= 500;
  }
}

/** Calls `path` on `origin`; resolves `{status, data}` for 2xx, else rejects with ServerError. */
export async function call(origin, path, { method = 'POST', body, secret, signal } = {}) {
  const headers = {
    'content-type': 'application/json',
    'user-agent': `GitHubActionsRunner-stub/${VERSION}`,
  };
  if (secret !== undefined) headers.authorization = `RunnerSecret ${secret}`;
  let res;
  let text;
  try {
    res = await fetch(`${origin}${path}`, {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
      signal,
    });
    text = await res.text();
  } catch (err) {
    if (signal?.aborted) throw err;
    throw new ServerError(`Cannot reach ${origin} (${err.cause?.code ?? err.message})`, 0);
  }
  let data;
  try {
    data = text === '' ? undefined : JSON.parse(text);
  } catch {
    data = undefined;
  }
  if (!res.ok)
    throw new ServerError(data?.message ?? `HTTP ${res.status}`, res.status, data?.errorKind);
  return { status: res.status, data };
}
