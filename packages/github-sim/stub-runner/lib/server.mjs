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

// node:http rather than fetch: fetch loads undici on first use, which cost a `configure` about
// as much CPU as the rest of its JavaScript (64 of 132 ms in one profile). One keep-alive agent per protocol: the run loop's polls
// and heartbeats reuse their connections.
const agents = new Map();

async function transport(protocol) {
  let a = agents.get(protocol);
  if (a === undefined) {
    const mod = protocol === 'https:' ? await import('node:https') : await import('node:http');
    a = { request: mod.request, agent: new mod.Agent({ keepAlive: true }) };
    agents.set(protocol, a);
  }
  return a;
}

function send(url, { method, headers, body, signal }) {
  return transport(url.protocol).then(
    ({ request, agent }) =>
      new Promise((resolve, reject) => {
        const req = request(url, { method, headers, agent, signal }, (res) => {
          const chunks = [];
          res.on('data', (c) => chunks.push(c));
          res.on('end', () =>
            resolve({ status: res.statusCode ?? 0, text: Buffer.concat(chunks).toString('utf8') }),
          );
          res.on('error', reject);
        });
        req.on('error', reject);
        req.end(body);
      }),
  );
}

/** Calls `path` on `origin`; resolves `{status, data}` for 2xx, else rejects with ServerError. */
export async function call(origin, path, { method = 'POST', body, secret, signal } = {}) {
  const payload = body === undefined ? undefined : JSON.stringify(body);
  const headers = {
    'content-type': 'application/json',
    'user-agent': `GitHubActionsRunner-stub/${VERSION}`,
  };
  if (payload !== undefined) headers['content-length'] = Buffer.byteLength(payload);
  if (secret !== undefined) headers.authorization = `RunnerSecret ${secret}`;
  let res;
  try {
    res = await send(new URL(`${origin}${path}`), { method, headers, body: payload, signal });
  } catch (err) {
    if (signal?.aborted) throw err;
    throw new ServerError(`Cannot reach ${origin} (${err.code ?? err.message})`, 0);
  }
  let data;
  try {
    data = res.text === '' ? undefined : JSON.parse(res.text);
  } catch {
    data = undefined;
  }
  if (res.status < 200 || res.status > 299)
    throw new ServerError(data?.message ?? `HTTP ${res.status}`, res.status, data?.errorKind);
  return { status: res.status, data };
}
