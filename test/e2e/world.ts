/**
 * One acceptance world per backend, started the way an operator would (and the demo does): the
 * GitHub simulator with a PAT, `launchplane serve` as a child process on a free port, and
 * `launchplane-agent enroll` + `run` for each host a test needs, all against the real systemd
 * user manager or dockerd of the testbed. Operators act through the built CLIs with `--json`:
 * each action a process of its own, read-only queries by the same CLI code in process
 * ({@link World.query}).
 *
 * The systemd manager and dockerd are shared by every suite of the run, some running at the same
 * time: `close()` removes only the lane units and containers this world made (those whose lane
 * dir is under the world's work dir, `test/testbed/owned-lanes.ts`) and whatever the test
 * registered through {@link World.adopt}.
 */
import { execFile } from 'node:child_process';
import { chmod, cp, mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';

import Docker from 'dockerode';
import { startGitHubSim, stubRunnerTemplateDir, type GitHubSim } from '@launchplane/github-sim';
import {
  AGENT_CLI,
  LAUNCHPLANE_CLI,
  enrollAgent,
  must,
  runNode as runKitNode,
  type CliRun,
  type EnrollToken,
} from '@launchplane/testkit/cli';
import {
  LANE_PREFIX,
  REPO,
  simJsonClient,
  type SimJob,
  type SimRunner,
} from '@launchplane/testkit/sim';

import { cliClient } from '../coordinator-control/world-io.js';
import { spawnDaemon, type Daemon } from '../testbed/daemon.js';
import type { DockerTestbed } from '../testbed/dockerd.js';
import { buildScratchImage } from '../testbed/scratch-image.js';
import type { SystemdTestbed } from '../testbed/systemd-user-manager.js';
import { TEST_LANE_UID_RANGE } from '../testbed/lane-users.js';
import { tempDir, type TempDir } from '../testbed/temp-dir.js';
import { waitFor } from '../testbed/wait-for.js';
import { freePort } from '../testbed/free-port.js';
import { OwnedLanes } from '../testbed/owned-lanes.js';

const exec = promisify(execFile);
/** The PAT the coordinator uses against the simulator. */
export const PAT = 'ghp_e2eacceptance00000000000000000000000';
/** The repository the pools of the acceptance suite serve. */
export { REPO };

export type Backend = 'systemd' | 'docker';

export type { CliRun, SimJob, SimRunner };

/** A lane as `launchplane lanes --json` lists it. */
export interface LaneView {
  laneId: string;
  hostId: string;
  pool: string;
  state: string;
  runnerId?: number;
  runnerName?: string;
  recovery?: string;
}

/** An audit record as `launchplane audit --json` lists it. */
export interface AuditView {
  actor: string;
  hostId?: string;
  laneId?: string;
  action: string;
  dryRun: boolean;
  outcome: string;
  code?: string;
  recovery?: string;
  params?: Record<string, unknown>;
}

/** The host's own consent, as written to its agent config. */
export interface AgentOptIn {
  repositories: string[];
  backends: Backend[];
  maxLanes: number;
}

/** Options of {@link World.addAgent}. */
export interface AgentSpec {
  hostId: string;
  optIn: AgentOptIn;
  capabilities?: string[];
  /** Runner template dir (default: the simulator's stub runner). */
  template?: string;
  /** Docker socket (default: the world's). */
  dockerSocket?: string;
  /** The agent's `shutdownTimeoutSec` (default: the agent's own). */
  shutdownTimeoutSec?: number;
}

/** An enrolled agent daemon. */
export interface AgentHandle {
  readonly hostId: string;
  readonly configPath: string;
  readonly dataDir: string;
  /** The running daemon (replaced by restart()). */
  daemon(): Daemon;
  /** Rewrites the opt-in in its config (takes effect at the next restart). */
  setOptIn(optIn: AgentOptIn): Promise<void>;
  /** SIGKILL: the agent dies without a word. */
  kill(): Promise<void>;
  /** SIGTERM, then starts it again and waits until the coordinator sees it connected. */
  restart(): Promise<void>;
  /** Starts it again after kill() and waits until it is connected. */
  start(): Promise<void>;
  /** `launchplane-agent …` against this host's config. */
  cli(...args: string[]): Promise<CliRun>;
}

/** What {@link startWorld} needs. */
export interface WorldOptions {
  backend: Backend;
  systemd?: SystemdTestbed;
  docker?: DockerTestbed;
  /** Deadline for a new runner to come online. Default 30. */
  createOnlineSec?: number;
  /** The coordinator's reconciler. Default: `auto` off. */
  reconcile?: { auto: boolean; intervalSec?: number; minGapSec?: number };
  /** The coordinator's drain settle (default: 2 s, 2 checks, 1 s apart; see the config below). */
  drain?: { settleSec: number; settleObservations: number; pollSec: number };
  /**
   * Demand from GitHub: `webhookSecret` sets `github.webhook` (the hook itself is the test's to
   * create in the simulator), `pollIntervalSec` the job poller's interval (`jobs.poll`; off when
   * not given).
   */
  demand?: { webhookSecret?: string; pollIntervalSec?: number };
  /** Simulator config on top of the world's (e.g. `pickupDelayMs`). */
  simConfig?: Record<string, unknown>;
  /** The coordinator's `github.minWriteIntervalMs` (default: its own, 1000). */
  githubMinWriteIntervalMs?: number;
  /** The coordinator's `log.level` (default `warn`); `debug` logs each command it sends. */
  coordinatorLogLevel?: 'debug' | 'info' | 'warn';
}

/** The coordinator daemon of a world, for tests that take it down. */
export interface CoordinatorHandle {
  /** SIGTERM and wait for the exit. */
  stop(): Promise<void>;
  /** Starts it again on the same config and data; waits until it answers. */
  start(): Promise<void>;
  /** The tail of its log. */
  log(): Promise<string>;
  /** Its whole log file (pino JSON lines and its start-up lines). */
  readonly logPath: string;
}

/** A running acceptance world. */
export interface World {
  readonly backend: Backend;
  readonly sim: GitHubSim;
  readonly coordinatorId: string;
  readonly url: string;
  readonly adminToken: string;
  readonly coordinator: CoordinatorHandle;
  readonly operator: string;
  readonly viewer: string;
  /** Scratch dir for the test (lane-visible: under the systemd lane root). */
  readonly work: TempDir;
  /** Docker image of the pools (Docker world only). */
  readonly image: string | undefined;
  /** `launchplane …` with `--url` and `--token` added. */
  cli(token: string, ...args: string[]): Promise<CliRun>;
  /**
   * `GET path` of the coordinator's API as the viewer: the document `launchplane … --json`
   * prints (`/v1/lanes`, `/v1/audit`, `/v1/hosts`), for polls that are plumbing rather than what a
   * test is about. A CLI run costs a node start-up each; a request costs next to nothing.
   */
  api<T>(path: string): Promise<T>;
  /**
   * A read-only `launchplane … --json` query (`lanes`, `audit`, `plan`, `runners`, `hosts`), with
   * `--url` and `--token` added, run by the built CLI's `runCli` in this process: the same code,
   * arguments and output as {@link cli}, without a node start-up per query. What acts (apply,
   * policy, lane, smoke, tokens) goes through {@link cli}, a process of its own.
   */
  query(token: string, ...args: string[]): Promise<CliRun>;
  /** Enrolls and starts an agent; waits until it is connected with its inventory. */
  addAgent(spec: AgentSpec): Promise<AgentHandle>;
  /** Writes and applies (as admin) a policy; `pools` get the world's backend. Throws if refused. */
  applyPolicy(p: PolicySpec): Promise<CliRun>;
  /** `launchplane policy apply` of `p` with `extra` flags, as admin; the outcome, refused or not. */
  tryPolicy(p: PolicySpec, ...extra: string[]): Promise<CliRun>;
  /** The policy YAML for {@link PolicySpec}. */
  policyYaml(p: PolicySpec): string;
  simJson<T>(method: string, path: string, body?: unknown): Promise<T>;
  simRunners(): Promise<SimRunner[]>;
  enqueueJob(labels: string[], durationMs: number): Promise<SimJob>;
  job(id: number): Promise<SimJob>;
  /** `launchplane lanes --json …` ({@link query}). */
  lanes(...filter: string[]): Promise<LaneView[]>;
  /** `launchplane audit --json …` ({@link query}). */
  audit(...filter: string[]): Promise<AuditView[]>;
  /**
   * Names of this world's `launchplane-lane-*` units (unit files or loaded units) or containers,
   * sorted: those whose lane dir is under the world's work dir (`test/testbed/owned-lanes.ts`).
   */
  backendObjects(): Promise<string[]>;
  /** Lane ids of the backend objects this world made (not those of other worlds or by hand). */
  ownObjects(): Promise<string[]>;
  /** Whether a unit is active / a container is running. */
  objectRunning(name: string): Promise<boolean>;
  /** The real uids of a lane's processes (its unit's cgroup, or its container), from /proc. */
  laneUids(laneId: string): Promise<number[]>;
  /** A copy of the stub runner template whose `run.sh` is replaced by `runSh`. */
  template(name: string, runSh: string): Promise<string>;
  /** `systemctl --user …` (systemd world). */
  userctl(...args: string[]): Promise<{ stdout: string }>;
  /** The Docker client of the world's dockerd (Docker world). */
  docker(): Docker;
  /** Registers a clean-up to run at close(), before the daemons stop. */
  adopt(cleanup: () => Promise<unknown>): void;
  close(): Promise<void>;
}

/** A host as `GET /v1/hosts` lists it (the fields the world reads). */
interface HostRow {
  hostId: string;
  connected: boolean;
  optIn?: unknown;
}

/** A policy: allowlists and pools of the world's backend. */
export interface PolicySpec {
  allowedHosts: string[];
  allowedRepositories: string[];
  pools: Record<
    string,
    {
      labels?: string[];
      lanes: Record<string, number>;
      repository?: string;
      /** The pool's `scaling` section, as is. */
      scaling?: Record<string, unknown>;
    }
  >;
}

const TRACE = process.env['LP_E2E_TRACE'] === '1';

/** The commands {@link World.query} runs in process: they only read. */
const QUERIES = new Set(['lanes', 'audit', 'plan', 'runners', 'hosts']);

/**
 * `launchplane <args>` by the CLI's command tree in this process (`cliClient`), for read-only
 * queries only.
 */
async function queryCli(
  run: (token: string, ...args: string[]) => Promise<CliRun>,
  token: string,
  args: string[],
): Promise<CliRun> {
  const [command] = args;
  if (command === undefined || !QUERIES.has(command) || args.includes('--follow')) {
    throw new Error(`not a read-only query: launchplane ${command ?? ''}`);
  }
  const t0 = Date.now();
  const r = await run(token, ...args);
  if (TRACE) {
    process.stderr.write(
      `[e2e] ${Date.now() - t0}ms in process, exit ${r.code}: ${args.join(' ')}\n`,
    );
  }
  return r;
}

function runNode(bin: string, args: string[], env: NodeJS.ProcessEnv): Promise<CliRun> {
  const t0 = Date.now();
  return runKitNode(bin, args, env).then((r) => {
    if (TRACE) {
      const shown = args.filter((a, i) => args[i - 1] !== '--token' && args[i - 1] !== '--url');
      process.stderr.write(`[e2e] ${Date.now() - t0}ms exit ${r.code}: ${shown.join(' ')}\n`);
    }
    return r;
  });
}

/** Starts sim + coordinator for `backend`; agents come with {@link World.addAgent}. */
export async function startWorld(opts: WorldOptions): Promise<World> {
  const backend = opts.backend;
  const cleanups: (() => Promise<unknown>)[] = [];
  const close = async (): Promise<void> => {
    while (cleanups.length > 0) {
      const fn = cleanups.pop();
      await fn?.().catch((err: unknown) => {
        process.stderr.write(`[e2e world] clean-up: ${String(err)}\n`);
      });
    }
  };
  try {
    const systemd = opts.systemd;
    const dockerInfo = opts.docker;
    if (backend === 'systemd' && systemd === undefined)
      throw new Error('systemd world needs systemd');
    if (backend === 'docker' && dockerInfo === undefined)
      throw new Error('docker world needs docker');
    const base = systemd?.laneRoot;
    const work = await tempDir({
      ...(base === undefined ? {} : { base }),
      prefix: `e2e-${backend}-`,
      // Lanes run as users of their own (systemd) or as the image's user (docker).
      laneUsers: true,
    });
    cleanups.push(() => work.cleanup());

    const userctl = (...args: string[]) => {
      if (systemd === undefined) throw new Error('no systemd in this world');
      return exec('systemctl', ['--user', ...args], { env: { ...process.env, ...systemd.env } });
    };
    const dockerClient =
      dockerInfo === undefined ? undefined : new Docker({ socketPath: dockerInfo.socketPath });
    const docker = (): Docker => {
      if (dockerClient === undefined) throw new Error('no Docker in this world');
      return dockerClient;
    };

    // The manager and dockerd are shared with the other files of the run, some running at the
    // same time: the world's objects are those whose lane dir is under its work dir.
    const owned = new OwnedLanes(
      work.path,
      backend === 'systemd'
        ? { kind: 'systemd', systemd: systemd! }
        : { kind: 'docker', docker: docker() },
    );
    const backendObjects = (): Promise<string[]> => owned.names();
    const laneIdOf = (name: string): string =>
      name.slice(LANE_PREFIX.length).replace(/\.service$/, '');
    const ownObjects = async (): Promise<string[]> => (await backendObjects()).map(laneIdOf);
    const removeObject = async (name: string): Promise<void> => {
      if (backend === 'systemd') {
        await userctl('stop', name).catch(() => undefined);
        await rm(join(systemd!.unitDir, name), { force: true });
        await rm(join(systemd!.unitDir, `${name}.d`), { recursive: true, force: true });
        await userctl('reset-failed', name).catch(() => undefined);
      } else {
        await docker()
          .getContainer(name)
          .remove({ force: true, v: true })
          .catch(() => undefined);
      }
    };
    // Runs last (pushed first): what this world made in the shared manager/dockerd goes.
    cleanups.push(async () => {
      for (const name of await backendObjects()) await removeObject(name);
      if (backend === 'systemd') await userctl('daemon-reload');
    });

    let image: string | undefined;
    if (backend === 'docker') {
      // A stand-in for the official runner image: bash, a runner user, USER 1001.
      image = (
        await buildScratchImage(docker(), {
          tag: 'launchplane-e2e/runner:latest',
          users: [{ name: 'runner', uid: 1001, gid: 1001, home: '/home/runner' }],
          groups: [{ name: 'runner', gid: 1001 }],
          user: '1001',
        })
      ).tag;
    }

    // Docker lanes run on the default bridge network, where they reach the host at the bridge's
    // gateway address only: the simulator listens there (the host's own processes reach it too).
    const simHost = backend === 'docker' ? dockerInfo?.bridge?.gateway : undefined;
    const sim = await startGitHubSim({
      tokens: [PAT],
      ...(simHost === undefined ? {} : { host: simHost }),
      config: {
        pollWaitMs: 300,
        offlineAfterMs: 3000,
        busyLag: { lagMs: 500, flipAfterMs: 0, flipMs: 0, trailMs: 500 },
        ...opts.simConfig,
      },
    });
    cleanups.push(() => sim.close());

    const port = await freePort();
    const url = `http://127.0.0.1:${port}`;
    const coordDir = join(work.path, 'coordinator');
    await mkdir(coordDir, { recursive: true });
    await writeFile(join(coordDir, 'github.token'), PAT, { mode: 0o600 });
    const demand = opts.demand;
    if (demand?.webhookSecret !== undefined) {
      await writeFile(join(coordDir, 'webhook.secret'), demand.webhookSecret, { mode: 0o600 });
    }
    const coordinatorId = `e2e-${backend}-ctl`;
    const coordConfig = join(coordDir, 'coordinator.yaml');
    await writeFile(
      coordConfig,
      [
        `listen: { host: 127.0.0.1, port: ${port} }`,
        `publicUrl: ${url}`,
        `dataDir: ${join(coordDir, 'data')}`,
        `coordinatorId: ${coordinatorId}`,
        'github:',
        `  apiUrl: ${sim.url}`,
        `  webUrl: ${sim.url}`,
        `  auth: { tokenFile: ${join(coordDir, 'github.token')} }`,
        ...(opts.githubMinWriteIntervalMs === undefined
          ? []
          : [`  minWriteIntervalMs: ${opts.githubMinWriteIntervalMs}`]),
        ...(demand?.webhookSecret === undefined
          ? []
          : [`  webhook: { secretFile: ${join(coordDir, 'webhook.secret')} }`]),
        ...(demand === undefined
          ? []
          : demand.pollIntervalSec === undefined
            ? ['jobs: { poll: { enabled: false } }']
            : [
                `jobs: { poll: { enabled: true, intervalSec: ${demand.pollIntervalSec}, minRateRemaining: 0 } }`,
              ]),
        `reconcile: { auto: ${opts.reconcile?.auto === true}, intervalSec: ${opts.reconcile?.intervalSec ?? 30}${opts.reconcile?.minGapSec === undefined ? '' : `, minGapSec: ${opts.reconcile.minGapSec}`} }`,
        `timeouts: { createOnlineSec: ${opts.createOnlineSec ?? 30}, drainSec: 120, onlinePollMaxSec: 2 }`,
        // The sim's busy flag lags 0.5 s and trails 0.5 s, not GitHub's 25–60 s: a settle of 2 s
        // still spans that twice over, and keeps drains quick.
        `drain: { settleSec: ${opts.drain?.settleSec ?? 2}, settleObservations: ${opts.drain?.settleObservations ?? 2}, pollSec: ${opts.drain?.pollSec ?? 1} }`,
        'agents: { heartbeatSec: 5 }',
        `log: { level: ${opts.coordinatorLogLevel ?? 'warn'} }`,
        '',
      ].join('\n'),
    );
    const coordLog = join(coordDir, 'coordinator.log');
    let coordinatorDaemon: Daemon | undefined;
    const startCoordinator = async (): Promise<void> => {
      const daemon = spawnDaemon(
        [process.execPath, LAUNCHPLANE_CLI, 'serve', '--config', coordConfig],
        { env: process.env, logFile: coordLog },
      );
      coordinatorDaemon = daemon;
      await waitFor(
        async () => {
          if (!daemon.alive()) {
            throw new Error(
              `coordinator exited: ${(await readFile(coordLog, 'utf8')).slice(-2000)}`,
            );
          }
          return (await fetch(`${url}/v1/health`).catch(() => undefined))?.ok === true;
        },
        { timeoutMs: 30_000, intervalMs: 200, what: 'the coordinator to listen' },
      );
    };
    const coordinator: CoordinatorHandle = {
      stop: async () => coordinatorDaemon?.stop(),
      start: startCoordinator,
      log: async () => (await readFile(coordLog, 'utf8').catch(() => '')).slice(-4000),
      logPath: coordLog,
    };
    cleanups.push(() => coordinator.stop());
    await startCoordinator();
    const adminToken = (await readFile(join(coordDir, 'data', 'admin.token'), 'utf8')).trim();

    const cli = (token: string, ...args: string[]): Promise<CliRun> =>
      runNode(LAUNCHPLANE_CLI, [...args, '--url', url, '--token', token], {});
    const inProcess = cliClient(url);
    const query = (token: string, ...args: string[]): Promise<CliRun> =>
      queryCli(inProcess, token, args);
    const newToken = async (role: string): Promise<string> =>
      (
        await must(cli(adminToken, 'token', 'create', '--role', role, '--json'), 'token create')
      ).json<{ token: string }>().token;
    const [operator, viewer] = await Promise.all([newToken('operator'), newToken('viewer')]);

    const api = async <T>(path: string): Promise<T> => {
      const res = await fetch(`${url}${path}`, { headers: { authorization: `Bearer ${viewer}` } });
      if (!res.ok) throw new Error(`GET ${path}: ${res.status} ${await res.text()}`);
      return (await res.json()) as T;
    };

    const agentEnv: NodeJS.ProcessEnv = systemd === undefined ? {} : { ...systemd.env };
    // Polled while agents start and stop: over HTTP (what `launchplane hosts` reads), not a CLI
    // process (~1 s of node start-up each on a loaded CI machine).
    const hostRow = async (hostId: string): Promise<HostRow | undefined> => {
      const res = await fetch(`${url}/v1/hosts`, {
        headers: { authorization: `Bearer ${viewer}` },
      }).catch(() => undefined);
      if (res?.ok !== true) return undefined;
      return ((await res.json()) as { hosts: HostRow[] }).hosts.find((x) => x.hostId === hostId);
    };
    const hostConnected = async (hostId: string): Promise<boolean> => {
      const h = await hostRow(hostId);
      return h?.connected === true && h.optIn !== undefined && h.optIn !== null;
    };

    // The policy grants each host the capabilities its agent config reports.
    const capabilities = new Map<string, string[]>();
    const addAgent = async (spec: AgentSpec): Promise<AgentHandle> => {
      capabilities.set(spec.hostId, spec.capabilities ?? []);
      const dir = join(work.path, 'agents', spec.hostId);
      const dataDir = join(dir, 'data');
      await mkdir(dataDir, { recursive: true });
      const configPath = join(dir, 'agent.yaml');
      let optIn = spec.optIn;
      const writeConfig = async (coordinatorSection: string | undefined): Promise<void> => {
        const doc: Record<string, unknown> = {
          hostId: spec.hostId,
          dataDir,
          // A Docker host runs the world's image (its repository, any tag) on the bridge network.
          optIn:
            image === undefined
              ? optIn
              : { ...optIn, docker: { images: [image.replace(/:[^:/]*$/, '')] } },
          capabilities: spec.capabilities ?? [],
          systemd:
            systemd === undefined ? { bus: 'system' } : { bus: 'user', unitDir: systemd.unitDir },
          runner: {
            template: spec.template ?? stubRunnerTemplateDir(),
            users: { uidRange: TEST_LANE_UID_RANGE },
          },
          health: { intervalSec: 2 },
          log: { level: 'warn' },
          ...(spec.shutdownTimeoutSec === undefined
            ? {}
            : { shutdownTimeoutSec: spec.shutdownTimeoutSec }),
          ...(dockerInfo === undefined && spec.dockerSocket === undefined
            ? {}
            : { docker: { socketPath: spec.dockerSocket ?? dockerInfo!.socketPath } }),
        };
        const body = Object.entries(doc)
          .map(([k, v]) => `${k}: ${JSON.stringify(v)}`)
          .join('\n');
        await writeFile(configPath, `${body}\n${coordinatorSection ?? ''}`);
      };
      await writeConfig(undefined);
      const et = (
        await must(
          cli(adminToken, 'enroll-token', 'create', '--host', spec.hostId, '--json'),
          'enroll-token create',
        )
      ).json<EnrollToken>();
      await enrollAgent({
        configPath,
        coordinatorUrl: url,
        hostId: spec.hostId,
        enrollToken: et,
        env: agentEnv,
      });
      // Keep what enroll wrote (the coordinator section) across opt-in rewrites.
      const enrolled = await readFile(configPath, 'utf8');
      const coordIdx = enrolled.search(/^coordinator:/m);
      const coordinatorSection = coordIdx < 0 ? '' : enrolled.slice(coordIdx);
      const log = join(dir, 'agent.log');
      let daemon: Daemon | undefined;
      const start = async (): Promise<void> => {
        daemon = spawnDaemon([process.execPath, AGENT_CLI, '--config', configPath, 'run'], {
          env: { ...process.env, ...agentEnv },
          logFile: log,
        });
        await waitFor(
          async () => {
            if (daemon?.alive() !== true) {
              throw new Error(
                `agent ${spec.hostId} exited: ${(await readFile(log, 'utf8')).slice(-2000)}`,
              );
            }
            return hostConnected(spec.hostId);
          },
          { timeoutMs: 30_000, intervalMs: 300, what: `agent ${spec.hostId} to connect` },
        );
      };
      const stop = async (): Promise<void> => {
        await daemon?.stop({ graceMs: 15_000 });
      };
      cleanups.push(stop);
      await start();
      const handle: AgentHandle = {
        hostId: spec.hostId,
        configPath,
        dataDir,
        daemon: () => daemon!,
        async setOptIn(next) {
          optIn = next;
          await writeConfig(coordinatorSection);
        },
        async kill() {
          const d = daemon!;
          process.kill(d.pid, 'SIGKILL');
          await d.exited;
        },
        async restart() {
          await stop();
          // The coordinator must first see the old session gone, or "connected" would be stale.
          await waitFor(async () => !(await hostConnected(spec.hostId)), {
            timeoutMs: 30_000,
            intervalMs: 200,
            what: `${spec.hostId} to be seen disconnected`,
          });
          await start();
        },
        start,
        cli: (...args: string[]) => runNode(AGENT_CLI, ['--config', configPath, ...args], agentEnv),
      };
      return handle;
    };

    const policyYaml = (p: PolicySpec): string => {
      const lines = [
        'version: 1',
        `allowedHosts: ${JSON.stringify(p.allowedHosts)}`,
        `allowedRepositories: ${JSON.stringify(p.allowedRepositories)}`,
      ];
      const granted = p.allowedHosts.filter((h) => (capabilities.get(h) ?? []).length > 0);
      if (granted.length > 0) lines.push('hosts:');
      for (const h of granted) {
        lines.push(`  ${h}: { capabilities: ${JSON.stringify(capabilities.get(h))} }`);
      }
      lines.push('pools:');
      for (const [name, pool] of Object.entries(p.pools)) {
        lines.push(
          `  ${name}:`,
          `    repository: ${pool.repository ?? REPO}`,
          `    labels: ${JSON.stringify(pool.labels ?? [])}`,
          `    backend: ${backend}`,
          ...(image === undefined ? [] : [`    docker: { image: "${image}" }`]),
          '    ephemeral: false',
          `    lanes: ${JSON.stringify(pool.lanes)}`,
          ...(pool.scaling === undefined ? [] : [`    scaling: ${JSON.stringify(pool.scaling)}`]),
        );
      }
      return `${lines.join('\n')}\n`;
    };
    let policyNo = 0;
    const tryPolicy = async (p: PolicySpec, ...extra: string[]): Promise<CliRun> => {
      policyNo += 1;
      const file = join(work.path, `policy-${policyNo}.yaml`);
      await writeFile(file, policyYaml(p));
      return cli(adminToken, 'policy', 'apply', file, '--json', ...extra);
    };
    const applyPolicy = (p: PolicySpec): Promise<CliRun> => must(tryPolicy(p), 'policy apply');

    const simJson = simJsonClient(sim.url, PAT);

    const uidOf = async (pid: number): Promise<number | undefined> => {
      const status = await readFile(`/proc/${pid}/status`, 'utf8').catch(() => '');
      const m = /^Uid:\s+(\d+)/m.exec(status);
      return m?.[1] === undefined ? undefined : Number(m[1]);
    };
    const laneUids = async (laneId: string): Promise<number[]> => {
      let pids: number[];
      if (backend === 'systemd') {
        const cg = (
          await userctl('show', '-p', 'ControlGroup', '--value', `${LANE_PREFIX}${laneId}.service`)
        ).stdout.trim();
        const procs = await readFile(join('/sys/fs/cgroup', cg, 'cgroup.procs'), 'utf8').catch(() =>
          readFile(join('/sys/fs/cgroup/systemd', cg, 'cgroup.procs'), 'utf8'),
        );
        pids = procs
          .split('\n')
          .filter((l) => l !== '')
          .map(Number);
      } else {
        const top = (await docker()
          .getContainer(`${LANE_PREFIX}${laneId}`)
          .top({ ps_args: '-eo pid,comm' })) as { Processes?: string[][] };
        // docker-init, the container's PID 1, is root's; the runner is what counts.
        pids = (top.Processes ?? [])
          .filter(([, comm]) => comm !== 'docker-init')
          .map(([pid]) => Number(pid));
      }
      const uids: number[] = [];
      for (const pid of pids) {
        const uid = await uidOf(pid);
        if (uid !== undefined) uids.push(uid);
      }
      return uids;
    };

    const template = async (name: string, runSh: string): Promise<string> => {
      const dir = join(work.path, 'templates', name);
      await mkdir(dir, { recursive: true });
      await cp(stubRunnerTemplateDir(), dir, { recursive: true });
      await writeFile(join(dir, 'run.sh'), runSh);
      await chmod(join(dir, 'run.sh'), 0o755);
      return dir;
    };

    return {
      backend,
      sim,
      coordinatorId,
      url,
      adminToken,
      coordinator,
      operator,
      viewer,
      work,
      image,
      cli,
      api,
      query,
      addAgent,
      applyPolicy,
      tryPolicy,
      policyYaml,
      simJson,
      simRunners: async () =>
        (
          await simJson<{ runners: SimRunner[] }>(
            'GET',
            `/repos/${REPO}/actions/runners?per_page=100`,
          )
        ).runners,
      enqueueJob: (labels, durationMs) =>
        simJson<SimJob>('POST', '/_sim/jobs', { repository: REPO, labels, durationMs }),
      job: (id) => simJson<SimJob>('GET', `/_sim/jobs/${id}`),
      lanes: async (...filter) =>
        (await must(query(viewer, 'lanes', '--json', ...filter), 'lanes')).json<{
          lanes: LaneView[];
        }>().lanes,
      audit: async (...filter) =>
        (await must(query(viewer, 'audit', '--json', ...filter), 'audit')).json<{
          records: AuditView[];
        }>().records,
      backendObjects,
      ownObjects,
      objectRunning: async (name) => {
        if (backend === 'systemd') {
          const r = await userctl('is-active', name).catch((e: { stdout?: string }) => ({
            stdout: e.stdout ?? '',
          }));
          return r.stdout.trim() === 'active';
        }
        const info = await docker().getContainer(name).inspect();
        return info.State.Running;
      },
      template,
      laneUids,
      userctl,
      docker,
      adopt: (fn) => cleanups.push(fn),
      close,
    };
  } catch (err) {
    await close();
    throw err;
  }
}
