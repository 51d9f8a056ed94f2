/**
 * A world for fault injection with real processes, started as an operator would (like
 * demo/run.ts): the GitHub simulator, the coordinator as a child process (what `launchplane
 * serve` runs, with a drain settle time short enough for CI: coordinator-child.mjs), and one
 * `launchplane-agent` child enrolled against the testbed's shared systemd user manager —
 * optionally through a {@link BlackholeProxy}. Either daemon can be SIGKILLed and started again
 * on the same data dir. `close()` removes only the lane units this world made (those whose lane
 * dir is under its agent's data dir, `test/testbed/owned-lanes.ts`) and stops what it started.
 */
import { execFile } from 'node:child_process';
import { appendFile, mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

import Database from 'better-sqlite3';
import { runCli as runAgentCli } from '@launchplane/agent';
import { startGitHubSim, stubRunnerTemplateDir, type GitHubSim } from '@launchplane/github-sim';
import {
  AGENT_CLI,
  LAUNCHPLANE_CLI,
  enrollAgent,
  must,
  runNodeBg,
  type CliRun,
  type EnrollToken,
  type RunningCli,
} from '@launchplane/testkit/cli';
import { LANE_PREFIX, REPO, simJsonClient, type SimJob } from '@launchplane/testkit/sim';

import { cliClient } from '../../coordinator-control/world-io.js';
import { spawnDaemon, type Daemon } from '../../testbed/daemon.js';
import type { SystemdTestbed } from '../../testbed/systemd-user-manager.js';
import { TEST_LANE_UID_RANGE } from '../../testbed/lane-users.js';
import { tempDir, type TempDir } from '../../testbed/temp-dir.js';
import { waitFor } from '../../testbed/wait-for.js';
import { freePort } from '../../testbed/free-port.js';
import { OwnedLanes } from '../../testbed/owned-lanes.js';
import { startBlackholeProxy, type BlackholeProxy } from './blackhole-proxy.js';

const exec = promisify(execFile);
const COORDINATOR_CHILD = fileURLToPath(new URL('./coordinator-child.mjs', import.meta.url));
export const PAT = 'ghp_faultworld000000000000000000000000000';
export { REPO };
export const HOST = 'fault-host';

export type { CliRun, RunningCli, SimJob };

/** A lane as `launchplane lanes --json` lists it. */
export interface LaneView {
  laneId: string;
  hostId: string;
  pool: string;
  state: string;
  runnerId?: number;
  recovery?: string;
  lastError?: { code: string; message: string; recovery?: string };
}

/** A runner as the simulator's control API lists it. */
export interface SimRunnerTruth {
  id: number;
  name: string;
  status: string;
  origin: string;
  labels: ({ name: string } | string)[];
  currentJobId?: number | null;
}

/** An audit record as `launchplane audit --json` lists it. */
export interface AuditView {
  seq: number;
  actor: string;
  hostId?: string;
  laneId?: string;
  action: string;
  outcome: string;
  code?: string;
  recovery?: string;
  params?: Record<string, unknown>;
}

/** What the four sources of truth say, and how they disagree. */
export interface Consistency {
  ledger: string[];
  units: string[];
  coordinator: string[];
  simRunners: string[];
  /** Lanes one source has and another lacks (each lane id once). */
  lost: string[];
  /** Lane ids registered more than once at the sim, or units/ledger rows duplicated. */
  duplicated: string[];
  /** Sim runners labelled as a lane of this world that no ledger row owns. */
  orphanRegistrations: string[];
  /** Agent audit records missing at the coordinator. */
  auditLost: number;
  /** Agent audit seqs seen twice at the coordinator. */
  auditDuplicated: number;
  agentAuditRecords: number;
  agentAuditVerified: boolean;
  /**
   * What changed about the look-alikes planted at start (a hand-made `launchplane-lane-*` unit
   * without the lane marker, a GitHub runner with lane-like labels no ledger owns): must be empty.
   */
  unmanagedTouched: string[];
}

/** Options of {@link startFaultWorld}. */
export interface FaultWorldOptions {
  systemd: SystemdTestbed;
  /** Coordinator ping interval. Default 2. */
  heartbeatSec?: number;
  createOnlineSec?: number;
  drainSec?: number;
  /** How long the coordinator waits for a command's result. Default 8. */
  commandTimeoutSec?: number;
  /** Lifetime of the coordinator's signed commands (`agents.commandLifetimeSec`). Default 120. */
  commandLifetimeSec?: number;
  /** Put a blackhole proxy between agent and coordinator. */
  proxy?: boolean;
  /** The agent's dataDir (default: under the world's work dir). */
  agentDataDir?: string;
  /** Extra env of the agent (e.g. a broken D-Bus address). */
  agentEnv?: NodeJS.ProcessEnv;
  /** Extra node flags of the agent (e.g. `--import` of a clock shift). */
  agentNodeArgs?: string[];
  /**
   * The backend the host opts in to and the pool uses (default systemd). With `docker`, the
   * agent talks to `dockerSocket` (which may be a socket nothing listens on: a stopped daemon).
   */
  backend?: 'systemd' | 'docker';
  dockerSocket?: string;
  /** Start the agent (default true). */
  startAgent?: boolean;
}

/** Crockford base32, as in lane ids. */
const ULID_CHARS = '0123456789abcdefghjkmnpqrstvwxyz';
const lookAlikeLaneId = (): string =>
  `01hm${Array.from({ length: 22 }, () => ULID_CHARS[Math.floor(Math.random() * 32)]).join('')}`;

/** A running fault world. */
export interface FaultWorld {
  readonly sim: GitHubSim;
  readonly url: string;
  readonly adminToken: string;
  readonly operator: string;
  readonly viewer: string;
  readonly work: TempDir;
  readonly agentConfig: string;
  readonly agentDataDir: string;
  readonly coordDataDir: string;
  readonly proxy: BlackholeProxy | undefined;
  cli(token: string, ...args: string[]): Promise<CliRun>;
  /** Starts a CLI run without waiting for it. */
  cliBg(token: string, ...args: string[]): RunningCli;
  agentCli(...args: string[]): Promise<CliRun>;
  /**
   * A read of the agent's ledger (`lanes`, `audit`) through the same `launchplane-agent` command
   * tree, run in this process: no node start-up per call, so it can be polled.
   */
  agentRead(...args: ('lanes' | 'audit' | '--json' | '--verify')[]): Promise<CliRun>;
  /** SIGKILLs the agent and waits until it is gone. */
  killAgent(): Promise<void>;
  /**
   * Starts the agent; waits until the coordinator sees it connected (unless told not to). `env`
   * is added to this start only (e.g. `LAUNCHPLANE_AGENT_CRASH_AT`).
   */
  startAgent(opts?: { wait?: boolean; env?: NodeJS.ProcessEnv }): Promise<void>;
  /** Resolves when the agent process has exited (at once if it is not running). */
  agentExited(): Promise<void>;
  agentAlive(): boolean;
  /** SIGKILLs the coordinator. */
  killCoordinator(): Promise<void>;
  /** Starts the coordinator on the same data dir and waits until it listens. */
  startCoordinator(): Promise<void>;
  hostConnected(): Promise<boolean>;
  /** Applies (as admin) a policy with `lanes` lanes of pool `build`. */
  applyPolicy(lanes: number): Promise<void>;
  lanes(): Promise<LaneView[]>;
  /** The same over HTTP without a CLI process (for tight polling). */
  lanesFast(): Promise<LaneView[]>;
  audit(...filter: string[]): Promise<AuditView[]>;
  simJson<T>(method: string, path: string, body?: unknown): Promise<T>;
  simRunners(): Promise<SimRunnerTruth[]>;
  enqueueJob(durationMs: number): Promise<SimJob>;
  job(id: number): Promise<SimJob>;
  /**
   * Lane ids of the `launchplane-lane-*` units this world's agent made (loaded or with a unit
   * file): those whose lane dir is under its data dir (`test/testbed/owned-lanes.ts`).
   */
  ownUnits(): Promise<string[]>;
  unitActive(laneId: string): Promise<boolean>;
  /** The systemd InvocationID of a lane's unit: it changes whenever the unit is (re)started. */
  unitInvocation(laneId: string): Promise<string>;
  consistency(): Promise<Consistency>;
  /** `PRAGMA integrity_check` of the agent ledger and the coordinator store. */
  integrity(): { agent: string; coordinator: string };
  log(which: 'agent' | 'coordinator'): Promise<string>;
  close(): Promise<void>;
}

const labelName = (l: { name: string } | string): string => (typeof l === 'string' ? l : l.name);

/** The lane id a sim runner's `lp-lane-<id>` label names, if any. */
export function laneIdOfRunner(r: SimRunnerTruth): string | undefined {
  const label = r.labels.map(labelName).find((n) => n.startsWith('lp-lane-'));
  return label?.slice('lp-lane-'.length);
}

/** Appends one result line to `$LP_RELIABILITY_OUT` when it is set. */
export async function recordResult(line: {
  scenario: string;
  injected: string;
  survived: boolean;
  counts: Record<string, number>;
  figures?: Record<string, number>;
  /** The error code the fault produced, when there is one. */
  code?: string | undefined;
}): Promise<void> {
  const out = process.env.LP_RELIABILITY_OUT;
  if (out === undefined || out === '') return;
  await appendFile(out, `${JSON.stringify({ area: 'faults', ...line })}\n`);
}

/** Starts sim, coordinator and (by default) the agent. */
export async function startFaultWorld(opts: FaultWorldOptions): Promise<FaultWorld> {
  const { systemd } = opts;
  const cleanups: (() => Promise<unknown>)[] = [];
  const close = async (): Promise<void> => {
    while (cleanups.length > 0) {
      const fn = cleanups.pop();
      await fn?.().catch((err: unknown) => {
        process.stderr.write(`[fault world] clean-up: ${String(err)}\n`);
      });
    }
  };
  try {
    const work = await tempDir({ base: systemd.laneRoot, prefix: 'faults-', laneUsers: true });
    cleanups.push(() => work.cleanup());
    const userctl = (...args: string[]) =>
      exec('systemctl', ['--user', ...args], { env: { ...process.env, ...systemd.env } });

    // The agent's data dir, where its lanes live (`<dataDir>/lanes/<laneId>`).
    const agentDir = join(work.path, 'agent');
    const agentDataDir = opts.agentDataDir ?? join(agentDir, 'data');
    // The manager is shared with the other files of the run, some running at the same time: this
    // world's units are those whose lane dir is under its agent's data dir. Units of other
    // worlds and hand-made ones are never looked at, never touched.
    const owned = new OwnedLanes(agentDataDir, { kind: 'systemd', systemd });
    // A hand-made unit named like a lane but without the lane marker: not ours, whatever its
    // name says. Every fault must leave it running, unchanged and never restarted.
    const plantedUnit = `${LANE_PREFIX}${lookAlikeLaneId()}.service`;
    const plantedUnitText = [
      '[Unit]',
      'Description=hand-made look-alike of a Launchplane lane (not Launchplane-managed)',
      '[Service]',
      'ExecStart=/bin/sleep infinity',
      '',
    ].join('\n');
    await writeFile(join(systemd.unitDir, plantedUnit), plantedUnitText);
    cleanups.push(async () => {
      await userctl('stop', plantedUnit).catch(() => undefined);
      await rm(join(systemd.unitDir, plantedUnit), { force: true });
      await userctl('daemon-reload');
    });
    await userctl('daemon-reload');
    await userctl('start', plantedUnit);
    const unitFacts = async (): Promise<string> =>
      (
        await userctl('show', '--property=ActiveState,InvocationID', plantedUnit).catch(
          (e: { stdout?: string }) => ({ stdout: e.stdout ?? '' }),
        )
      ).stdout.trim();
    const plantedUnitFacts = await unitFacts();
    const ownUnitNames = (): Promise<string[]> => owned.names();
    cleanups.push(async () => {
      for (const name of await ownUnitNames()) {
        await userctl('stop', name).catch(() => undefined);
        await rm(join(systemd.unitDir, name), { force: true });
        await rm(join(systemd.unitDir, `${name}.d`), { recursive: true, force: true });
        await userctl('reset-failed', name).catch(() => undefined);
      }
      await userctl('daemon-reload');
    });

    const sim = await startGitHubSim({
      tokens: [PAT],
      config: {
        pollWaitMs: 300,
        offlineAfterMs: 3000,
        busyLag: { lagMs: 500, flipAfterMs: 0, flipMs: 0, trailMs: 500 },
      },
    });
    cleanups.push(() => sim.close());
    // A runner with this world's lane labels that no ledger owns (hand-registered, or another
    // installation's): listed as unmanaged, never relabelled or deleted.
    const plantedRunner = (await (
      await fetch(`${sim.url}/_sim/runners`, {
        method: 'POST',
        headers: { authorization: `Bearer ${PAT}`, 'content-type': 'application/json' },
        body: JSON.stringify({
          repository: REPO,
          name: `lp-${HOST}-build-lookalike`,
          labels: [
            'launchplane',
            'lp-ctl-faults-c',
            `lp-lane-${lookAlikeLaneId()}`,
            'lp-pool-build',
          ],
          // Offline, so the simulator routes no test job to it.
          status: 'offline',
          noDefaultLabels: true,
        }),
      })
    ).json()) as SimRunnerTruth;

    const port = await freePort();
    const url = `http://127.0.0.1:${port}`;
    const coordDir = join(work.path, 'coordinator');
    const coordDataDir = join(coordDir, 'data');
    await mkdir(coordDir, { recursive: true });
    await writeFile(join(coordDir, 'github.token'), PAT, { mode: 0o600 });
    const coordConfig = join(coordDir, 'coordinator.yaml');
    const heartbeatSec = opts.heartbeatSec ?? 2;
    await writeFile(
      coordConfig,
      [
        `listen: { host: 127.0.0.1, port: ${port} }`,
        `publicUrl: ${url}`,
        `dataDir: ${coordDataDir}`,
        'coordinatorId: faults-ctl',
        'github:',
        `  apiUrl: ${sim.url}`,
        `  webUrl: ${sim.url}`,
        `  auth: { tokenFile: ${join(coordDir, 'github.token')} }`,
        'reconcile: { auto: false }',
        `timeouts: { createOnlineSec: ${opts.createOnlineSec ?? 30}, drainSec: ${opts.drainSec ?? 120}, onlinePollMaxSec: 2 }`,
        `agents: { heartbeatSec: ${heartbeatSec}, commandTimeoutSec: ${opts.commandTimeoutSec ?? 8}, commandLifetimeSec: ${opts.commandLifetimeSec ?? 120} }`,
        'log: { level: info }',
        '',
      ].join('\n'),
    );
    const coordLog = join(coordDir, 'coordinator.log');
    let coordinator: Daemon | undefined;
    const startCoordinator = async (): Promise<void> => {
      const d = spawnDaemon([process.execPath, COORDINATOR_CHILD, coordConfig], {
        env: {
          ...process.env,
          LP_FAULTS_CONTROL_OPTIONS: JSON.stringify({
            settleObservations: 3,
            settleSec: 3,
            drainPollSec: 1,
            pollBaseMs: 250,
            pollCapMs: 1000,
          }),
        },
        logFile: coordLog,
      });
      coordinator = d;
      await waitFor(
        async () => {
          if (!d.alive())
            throw new Error(
              `coordinator exited: ${(await readFile(coordLog, 'utf8')).slice(-2000)}`,
            );
          return (await fetch(`${url}/v1/health`)).ok;
        },
        { timeoutMs: 30_000, intervalMs: 100, what: 'the coordinator to listen' },
      );
    };
    cleanups.push(async () => coordinator?.stop({ graceMs: 10_000 }));
    await startCoordinator();
    const adminToken = (await readFile(join(coordDataDir, 'admin.token'), 'utf8')).trim();

    const proxy = opts.proxy === true ? await startBlackholeProxy(port) : undefined;
    if (proxy !== undefined) cleanups.push(() => proxy.close());

    const cliBg = (token: string, ...args: string[]): RunningCli =>
      runNodeBg(LAUNCHPLANE_CLI, [...args, '--url', url, '--token', token], {});
    const cli = (token: string, ...args: string[]): Promise<CliRun> => cliBg(token, ...args).done;
    // Set-up (tokens, policies) and the reads the suites poll (`lanes`, `audit`) run the same
    // `launchplane` command tree in this process: a CLI process costs ~1 s of node start-up on a
    // loaded CI machine. What an operator does (apply, lane remove, restart) still runs the built
    // CLI as a process.
    const inProcess = cliClient(url);
    const [operator, viewer, et] = await Promise.all([
      must(inProcess(adminToken, 'token', 'create', '--role', 'operator', '--json'), 'token'),
      must(inProcess(adminToken, 'token', 'create', '--role', 'viewer', '--json'), 'token'),
      must(
        inProcess(adminToken, 'enroll-token', 'create', '--host', HOST, '--json'),
        'enroll-token create',
      ),
    ]).then(
      ([o, v, e]) =>
        [
          o.json<{ token: string }>().token,
          v.json<{ token: string }>().token,
          e.json<EnrollToken>(),
        ] as const,
    );

    // --- the agent ---------------------------------------------------------------------
    await mkdir(agentDir, { recursive: true });
    await mkdir(agentDataDir, { recursive: true });
    const agentConfig = join(agentDir, 'agent.yaml');
    const doc: Record<string, unknown> = {
      hostId: HOST,
      dataDir: agentDataDir,
      optIn: { repositories: [REPO], backends: [opts.backend ?? 'systemd'], maxLanes: 6 },
      capabilities: [],
      systemd: { bus: 'user', unitDir: systemd.unitDir },
      runner: { template: stubRunnerTemplateDir(), users: { uidRange: TEST_LANE_UID_RANGE } },
      health: { intervalSec: 2 },
      log: { level: 'info' },
      ...(opts.dockerSocket === undefined ? {} : { docker: { socketPath: opts.dockerSocket } }),
    };
    await writeFile(
      agentConfig,
      `${Object.entries(doc)
        .map(([k, v]) => `${k}: ${JSON.stringify(v)}`)
        .join('\n')}\n`,
    );
    const agentEnv: NodeJS.ProcessEnv = { ...systemd.env, ...opts.agentEnv };
    const agentCli = (...args: string[]): Promise<CliRun> =>
      runNodeBg(AGENT_CLI, ['--config', agentConfig, ...args], agentEnv).done;
    const agentRead = async (...args: string[]): Promise<CliRun> => {
      let stdout = '';
      let stderr = '';
      const code = await runAgentCli(
        ['--config', agentConfig, ...args],
        { stdout: (t) => (stdout += t), stderr: (t) => (stderr += t) },
        { env: { ...process.env, ...agentEnv } },
      );
      return { code, stdout, stderr, json: <T>() => JSON.parse(stdout) as T };
    };
    await enrollAgent({
      configPath: agentConfig,
      coordinatorUrl: url,
      hostId: HOST,
      enrollToken: et,
      env: agentEnv,
    });
    if (proxy !== undefined) {
      // Dial the coordinator through the proxy (enroll wrote the direct URL).
      const text = await readFile(agentConfig, 'utf8');
      await writeFile(agentConfig, text.split(`127.0.0.1:${port}`).join(`127.0.0.1:${proxy.port}`));
    }
    const agentLog = join(agentDir, 'agent.log');
    // Polled by every agent start: over HTTP (what `launchplane hosts` reads), not a CLI process
    // (~1 s of node start-up each on a loaded CI machine).
    const session = async (): Promise<{ connected: boolean; connectedAt: number | null }> => {
      const res = await fetch(`${url}/v1/hosts`, {
        headers: { authorization: `Bearer ${viewer}` },
      }).catch(() => undefined);
      if (res?.ok !== true) return { connected: false, connectedAt: null };
      const doc = (await res.json()) as {
        hosts: { hostId: string; connected: boolean; connectedAt: number | null }[];
      };
      const h = doc.hosts.find((x) => x.hostId === HOST);
      return { connected: h?.connected === true, connectedAt: h?.connectedAt ?? null };
    };
    const hostConnected = async (): Promise<boolean> => (await session()).connected;
    let agent: Daemon | undefined;
    const startAgent = async (
      o: { wait?: boolean; env?: NodeJS.ProcessEnv } = {},
    ): Promise<void> => {
      // A session the coordinator has not yet seen end (the agent was just killed) is not the
      // new agent's: wait for a session that started after this one.
      const before = (await session()).connectedAt;
      const d = spawnDaemon(
        [
          process.execPath,
          ...(opts.agentNodeArgs ?? []),
          AGENT_CLI,
          '--config',
          agentConfig,
          'run',
        ],
        { env: { ...process.env, ...agentEnv, ...o.env }, logFile: agentLog },
      );
      agent = d;
      if (o.wait === false) return;
      await waitFor(
        async () => {
          if (!d.alive())
            throw new Error(`agent exited: ${(await readFile(agentLog, 'utf8')).slice(-2000)}`);
          const now = await session();
          return now.connected && now.connectedAt !== before;
        },
        { timeoutMs: 30_000, intervalMs: 100, what: 'the agent to connect' },
      );
    };
    cleanups.push(async () => agent?.stop({ graceMs: 15_000 }));
    if (opts.startAgent !== false) await startAgent();

    const simJson = simJsonClient(sim.url, PAT);
    const simRunners = async (): Promise<SimRunnerTruth[]> => {
      const doc = await simJson<{ runners: SimRunnerTruth[] } | SimRunnerTruth[]>(
        'GET',
        '/_sim/runners',
      );
      return Array.isArray(doc) ? doc : doc.runners;
    };
    const lanes = async (): Promise<LaneView[]> =>
      (await must(inProcess(viewer, 'lanes', '--json'), 'lanes')).json<{ lanes: LaneView[] }>()
        .lanes;
    const audit = async (...filter: string[]): Promise<AuditView[]> =>
      (await must(inProcess(viewer, 'audit', '--json', ...filter), 'audit')).json<{
        records: AuditView[];
      }>().records;
    const laneIdOfUnit = (name: string): string =>
      name.slice(LANE_PREFIX.length).replace(/\.service$/, '');
    const ownUnits = async (): Promise<string[]> =>
      [...new Set((await ownUnitNames()).map(laneIdOfUnit))].sort();

    let policyNo = 0;
    const world: FaultWorld = {
      sim,
      url,
      adminToken,
      operator,
      viewer,
      work,
      agentConfig,
      agentDataDir,
      coordDataDir,
      proxy,
      cli,
      cliBg,
      agentCli,
      agentRead,
      async killAgent() {
        const d = agent;
        if (d === undefined || !d.alive()) return;
        process.kill(d.pid, 'SIGKILL');
        await d.exited;
      },
      startAgent,
      async agentExited() {
        const d = agent;
        if (d !== undefined && d.alive()) await d.exited;
      },
      agentAlive: () => agent?.alive() === true,
      async killCoordinator() {
        const d = coordinator;
        if (d === undefined || !d.alive()) return;
        process.kill(d.pid, 'SIGKILL');
        await d.exited;
      },
      startCoordinator,
      hostConnected,
      async applyPolicy(n) {
        policyNo += 1;
        const file = join(work.path, `policy-${policyNo}.yaml`);
        await writeFile(
          file,
          [
            'version: 1',
            `allowedHosts: [${HOST}]`,
            `allowedRepositories: [${REPO}]`,
            'pools:',
            '  build:',
            `    repository: ${REPO}`,
            '    labels: [linux]',
            `    backend: ${opts.backend ?? 'systemd'}`,
            ...(opts.backend === 'docker'
              ? ['    docker: { image: "launchplane-faults/runner:latest" }']
              : []),
            '    ephemeral: false',
            `    lanes: { ${HOST}: ${n} }`,
            '',
          ].join('\n'),
        );
        await must(inProcess(adminToken, 'policy', 'apply', file, '--json'), 'policy apply');
      },
      lanes,
      async lanesFast() {
        const res = await fetch(`${url}/v1/lanes`, {
          headers: { authorization: `Bearer ${viewer}` },
        });
        if (!res.ok) throw new Error(`GET /v1/lanes: ${res.status}`);
        const body = (await res.json()) as { lanes: LaneView[] };
        return body.lanes;
      },
      audit,
      simJson,
      simRunners,
      enqueueJob: (durationMs) =>
        simJson<SimJob>('POST', '/_sim/jobs', {
          repository: REPO,
          labels: ['linux', 'lp-pool-build'],
          durationMs,
        }),
      job: (id) => simJson<SimJob>('GET', `/_sim/jobs/${id}`),
      ownUnits,
      async unitActive(laneId) {
        const r = await userctl('is-active', `${LANE_PREFIX}${laneId}.service`).catch(
          (e: { stdout?: string }) => ({ stdout: e.stdout ?? '' }),
        );
        return r.stdout.trim() === 'active';
      },
      async unitInvocation(laneId) {
        const r = await userctl(
          'show',
          '--property=InvocationID',
          '--value',
          `${LANE_PREFIX}${laneId}.service`,
        );
        return r.stdout.trim();
      },
      async consistency() {
        // The four sources are read at once: reading them one after the other only widens the
        // window in which they may disagree. The agent's audit is read before the coordinator's
        // copy, so a record forwarded meanwhile is found.
        const [ledgerRun, units, coordLanes, runnersNow, [agentAudit, coordAuditRecords]] =
          await Promise.all([
            must(agentRead('lanes', '--json'), 'agent lanes'),
            ownUnits(),
            lanes(),
            simRunners(),
            agentRead('audit', '--verify', '--json').then(
              async (a) => [a, await audit('--host', HOST)] as const,
            ),
          ]);
        const ledgerRows = ledgerRun
          .json<{ lanes: { laneId: string; state: string }[] }>()
          .lanes.filter((l) => l.state !== 'removed');
        const ledger = ledgerRows.map((l) => l.laneId).sort();
        const coordinator = coordLanes
          .filter((l) => l.hostId === HOST && l.state !== 'removed')
          .map((l) => l.laneId)
          .sort();
        const managed = runnersNow
          .filter((r) => r.id !== plantedRunner.id)
          .map(laneIdOfRunner)
          .filter((x): x is string => x !== undefined);
        const unmanagedTouched: string[] = [];
        const unitNow = await unitFacts();
        if (unitNow !== plantedUnitFacts)
          unmanagedTouched.push(`unit ${plantedUnit}: ${plantedUnitFacts} → ${unitNow}`);
        const unitText = await readFile(join(systemd.unitDir, plantedUnit), 'utf8').catch(
          () => '(deleted)',
        );
        if (unitText !== plantedUnitText) unmanagedTouched.push(`unit file ${plantedUnit} changed`);
        const runnerNow = runnersNow.find((r) => r.id === plantedRunner.id);
        const labelsOf = (r: SimRunnerTruth): string => r.labels.map(labelName).sort().join(',');
        if (runnerNow === undefined) unmanagedTouched.push(`runner ${plantedRunner.id} deleted`);
        else if (labelsOf(runnerNow) !== labelsOf(plantedRunner))
          unmanagedTouched.push(`runner ${plantedRunner.id} relabelled: ${labelsOf(runnerNow)}`);
        const simRunnerIds = [...managed].sort();
        const all = new Set([...ledger, ...units, ...coordinator, ...simRunnerIds]);
        const lost = [...all].filter(
          (id) =>
            !ledger.includes(id) ||
            !units.includes(id) ||
            !coordinator.includes(id) ||
            !simRunnerIds.includes(id),
        );
        const dup = (xs: string[]): string[] => xs.filter((x, i) => xs.indexOf(x) !== i);
        const duplicated = [
          ...new Set([...dup(ledger), ...dup(simRunnerIds), ...dup(coordinator)]),
        ];
        const orphanRegistrations = simRunnerIds.filter((id) => !ledger.includes(id));
        const agentDoc = agentAudit.json<{
          records: { seq: number }[];
          verify?: { ok: boolean };
        }>();
        const coordAudit = coordAuditRecords
          .map((r) => r.params?.agentSeq)
          .filter((s): s is number => typeof s === 'number');
        const seen = new Set(coordAudit);
        const auditLost = agentDoc.records.filter((r) => !seen.has(r.seq)).length;
        return {
          ledger,
          units,
          coordinator,
          simRunners: simRunnerIds,
          lost,
          duplicated,
          orphanRegistrations,
          auditLost,
          auditDuplicated: coordAudit.length - seen.size,
          agentAuditRecords: agentDoc.records.length,
          agentAuditVerified: agentAudit.code === 0 && agentDoc.verify?.ok === true,
          unmanagedTouched,
        };
      },
      integrity() {
        const check = (file: string): string => {
          const db = new Database(file, { readonly: true, fileMustExist: true });
          try {
            return (db.pragma('integrity_check') as { integrity_check: string }[])
              .map((r) => r.integrity_check)
              .join('; ');
          } finally {
            db.close();
          }
        };
        return {
          agent: check(join(agentDataDir, 'private', 'ledger.db')),
          coordinator: check(join(coordDataDir, 'coordinator.db')),
        };
      },
      log: async (which) =>
        readFile(which === 'agent' ? agentLog : coordLog, 'utf8').catch(() => ''),
      close,
    };
    return world;
  } catch (err) {
    await close();
    throw err;
  }
}

/** Failed actions seen without a recovery hint, and hints an operator followed. */
export interface HintTally {
  withoutHint: string[];
  followed: number;
}

/** Notes every failed action of an `apply --json` run that names no recovery. */
export function judgeApply(r: CliRun, tally: HintTally): void {
  if (r.code === 0) return;
  const doc = safeJson(r.stdout) as {
    reports?: { ok: boolean; error?: { code: string; recovery?: string }; recovery?: string }[];
  } | null;
  const failed = (doc?.reports ?? []).filter((x) => !x.ok);
  for (const f of failed) {
    const hint = f.error?.recovery ?? f.recovery;
    if (hint === undefined || hint === '') tally.withoutHint.push(JSON.stringify(f));
  }
  if (failed.length === 0 && !/hint:/.test(r.stderr)) tally.withoutHint.push(r.stderr);
}

/**
 * What an operator does after a fault: every `failed` lane must carry a hint; they follow it
 * (`lane remove`), then `apply` until `want` lanes are online. Returns the lanes.
 */
export async function converge(
  world: FaultWorld,
  want: number,
  tally: HintTally,
  tag: string,
): Promise<LaneView[]> {
  const say = (msg: string): void => {
    process.stderr.write(`[${tag} ${new Date().toISOString().slice(14, 23)}] ${msg}\n`);
  };
  for (let round = 0; round < 4; round += 1) {
    const lanes = await world.lanes();
    say(`converge ${round}: ${lanes.map((l) => l.state).join(',')}`);
    for (const lane of lanes.filter((l) => l.state === 'failed')) {
      const hint = lane.recovery ?? lane.lastError?.recovery;
      if (hint === undefined) tally.withoutHint.push(`lane ${lane.laneId} failed, no hint`);
      const rm = await world.cli(world.operator, 'lane', 'remove', lane.laneId, '--wait', '--json');
      tally.followed += 1;
      say(`followed hint: remove ${rm.code}`);
      if (rm.code !== 0) throw new Error(`lane remove ${lane.laneId}: ${rm.stderr}`);
    }
    const apply = await world.cli(world.operator, 'apply', '--wait', '--json');
    judgeApply(apply, tally);
    say(`apply ${apply.code}`);
    const now = await world.lanes();
    if (apply.code === 0 && now.filter((l) => l.state === 'online').length === want) return now;
  }
  throw new Error(`did not converge: ${JSON.stringify(await world.lanes())}`);
}

/**
 * Waits until ledger, units, coordinator and GitHub agree on the lanes, and the coordinator holds
 * every audit record of the agent (they are forwarded a moment after they are written); returns
 * what the sources said then. On timeout, shows what they said last.
 */
export async function agree(world: FaultWorld, what: string): Promise<Consistency> {
  let last: unknown;
  try {
    return await waitFor(
      async () => {
        const c = await world.consistency();
        last = c;
        return c.lost.length === 0 && c.auditLost === 0 ? c : undefined;
      },
      { timeoutMs: 20_000, intervalMs: 200, what },
    );
  } catch (err) {
    throw new Error(
      `${String(err)}: ${JSON.stringify(last)}; lanes ${JSON.stringify(await world.lanes())}; GitHub runners ${JSON.stringify(await world.simRunners())}`,
    );
  }
}

function safeJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return null;
  }
}
