/**
 * The set-up the real-lane suites share: the simulator, a temp dir lane users can reach, the
 * agent fixture and a started core on one backend, torn down (every lane removed with force)
 * after the suite. And the hostile-job helpers of the escape suites: an attack script that writes
 * one `name=blocked|escaped` line per attempt, run as a real job's job-started hook, and its
 * output read back as a record.
 */
import { lchown, lstat, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import Docker from 'dockerode';
import type { GitHubSim } from '@launchplane/github-sim';
import type { Command } from '@launchplane/shared';
import { afterAll, beforeAll } from 'vitest';

import { AgentCore } from '../../packages/agent/src/agent-core.js';
import { DockerContainerRuntime } from '../../packages/agent/src/adapters/docker/docker-container-runtime.js';
import { DbusUnitManager } from '../../packages/agent/src/adapters/systemd/dbus-unit-manager.js';
import { LANE_FILES } from '../../packages/agent/src/lanes/lane-layout.js';
import {
  buildScratchImage,
  tempDir,
  waitFor,
  type SystemdTestbed,
  type TempDir,
} from '../testbed/index.js';
import {
  agentFixture,
  enqueueJob,
  removeLane,
  startSim,
  waitForJob,
  waitForRunner,
  RUNNER_IMAGE,
  type AgentFixture,
} from './agent-fixture.js';

/** One suite's agent on real lanes. */
export interface LaneWorld {
  sim: GitHubSim;
  work: TempDir;
  f: AgentFixture;
  core: AgentCore;
}

/** The backend a {@link laneWorld} runs its lanes on, and how to let it go. */
interface WorldBackend {
  deps: Parameters<AgentFixture['deps']>[0];
  /** Where the simulator listens (a Docker bridge's gateway); default loopback. */
  simHost?: string;
  /** Where the temp dir goes (systemd lanes: the testbed's lane root). */
  base?: string;
  close(): Promise<void>;
}

const SET_UP_MS = 240_000;
const TEAR_DOWN_MS = 120_000;

/**
 * Registers the suite's `beforeAll`/`afterAll`: `backend` first (a daemon of the suite's own
 * starts there), then the simulator, the temp dir and the core; after the suite, every lane is
 * removed with force, then the core, the backend, the simulator and the dir go. Returns an
 * accessor for tests and later hooks.
 */
function laneWorld(prefix: string, backend: () => Promise<WorldBackend>): () => LaneWorld {
  let world: Partial<LaneWorld> = {};
  let made: WorldBackend | undefined;
  beforeAll(async () => {
    made = await backend();
    const sim = await startSim(made.simHost === undefined ? {} : { host: made.simHost });
    world.sim = sim;
    const work = await tempDir({
      prefix,
      laneUsers: true,
      ...(made.base === undefined ? {} : { base: made.base }),
    });
    world.work = work;
    const f = agentFixture(join(work.path, 'data'));
    world.f = f;
    world.core = await AgentCore.create(f.deps(made.deps));
  }, SET_UP_MS);
  afterAll(async () => {
    const { core, f } = world;
    if (core !== undefined && f !== undefined) {
      for (const lane of core.listLanes()) await removeLane(f, core, lane.laneId, true);
    }
    await core?.stop();
    await made?.close();
    await world.sim?.close();
    await world.work?.cleanup();
    world = {};
  }, TEAR_DOWN_MS);
  return () => {
    const { sim, work, f, core } = world;
    if (sim === undefined || work === undefined || f === undefined || core === undefined) {
      throw new Error('the lane world is not set up (call it in a test or a later hook)');
    }
    return { sim, work, f, core };
  };
}

/** A {@link laneWorld} on the testbed's systemd user manager. */
export function systemdLaneWorld(
  systemd: () => SystemdTestbed,
  prefix: string,
): () => LaneWorld & { units: DbusUnitManager } {
  let units: DbusUnitManager | undefined;
  const world = laneWorld(prefix, async () => {
    const sd = systemd();
    const made = await DbusUnitManager.create({
      bus: 'user',
      unitDir: sd.unitDir,
      busAddress: sd.env.DBUS_SESSION_BUS_ADDRESS,
    });
    units = made;
    return { deps: { units: made }, base: sd.laneRoot, close: () => made.close() };
  });
  return () => ({ ...world(), units: units! });
}

/** A dockerd to run lanes on: its socket and its default bridge's gateway. */
export interface LaneDockerd {
  socketPath: string;
  gateway: string;
  /** Stops a daemon of the suite's own; the testbed's is left running. */
  stop?: () => Promise<void>;
}

/**
 * A {@link laneWorld} on a dockerd, with {@link RUNNER_IMAGE} built there and the simulator on
 * the bridge's gateway (where the lane's container reaches it).
 */
export function dockerLaneWorld(
  prefix: string,
  dockerd: () => Promise<LaneDockerd>,
): () => LaneWorld & { containers: DockerContainerRuntime; docker: Docker } {
  let containers: DockerContainerRuntime | undefined;
  let docker: Docker | undefined;
  const world = laneWorld(prefix, async () => {
    const d = await dockerd();
    docker = new Docker({ socketPath: d.socketPath });
    await buildScratchImage(docker, RUNNER_IMAGE);
    containers = new DockerContainerRuntime({ socketPath: d.socketPath, stopTimeoutSec: 30 });
    return {
      deps: { containers },
      simHost: d.gateway,
      close: async () => d.stop?.(),
    };
  });
  return () => ({ ...world(), containers: containers!, docker: docker! });
}

/**
 * A job-started hook that tries each of `attempts` (`try <name> <command…>`) and then runs
 * `extra` (lines that append to `"$out"` themselves), writing one `name=blocked|escaped` line
 * per attempt, the caller's lines, `uid=…` and `done` into the lane's `state/attack.out`.
 */
export function attackScript(attempts: readonly string[], extra: readonly string[] = []): string {
  return [
    '#!/bin/sh',
    'out="${0%/*}/../state/attack.out"',
    'try() {',
    '  name=$1; shift',
    '  if "$@" >/dev/null 2>&1; then echo "$name=escaped" >> "$out"; else echo "$name=blocked" >> "$out"; fi',
    '}',
    ...attempts.map((a) => `try ${a}`),
    ...extra,
    'echo "uid=$(id -u)" >> "$out"',
    'echo done >> "$out"',
    '',
  ].join('\n');
}

/** The `grep` line that appends these lines of `/proc/self/status` (`CapBnd: …`) to the output. */
export function statusLines(fields: readonly string[]): string {
  return `grep -E '^(${fields.join('|')}):' /proc/self/status >> "$out"`;
}

/**
 * Runs `script` as a real job on `lane`: plants it as the lane's job-started hook (owned by the
 * lane's user, as the job's own files are), waits for the runner, queues a job for the lane's
 * label, and returns what the script wrote, parsed: `name=value` and `Field:\tvalue` lines.
 */
export async function runAttackJob(
  world: LaneWorld,
  lane: Extract<Command, { type: 'lane.create' }>,
  script: string,
  tag: string,
): Promise<Record<string, string>> {
  const { sim, f } = world;
  const dir = join(f.config.dataDir, 'lanes', lane.laneId);
  const hook = join(dir, LANE_FILES.jobStartedHook);
  const owner = await lstat(dir);
  await writeFile(hook, script, { mode: 0o755 });
  await lchown(hook, owner.uid, owner.gid);
  await waitForRunner(sim, lane.runnerId ?? 0, 'online');
  const job = await enqueueJob(sim, 500, { labels: [`lp-lane-${lane.laneId}`] });
  await waitForJob(sim, job, 'completed');
  const out = await waitFor(
    async () => {
      const text = await readFile(join(dir, '_launchplane', 'state', 'attack.out'), 'utf8').catch(
        () => '',
      );
      return text.includes('done\n') ? text : undefined;
    },
    { timeoutMs: 30_000, intervalMs: 200, what: 'the attack to finish' },
  );
  process.stderr.write(`[${tag}] the job saw:\n${out}`);
  return Object.fromEntries(
    out
      .trim()
      .split('\n')
      .map((l) => l.split(/=|:\s*/) as [string, string]),
  );
}
