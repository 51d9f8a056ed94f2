import { type Server, createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { SimApp } from './auth.js';
import { handleControlApi } from './control-api.js';
import { DOCS } from './errors.js';
import { type Faults, NO_FAULTS } from './faults.js';
import { send } from './http-io.js';
import { RestApi } from './rest-api.js';
import { handleRunnerApi } from './runner-api.js';
import { GitHubSimulator, type SimConfig } from './simulator.js';
import { TraceReplay } from './trace-replay.js';
import { Webhooks } from './webhooks.js';

/** Options of {@link startGitHubSim}. */
export interface GitHubSimOptions {
  /** Port to listen on; 0 (default) picks a free one. */
  port?: number;
  /** Address to bind; default `127.0.0.1`. */
  host?: string;
  /** Tokens accepted as `Authorization: token|Bearer …` (PAT style). */
  tokens?: readonly string[];
  /** GitHub Apps whose JWTs may mint installation tokens. */
  apps?: readonly SimApp[];
  /** JSON file to keep runners, jobs and tokens in across restarts. */
  stateFile?: string;
  /** When set, the control API requires this bearer token. */
  adminToken?: string;
  config?: Partial<SimConfig>;
  faults?: Partial<Faults>;
  /** Random source for probabilistic faults; default `Math.random`. */
  random?: () => number;
  /** Clock in epoch ms; default `Date.now`. */
  now?: () => number;
  /** How often timed-out runners are swept even without requests. Default 500 ms. */
  sweepIntervalMs?: number;
  /** A webhook receiver that has not answered in this long fails the delivery. Default 10 s. */
  webhookTimeoutMs?: number;
}

/** A running simulator. */
export interface GitHubSim {
  /** `http://127.0.0.1:<port>` — the API base URL and the web URL origin alike. */
  url: string;
  port: number;
  sim: GitHubSimulator;
  rest: RestApi;
  /** Current faults; assign to change them. */
  faults: { current: Faults };
  tokens: Set<string>;
  apps: SimApp[];
  /** Hooks, the delivery log and its faults; `await gh.webhooks.settled()` waits for deliveries. */
  webhooks: Webhooks;
  /** The trace replay of `POST /_sim/trace`. */
  trace: TraceReplay;
  close(): Promise<void>;
}

/** Starts the simulator on loopback and resolves once it listens. */
export async function startGitHubSim(opts: GitHubSimOptions = {}): Promise<GitHubSim> {
  const sim = new GitHubSimulator({
    ...(opts.config === undefined ? {} : { config: opts.config }),
    ...(opts.stateFile === undefined ? {} : { stateFile: opts.stateFile }),
    ...(opts.now === undefined ? {} : { now: opts.now }),
  });
  const faults = { current: { ...NO_FAULTS, ...opts.faults } };
  const tokens = new Set(opts.tokens ?? []);
  const apps = [...(opts.apps ?? [])];
  const random = opts.random ?? Math.random;
  // The payloads' links point at the sim's own URL, known once it listens.
  let origin = 'http://127.0.0.1';
  const webhooks = new Webhooks({
    sim,
    origin: () => origin,
    random,
    ...(opts.webhookTimeoutMs === undefined ? {} : { timeoutMs: opts.webhookTimeoutMs }),
  });
  const trace = new TraceReplay(sim);
  const rest = new RestApi({
    sim,
    tokens,
    apps,
    faults: () => faults.current,
    useFault: (k) => {
      faults.current = { ...faults.current, [k]: Math.max(0, faults.current[k] - 1) };
    },
    random,
    webhooks,
  });
  const control = { sim, rest, tokens, apps, faults, adminToken: opts.adminToken, webhooks, trace };

  const server: Server = createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://sim.invalid');
    const handler = url.pathname.startsWith('/_sim/')
      ? handleControlApi(control, req, res, url)
      : url.pathname.startsWith('/_runner/')
        ? handleRunnerApi(sim, req, res, url)
        : rest.handle(req, res, url);
    handler.catch((err: unknown) => {
      // A bug in the sim must surface to the client as a 500, not hang the request.
      if (!res.headersSent)
        send(res, 500, { message: `Simulator error: ${String(err)}`, documentation_url: DOCS });
      else res.destroy();
    });
  });
  server.keepAliveTimeout = 1000;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port ?? 0, opts.host ?? '127.0.0.1', () => {
      server.off('error', reject);
      resolve();
    });
  });
  const sweeper = setInterval(() => sim.sweep(), opts.sweepIntervalMs ?? 500);
  sweeper.unref();
  const { port } = server.address() as AddressInfo;
  const host = opts.host ?? '127.0.0.1';
  origin = `http://${host.includes(':') ? `[${host}]` : host}:${port}`;
  return {
    url: origin,
    port,
    sim,
    rest,
    faults,
    tokens,
    apps,
    webhooks,
    trace,
    close: () =>
      new Promise<void>((resolve, reject) => {
        clearInterval(sweeper);
        webhooks.close();
        trace.close();
        server.close((err) => (err === undefined ? resolve() : reject(err)));
        server.closeAllConnections();
      }),
  };
}
