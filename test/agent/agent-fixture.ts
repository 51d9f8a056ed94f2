/**
 * Shared set-up of the agent integration suites: a github-sim, keys, an agent config over a data dir
 * the lane units can reach, and helpers to sign commands, ask the sim for runner credentials, and
 * check that the ledger matches what systemd and Docker show.
 */
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import {
  agentConfigSchema,
  fingerprint,
  generateEd25519KeyPair,
  newLaneId,
  verifyResult,
} from '@launchplane/shared';
import type {
  AgentConfig,
  Command,
  CommandPayload,
  Ed25519KeyPair,
  ResultPayload,
} from '@launchplane/shared';
import { startGitHubSim, stubRunnerTemplateDir, type GitHubSim } from '@launchplane/github-sim';
import { testCommandSigner } from '@launchplane/testkit/commands';
import { simJsonClient, type SimRunner } from '@launchplane/testkit/sim';
import { expect } from 'vitest';

import type { AgentCore } from '../../packages/agent/src/agent-core.js';
import { type AgentCoreDeps } from '../../packages/agent/src/agent-core.js';
import { systemClock } from '../../packages/agent/src/ports/clock.js';
import { silentLogger } from '../../packages/agent/src/ports/logger.js';
import type { ContainerRuntime } from '../../packages/agent/src/ports/container-runtime.js';
import type { UnitManager } from '../../packages/agent/src/ports/unit-manager.js';
import { TEST_LANE_UID_RANGE, waitFor } from '../testbed/index.js';

/** PAT the sim accepts. */
export const SIM_TOKEN = 'ghp_agenttest00000000000000000000000000';

/**
 * Starts a github-sim tuned for quick runner tests. `offlineAfterMs` is how long a runner whose
 * listener vanished without closing its session still reads online (default 3 s).
 */
export function startSim(
  options: { offlineAfterMs?: number; host?: string } = {},
): Promise<GitHubSim> {
  return startGitHubSim({
    tokens: [SIM_TOKEN],
    ...(options.host === undefined ? {} : { host: options.host }),
    config: {
      pollWaitMs: 300,
      offlineAfterMs: options.offlineAfterMs ?? 3000,
      busyLag: { lagMs: 0, flipAfterMs: 0, flipMs: 0, trailMs: 0 },
    },
  });
}

/** Calls the sim's REST API with the PAT. */
export function simJson<T>(
  sim: GitHubSim,
  method: string,
  path: string,
  body?: unknown,
): Promise<T> {
  return simJsonClient(sim.url, SIM_TOKEN)<T>(method, path, body);
}

export type { SimRunner } from '@launchplane/testkit/sim';

/** The agent side of a suite. */
export interface AgentFixture {
  config: AgentConfig;
  keys: { coordinator: Ed25519KeyPair; host: Ed25519KeyPair };
  /** Deps without the backends (the suite adds them). */
  deps(extra: { units?: UnitManager; containers?: ContainerRuntime }): AgentCoreDeps;
  sign(cmd: Command, overrides?: Partial<CommandPayload>): string;
  send(core: AgentCore, cmd: Command): Promise<ResultPayload>;
  read(jws: string): ResultPayload;
}

/**
 * Builds the agent side: `dataDir` must be reachable by lane units (not under /tmp) and by lane
 * users (make it with `tempDir({ laneUsers: true })`). Lanes run as users of their own from the
 * tests' uid range; `runner` overrides that (e.g. `allowRoot`).
 */
export function agentFixture(
  dataDir: string,
  runnerEnv: Record<string, string> = {},
  runner: Record<string, unknown> = {},
): AgentFixture {
  const keys = { coordinator: generateEd25519KeyPair(), host: generateEd25519KeyPair() };
  const config = agentConfigSchema.parse({
    hostId: 'host-a',
    dataDir,
    optIn: {
      repositories: ['acme/api'],
      backends: ['systemd', 'docker'],
      maxLanes: 10,
      // The test images by repository; host networking so the runner reaches the simulator on
      // 127.0.0.1 (lane.create commands of these suites ask for it).
      docker: { images: TEST_IMAGE_REPOSITORIES, networks: ['bridge', 'host'] },
    },
    runner: {
      template: stubRunnerTemplateDir(),
      users: { uidRange: TEST_LANE_UID_RANGE },
      stopTimeoutSec: 60,
      ...runner,
    },
  });
  const sign = testCommandSigner({
    privateKey: keys.coordinator.privateKey,
    clock: systemClock,
    seqFromClock: true,
  });
  const f: AgentFixture = {
    config,
    keys,
    deps: (extra) => ({
      config,
      hostKey: keys.host.privateKey,
      coordinatorKey: keys.coordinator.publicKey,
      coordinatorFingerprint: fingerprint(keys.coordinator.publicKey),
      units: extra.units,
      containers: extra.containers,
      clock: systemClock,
      logger: silentLogger,
      runnerEnv: { LAUNCHPLANE_STUB_HEARTBEAT_MS: '200', ...runnerEnv },
    }),
    sign,
    async send(core, cmd) {
      return f.read(await core.handleCommand(f.sign(cmd)));
    },
    read(jws) {
      return verifyResult(jws, { publicKey: keys.host.publicKey, hostId: 'host-a' });
    },
  };
  return f;
}

let idSeq = 0;
/** A fresh lane id, distinct within one millisecond too. */
export function freshLaneId(): string {
  idSeq += 1;
  return newLaneId(Date.now() + idSeq);
}

/** The repositories of the images the agent suites build, which their hosts allow. */
export const TEST_IMAGE_REPOSITORIES = [
  'launchplane-test/agent-lane-runner',
  'launchplane-test/agent-lane-named',
  'launchplane-test/agent-lane-root',
  'launchplane-test/agent-lane-confined',
];

/**
 * A docker lane's settings for a suite: the runner must reach the simulator on 127.0.0.1, so host
 * networking (which {@link agentFixture}'s host allows) unless the suite names a network.
 */
function laneDocker(docker: { image: string; network?: string }): {
  image: string;
  network: string;
} {
  return { network: 'host', ...docker };
}

/** A lane.create for an ephemeral lane with a JIT config from the sim. */
export async function jitCreate(
  sim: GitHubSim,
  backend: 'systemd' | 'docker',
  docker?: { image: string; network?: string },
): Promise<Extract<Command, { type: 'lane.create' }>> {
  const laneId = freshLaneId();
  const name = `lp-host-a-build-${laneId.slice(-8)}`;
  const labels = ['launchplane', `lp-lane-${laneId}`, 'lp-pool-build'];
  const jit = await simJson<{ runner: { id: number }; encoded_jit_config: string }>(
    sim,
    'POST',
    '/repos/acme/api/actions/runners/generate-jitconfig',
    { name, runner_group_id: 1, labels },
  );
  return {
    type: 'lane.create',
    laneId,
    dryRun: false,
    name,
    scope: { repository: 'acme/api' },
    pool: 'build',
    labels,
    backend,
    ephemeral: true,
    runnerId: jit.runner.id,
    runner: { jitConfig: jit.encoded_jit_config },
    ...(docker === undefined ? {} : { docker: laneDocker(docker) }),
  };
}

/** A lane.create for a persistent lane with a registration token from the sim. */
export async function persistentCreate(
  sim: GitHubSim,
  backend: 'systemd' | 'docker',
  docker?: { image: string; network?: string },
): Promise<Extract<Command, { type: 'lane.create' }>> {
  const laneId = freshLaneId();
  const { token } = await simJson<{ token: string }>(
    sim,
    'POST',
    '/repos/acme/api/actions/runners/registration-token',
  );
  return {
    type: 'lane.create',
    laneId,
    dryRun: false,
    name: `lp-host-a-build-${laneId.slice(-8)}`,
    scope: { repository: 'acme/api' },
    pool: 'build',
    labels: ['launchplane', `lp-lane-${laneId}`, 'lp-pool-build'],
    backend,
    ephemeral: false,
    runner: { url: `${sim.url}/acme/api`, registrationToken: token },
    ...(docker === undefined ? {} : { docker: laneDocker(docker) }),
  };
}

/** Waits until the sim shows the runner with `status`. */
export async function waitForRunner(
  sim: GitHubSim,
  id: number,
  status: 'online' | 'offline',
): Promise<SimRunner> {
  return waitFor(
    async () => {
      const r = await simJson<SimRunner>(sim, 'GET', `/repos/acme/api/actions/runners/${id}`);
      return r.status === status ? r : undefined;
    },
    { timeoutMs: 30_000, intervalMs: 100, what: `runner ${id} ${status}` },
  );
}

/** Queues a job for the pool and returns its id; `failSetup`: it fails in "Set up job". */
export async function enqueueJob(
  sim: GitHubSim,
  durationMs: number,
  options: { failSetup?: boolean; labels?: string[] } = {},
): Promise<number> {
  const res = await fetch(`${sim.url}/_sim/jobs`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({
      repository: 'acme/api',
      labels: options.labels ?? ['lp-pool-build'],
      durationMs,
      ...(options.failSetup === true ? { failSetup: true } : {}),
    }),
  });
  return ((await res.json()) as { id: number }).id;
}

/** A job as the sim shows it. */
export async function simJob(
  sim: GitHubSim,
  id: number,
): Promise<{ status: string; conclusion: string | null }> {
  const res = await fetch(`${sim.url}/_sim/jobs/${id}`);
  return (await res.json()) as { status: string; conclusion: string | null };
}

/**
 * The ledger matches reality: every lane unit/container named like ours that is in the ledger is a
 * live lane, every live lane has its object and dir, no dir without a live lane, no open journal.
 * `ignore` lists look-alike objects the test planted.
 */
export async function expectLedgerMatchesReality(
  core: AgentCore,
  objects: readonly string[],
  dataDir: string,
  ignore: readonly string[] = [],
): Promise<void> {
  const lanes = core.ledger.lanes.all();
  const live = lanes.filter(
    (l) => l.state !== 'removed' && l.state !== 'failed' && l.state !== 'completed',
  );
  const dirs = await readdir(join(dataDir, 'lanes')).catch(() => []);
  const withDirs = lanes
    .filter((l) => l.state !== 'removed' && l.state !== 'failed')
    .map((l) => l.laneId);
  expect(dirs.sort()).toEqual(withDirs.sort());
  expect(objects.filter((o) => !ignore.includes(o)).sort()).toEqual(
    lanes
      .filter((l) => l.state !== 'removed' && l.state !== 'failed')
      .map((l) => l.objectName)
      .sort(),
  );
  for (const l of live) expect(objects).toContain(l.objectName);
  for (const l of lanes) expect(core.ledger.journal.openOperation(l.laneId)).toBeUndefined();
  expect(core.verifyAudit()).toEqual({ ok: true });
}

/** A process as /proc shows it: its name and real uid. */
export interface ProcInfo {
  pid: number;
  comm: string;
  uid: number;
}

/** /proc's view of `pids` (the ones still there). */
export async function procInfo(pids: readonly number[]): Promise<ProcInfo[]> {
  const out: ProcInfo[] = [];
  for (const pid of pids) {
    try {
      const status = await readFile(`/proc/${pid}/status`, 'utf8');
      const comm = (await readFile(`/proc/${pid}/comm`, 'utf8')).trim();
      const uid = Number(/^Uid:\s+(\d+)/m.exec(status)?.[1] ?? -1);
      out.push({ pid, comm, uid });
    } catch {
      // gone while we looked
    }
  }
  return out;
}

/**
 * A stand-in for the official runner image, built offline (`buildScratchImage`): bash, a
 * `runner` user (uid 1001) and `USER 1001`, and no RUNNER_MANUALLY_TRAP_SIG of its own, so the
 * agent's setting is what counts.
 */
export const RUNNER_IMAGE = {
  tag: 'launchplane-test/agent-lane-runner:latest',
  users: [{ name: 'runner', uid: 1001, gid: 1001, home: '/home/runner' }],
  groups: [{ name: 'runner', gid: 1001 }],
  user: '1001',
};

/** Sends `lane.remove` for a lane (not a dry run). */
export function removeLane(
  f: AgentFixture,
  core: AgentCore,
  laneId: string,
  force = false,
): Promise<ResultPayload> {
  return f.send(core, { type: 'lane.remove', laneId, dryRun: false, force });
}

/** Waits until the sim shows the job with `status`. */
export async function waitForJob(sim: GitHubSim, id: number, status: string): Promise<void> {
  await waitFor(async () => (await simJob(sim, id)).status === status, {
    timeoutMs: 30_000,
    intervalMs: 200,
    what: `job ${id} ${status}`,
  });
}

/** Waits until the lane's local busy signal sees a live `Runner.Worker`. */
export async function waitForWorker(
  f: AgentFixture,
  core: AgentCore,
  laneId: string,
): Promise<void> {
  await waitFor(
    async () =>
      (await f.send(core, { type: 'lane.inspect', laneId, dryRun: false })).lane?.local
        ?.workerProcess === true,
    { timeoutMs: 30_000, intervalMs: 200, what: `a Runner.Worker on lane ${laneId}` },
  );
}
