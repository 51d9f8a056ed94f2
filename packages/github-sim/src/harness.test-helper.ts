import { type GitHubSim, type GitHubSimOptions, startGitHubSim } from './server.js';

/** Token the test sims accept. */
export const TOKEN = 'ghp_testtoken000000000000000000000000';

/** A started sim plus small request helpers; always `close()` it. */
export interface Harness {
  gh: GitHubSim;
  clock: { now: number };
  api: (
    method: string,
    path: string,
    opts?: { token?: string | null; body?: unknown; headers?: Record<string, string> },
  ) => Promise<Response>;
  json: <T = Record<string, unknown>>(
    method: string,
    path: string,
    body?: unknown,
  ) => Promise<{ status: number; body: T; res: Response }>;
  runner: (
    method: string,
    path: string,
    opts?: { secret?: string; body?: unknown },
  ) => Promise<{ status: number; body: Record<string, unknown> }>;
  close: () => Promise<void>;
}

/** Starts a sim on port 0 with a controllable clock (starting at 2026-01-01) and PAT {@link TOKEN}. */
export async function startHarness(
  opts: GitHubSimOptions & { realClock?: boolean } = {},
): Promise<Harness> {
  const clock = { now: Date.UTC(2026, 0, 1) };
  const gh = await startGitHubSim({
    tokens: [TOKEN],
    ...(opts.realClock === true ? {} : { now: () => clock.now }),
    ...opts,
    config: {
      pollWaitMs: 0,
      busyLag: { lagMs: 2000, flipAfterMs: 0, flipMs: 0, trailMs: 0 },
      ...opts.config,
    },
  });
  const api: Harness['api'] = (method, path, o = {}) => {
    const headers: Record<string, string> = { accept: 'application/vnd.github+json', ...o.headers };
    const token = o.token === undefined ? TOKEN : o.token;
    if (token !== null) headers['authorization'] = `Bearer ${token}`;
    if (o.body !== undefined) headers['content-type'] = 'application/json';
    return fetch(`${gh.url}${path}`, {
      method,
      headers,
      ...(o.body === undefined ? {} : { body: JSON.stringify(o.body) }),
    });
  };
  const json: Harness['json'] = async <T>(method: string, path: string, body?: unknown) => {
    const res = await api(method, path, { body });
    const text = await res.text();
    return { status: res.status, body: (text === '' ? undefined : JSON.parse(text)) as T, res };
  };
  const runner: Harness['runner'] = async (method, path, o = {}) => {
    const res = await fetch(`${gh.url}${path}`, {
      method,
      headers: {
        'content-type': 'application/json',
        ...(o.secret === undefined ? {} : { authorization: `RunnerSecret ${o.secret}` }),
      },
      ...(o.body === undefined ? {} : { body: JSON.stringify(o.body) }),
    });
    const text = await res.text();
    return {
      status: res.status,
      body: (text === '' ? {} : JSON.parse(text)) as Record<string, unknown>,
    };
  };
  return { gh, clock, api, json, runner, close: () => gh.close() };
}

/** Registers a runner through the runner protocol and opens its session; returns its secret and ids. */
export async function connectRunner(
  h: Harness,
  opts: {
    url: string;
    name: string;
    labels: string[];
    ephemeral?: boolean;
    noDefaultLabels?: boolean;
    /** `config.sh --runnergroup`: an organization's runner group by name. */
    runnerGroup?: string;
  },
): Promise<{ id: number; secret: string; sessionId: string }> {
  const scope = opts.url.split('/').length === 2 ? `repos/${opts.url}` : `orgs/${opts.url}`;
  const tok = await h.json<{ token: string }>(
    'POST',
    `/${scope}/actions/runners/registration-token`,
  );
  const reg = await h.runner('POST', '/_runner/register', {
    body: {
      url: `${h.gh.url}/${opts.url}`,
      token: tok.body.token,
      name: opts.name,
      labels: opts.labels,
      ephemeral: opts.ephemeral === true,
      noDefaultLabels: opts.noDefaultLabels === true,
      ...(opts.runnerGroup === undefined ? {} : { runnerGroup: opts.runnerGroup }),
    },
  });
  if (reg.status !== 201) throw new Error(`register failed: ${JSON.stringify(reg.body)}`);
  const runner = reg.body['runner'] as { agentId: number };
  const creds = reg.body['credentials'] as { data: { secret: string } };
  const s = await h.runner('POST', '/_runner/sessions', {
    secret: creds.data.secret,
    body: { version: '2.330.0' },
  });
  return {
    id: runner.agentId,
    secret: creds.data.secret,
    sessionId: s.body['sessionId'] as string,
  };
}
