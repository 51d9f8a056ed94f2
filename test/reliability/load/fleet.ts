/**
 * Parent-side helpers of the load tests: a `launchplane serve` child process (restartable, its
 * RSS readable), bulk enrollment through the public API, and fleets of agents in worker
 * processes (fleet-worker.ts).
 */
import { fork, spawn, type ChildProcess } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { exportPrivateKeyPem, generateEd25519KeyPair } from '@launchplane/shared';
import { enrollHost } from '../../coordinator-server/fake-agent.js';
import type { FleetHost, FleetReport, WorkerReply, WorkerRequest } from './fleet-worker.js';

const SERVE_BIN = fileURLToPath(
  new URL('../../../packages/coordinator/dist/cli.js', import.meta.url),
);
const WORKER = fileURLToPath(new URL('./fleet-worker.ts', import.meta.url));

/** A running `launchplane serve`. */
export interface ServeProcess {
  child: ChildProcess;
  pid: number;
  url: string;
  port: number;
  output(): string;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

/** Writes `coordinator.yaml` into `dir` (data in `dir/data`); returns its path. */
export function writeServeConfig(dir: string, extraYaml = ''): string {
  const path = join(dir, 'coordinator.yaml');
  writeFileSync(
    path,
    `listen: { host: 127.0.0.1, port: 0 }\ndataDir: data\nlog: { level: warn }\n${extraYaml}`,
  );
  return path;
}

/** Spawns `launchplane serve --config <config>` and waits for its "listening on" line. */
export async function startServe(config: string): Promise<ServeProcess> {
  const child = spawn(process.execPath, [SERVE_BIN, 'serve', '--config', config], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  const keep = (d: Buffer) => {
    out += d.toString();
    // Bounded: only the start and the latest logs matter.
    if (out.length > 2_000_000) out = out.slice(0, 200_000) + out.slice(-1_000_000);
  };
  child.stdout?.on('data', keep);
  child.stderr?.on('data', keep);
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.once('exit', (code, signal) => resolve({ code, signal })),
  );
  const url = await new Promise<string>((resolve, reject) => {
    const timer = setInterval(() => {
      const m = /listening on (http\S+)/.exec(out);
      if (m?.[1] !== undefined) {
        clearInterval(timer);
        resolve(m[1]);
      }
    }, 10);
    void exited.then(({ code, signal }) => {
      clearInterval(timer);
      reject(new Error(`serve exited (${code ?? signal}) before listening: ${out}`));
    });
  });
  return {
    child,
    pid: child.pid as number,
    url,
    port: Number(new URL(url).port),
    output: () => out,
    exited,
  };
}

/** Resident set size of a process, in bytes (Linux /proc). */
export function rssBytes(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  if (m?.[1] === undefined) throw new Error(`no VmRSS for pid ${pid}`);
  return Number(m[1]) * 1024;
}

/** An enrolled host with its key. */
export interface EnrolledHost extends FleetHost {
  index: number;
}

/** Authenticated JSON call to the admin API. */
export async function api(
  baseUrl: string,
  token: string,
  method: string,
  path: string,
  body?: unknown,
): Promise<{ status: number; body: Record<string, unknown> }> {
  const res = await fetch(`${baseUrl}${path}`, {
    method,
    headers: {
      authorization: `Bearer ${token}`,
      ...(body === undefined ? {} : { 'content-type': 'application/json' }),
    },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  const text = await res.text();
  return {
    status: res.status,
    body: text === '' ? {} : (JSON.parse(text) as Record<string, unknown>),
  };
}

/**
 * Enrolls `count` hosts `<prefix>-00000…` through the public API (an enrollment token each,
 * then the challenge and `POST /v1/enroll`), a few at a time.
 */
export async function enrollHosts(
  baseUrl: string,
  adminToken: string,
  count: number,
  prefix = 'load',
): Promise<{ hosts: EnrolledHost[]; coordinatorId: string; coordinatorKey: unknown }> {
  const hosts: EnrolledHost[] = [];
  let coordinatorId = '';
  let coordinatorKey: unknown;
  let next = 0;
  const one = async (index: number) => {
    const hostId = `${prefix}-${String(index).padStart(5, '0')}`;
    const t = await api(baseUrl, adminToken, 'POST', '/v1/enrollment-tokens', { hostId });
    if (t.status !== 201) throw new Error(`enrollment token for ${hostId}: ${t.status}`);
    const { privateKey, publicKey } = generateEd25519KeyPair();
    const res = await enrollHost(baseUrl, {
      token: String(t.body.token),
      hostId,
      publicKey,
      agentVersion: '0.0.0-load',
    });
    const body = res.body;
    if (res.status !== 201) throw new Error(`enroll ${hostId}: ${res.status}`);
    coordinatorId = body.coordinatorId;
    coordinatorKey = body.coordinatorKey;
    hosts[index] = { index, hostId, privateKeyPem: exportPrivateKeyPem(privateKey) };
  };
  await Promise.all(
    Array.from({ length: Math.min(16, count) }, async () => {
      while (next < count) await one(next++);
    }),
  );
  return { hosts, coordinatorId, coordinatorKey };
}

/** A worker process running part of the fleet. */
export class FleetWorker {
  readonly #child: ChildProcess;
  readonly #waiting: { op: WorkerReply['op']; resolve: (r: WorkerReply) => void }[] = [];
  readonly exited: Promise<void>;
  /** Index of this worker's first host in the whole fleet. */
  readonly offset: number;

  private constructor(child: ChildProcess, offset: number) {
    this.#child = child;
    this.offset = offset;
    child.on('message', (msg: WorkerReply) => {
      const i = this.#waiting.findIndex((w) => w.op === msg.op || msg.op === 'error');
      if (i >= 0) this.#waiting.splice(i, 1)[0]?.resolve(msg);
    });
    this.exited = new Promise((resolve) => child.once('exit', () => resolve()));
  }

  /** Forks a worker (TypeScript through tsx). */
  static spawn(offset: number): FleetWorker {
    const child = fork(WORKER, [], {
      execArgv: ['--import', 'tsx'],
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    });
    return new FleetWorker(child, offset);
  }

  get pid(): number {
    return this.#child.pid as number;
  }

  async request<T extends WorkerReply['op']>(
    msg: WorkerRequest,
    answer: T,
    timeoutMs = 60_000,
  ): Promise<Extract<WorkerReply, { op: T }>> {
    const reply = await new Promise<WorkerReply>((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new Error(`fleet worker: no "${answer}" within ${timeoutMs} ms`)),
        timeoutMs,
      );
      this.#waiting.push({
        op: answer,
        resolve: (r) => {
          clearTimeout(timer);
          resolve(r);
        },
      });
      this.#child.send(msg);
    });
    if (reply.op === 'error') throw new Error(`fleet worker: ${reply.message}`);
    return reply as Extract<WorkerReply, { op: T }>;
  }

  async report(since: number): Promise<FleetReport> {
    const r = await this.request({ op: 'report', since }, 'report');
    // Host indexes in the whole fleet.
    const shift = <T extends { host: number }>(xs: T[]) =>
      xs.map((x) => ({ ...x, host: x.host + this.offset }));
    return {
      ...r.report,
      attempts: shift(r.report.attempts),
      welcomes: shift(r.report.welcomes),
      disconnects: shift(r.report.disconnects),
    };
  }

  /** Stops the sessions and the process; kills it if it does not exit in time. */
  async stop(): Promise<void> {
    if (this.#child.exitCode !== null || this.#child.signalCode !== null) return;
    try {
      await this.request({ op: 'stop' }, 'stopped', 15_000);
    } catch {
      this.#child.kill('SIGKILL');
    }
    await this.exited;
  }
}

/** Reports of several workers merged. */
export function mergeReports(reports: FleetReport[]): FleetReport {
  const byT = <T extends { t: number }>(xs: T[]) => xs.sort((a, b) => a.t - b.t);
  return {
    hosts: reports.reduce((n, r) => n + r.hosts, 0),
    connected: reports.reduce((n, r) => n + r.connected, 0),
    attempts: byT(reports.flatMap((r) => r.attempts)),
    welcomes: byT(reports.flatMap((r) => r.welcomes)),
    disconnects: byT(reports.flatMap((r) => r.disconnects)),
    commandsAnswered: reports.reduce((n, r) => n + r.commandsAnswered, 0),
    commandsRefusedBadSignature: reports.reduce((n, r) => n + r.commandsRefusedBadSignature, 0),
  };
}

/** Polls `check` every 100 ms until it returns true or `timeoutMs` passes. */
export async function waitFor(
  what: string,
  check: () => Promise<boolean> | boolean,
  timeoutMs: number,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await check()) return;
    if (Date.now() > deadline)
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** Sorted-array percentile (nearest rank). */
export function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return NaN;
  const i = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[i] as number;
}

/** Largest number of timestamps in any window of `windowMs` starting at a timestamp. */
export function peakInWindow(times: number[], windowMs: number): number {
  const t = [...times].sort((a, b) => a - b);
  let best = 0;
  let j = 0;
  for (let i = 0; i < t.length; i++) {
    while ((t[i] as number) - (t[j] as number) >= windowMs) j++;
    best = Math.max(best, i - j + 1);
  }
  return best;
}
