/**
 * A simulator plus a copy of the stub runner in a temp dir, with helpers to configure it, start
 * `run.sh` and look at its processes: shared by the stub runner's tests.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { chownSync, cpSync, mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { waitFor as pollFor } from '@launchplane/testkit/wait';
import { type Harness, startHarness } from './harness.test-helper.js';
import type { SimConfig } from './simulator.js';
import { stubRunnerTemplateDir } from './stub-runner-dir.js';

/** `nobody`: a non-root user every Debian host has. */
export const NOBODY = { uid: 65534, gid: 65534 };

/** A process as /proc shows it. */
export interface Proc {
  pid: number;
  ppid: number;
  pgid: number;
  comm: string;
  uid: number;
  cmdline: string;
}

/** Every process on the host (that did not vanish while we looked). */
export function processes(): Proc[] {
  const out: Proc[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const comm = readFileSync(`/proc/${entry}/comm`, 'utf8').trim();
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      const status = readFileSync(`/proc/${entry}/status`, 'utf8');
      const cmdline = readFileSync(`/proc/${entry}/cmdline`, 'utf8').replaceAll('\0', ' ');
      if (fields[0] === 'Z') continue;
      out.push({
        pid: Number(entry),
        ppid: Number(fields[1]),
        pgid: Number(fields[2]),
        comm,
        uid: Number(/^Uid:\s+(\d+)/m.exec(status)?.[1] ?? -1),
        cmdline,
      });
    } catch {
      // gone while we looked
    }
  }
  return out;
}

/**
 * Polls `probe` every 100 ms until it returns a value other than undefined/false (20 s max); an
 * error of the probe ends the wait.
 */
export function waitFor<T>(
  what: string,
  probe: () => Promise<T | undefined | false> | T | undefined | false,
  timeoutMs = 20_000,
): Promise<T> {
  return pollFor(probe, { what, timeoutMs, intervalMs: 100, retryErrors: false });
}

/** A started `run.sh` (or `config.sh`): its output so far and its end. */
export type Started = ChildProcess & {
  /** stdout and stderr, interleaved as they came. */
  output: () => string;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
};

export interface StubWorld {
  h: Harness;
  /** The runner root (a copy of the template). */
  dir: string;
  /** Environment every start gets (hooks, short heartbeats, root allowed unless told). */
  baseEnv: NodeJS.ProcessEnv;
  /** Runs `file` (relative to `dir`) with `args`; `as` a user, `env` on top of `baseEnv`. */
  spawnIn: (
    file: string,
    args?: string[],
    opts?: { env?: NodeJS.ProcessEnv; as?: { uid: number; gid: number }; cleanEnv?: boolean },
  ) => Started;
  /** `config.sh --unattended` for repository acme/api, name stub-1, labels lp-pool-a,gpu. */
  configure: (
    extra?: string[],
    opts?: { env?: NodeJS.ProcessEnv; as?: { uid: number; gid: number } },
  ) => Promise<{ code: number | null; output: string }>;
  token: (kind: 'registration' | 'remove', scope?: string) => Promise<string>;
  enqueue: (
    labels: string[],
    durationMs: number,
    extra?: Record<string, unknown>,
  ) => Promise<number>;
  job: (id: number) => Promise<{ id: number; status: string; conclusion: string | null }>;
  runnerByName: (
    name?: string,
  ) => Promise<{ id: number; name: string; status: string; busy: boolean } | undefined>;
  /** The processes whose command line mentions the runner dir, keyed by comm. */
  chain: () => Proc[];
  /** Hands the runner dir to `user` (for runs as a non-root user). */
  chown: (user: { uid: number; gid: number }) => void;
  close: () => Promise<void>;
}

/** Starts a sim and copies the stub runner into a fresh temp dir. */
export async function startStubWorld(config: Partial<SimConfig> = {}): Promise<StubWorld> {
  const h = await startHarness({
    realClock: true,
    config: {
      pollWaitMs: 300,
      offlineAfterMs: 1500,
      busyLag: { lagMs: 0, flipAfterMs: 0, flipMs: 0, trailMs: 0 },
      ...config,
    },
  });
  const dir = mkdtempSync(join(tmpdir(), 'stub-runner-'));
  cpSync(stubRunnerTemplateDir(), dir, { recursive: true });
  const children: Started[] = [];
  const baseEnv: NodeJS.ProcessEnv = {
    RUNNER_ALLOW_RUNASROOT: '1',
    LAUNCHPLANE_STUB_HEARTBEAT_MS: '200',
    LAUNCHPLANE_STUB_RETRY_MS: '200',
    LAUNCHPLANE_STUB_SAFE_SLEEP_MAX: '0',
  };

  const spawnIn: StubWorld['spawnIn'] = (file, args = [], opts = {}) => {
    const env = {
      ...(opts.cleanEnv === true ? {} : process.env),
      ...baseEnv,
      ...opts.env,
    };
    for (const [k, v] of Object.entries(env)) if (v === undefined) delete env[k];
    const child = spawn(join(dir, file), args, {
      cwd: dir,
      // Its own process group, like a service: signals to the group reach the whole chain.
      detached: true,
      stdio: ['ignore', 'pipe', 'pipe'],
      env,
      ...(opts.as === undefined ? {} : { uid: opts.as.uid, gid: opts.as.gid }),
    });
    let out = '';
    child.stdout.on('data', (b: Buffer) => (out += b.toString()));
    child.stderr.on('data', (b: Buffer) => (out += b.toString()));
    const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((r) =>
      child.on('exit', (code, signal) => r({ code, signal })),
    );
    const started = Object.assign(child, { output: () => out, exited });
    children.push(started);
    return started;
  };

  const token: StubWorld['token'] = async (kind, scope = 'repos/acme/api') =>
    (await h.json<{ token: string }>('POST', `/${scope}/actions/runners/${kind}-token`)).body.token;

  const chain = (): Proc[] => processes().filter((p) => p.cmdline.includes(dir));

  return {
    h,
    dir,
    baseEnv,
    spawnIn,
    token,
    chain,
    async configure(extra = [], opts = {}) {
      const c = spawnIn(
        'config.sh',
        [
          '--unattended',
          '--url',
          `${h.gh.url}/acme/api`,
          '--name',
          'stub-1',
          '--labels',
          'lp-pool-a,gpu',
          '--work',
          '_work',
          ...extra,
        ],
        { ...opts, env: { ACTIONS_RUNNER_INPUT_TOKEN: await token('registration'), ...opts.env } },
      );
      const { code } = await c.exited;
      return { code, output: c.output() };
    },
    async enqueue(labels, durationMs, extra = {}) {
      return (
        await h.json<{ id: number }>('POST', '/_sim/jobs', {
          repository: 'acme/api',
          labels,
          durationMs,
          ...extra,
        })
      ).body.id;
    },
    async job(id) {
      return (
        await h.json<{ id: number; status: string; conclusion: string | null }>(
          'GET',
          `/_sim/jobs/${id}`,
        )
      ).body;
    },
    async runnerByName(name = 'stub-1') {
      const res = await h.json<{
        runners: { id: number; name: string; status: string; busy: boolean }[];
      }>('GET', `/repos/acme/api/actions/runners?name=${name}`);
      return res.body.runners[0];
    },
    chown(user) {
      const walk = (p: string): void => {
        chownSync(p, user.uid, user.gid);
        try {
          for (const e of readdirSync(p)) walk(join(p, e));
        } catch {
          // a file
        }
      };
      walk(dir);
    },
    async close() {
      // Every process this test started, including ones run.sh left behind (a SIGTERM without
      // RUNNER_MANUALLY_TRAP_SIG orphans the listener, as with the real runner).
      for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
      for (const p of chain()) {
        try {
          process.kill(p.pid, 'SIGKILL');
        } catch {
          // already gone
        }
      }
      await h.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
