/**
 * A coordinator with its control API, the GitHub simulator behind the real Octokit client, and
 * the built agent enrolled and running against the testbed's systemd user manager. Operators act
 * through `runCli`. Everything is torn down by `close()`.
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { mkdir, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { controlRouteFactory, type Control, type ControlOptions } from '@launchplane/coordinator';
import { startGitHubSim, type GitHubSim } from '@launchplane/github-sim';
import { AGENT_CLI, enrollAgent } from '@launchplane/testkit/cli';
import type { SimRunner } from '@launchplane/testkit/sim';
import { startHarness, type Harness } from '../coordinator-server/harness.js';
import type { SystemdTestbed } from '../testbed/index.js';
import { TEST_LANE_UID_RANGE } from '../testbed/lane-users.js';
import { OwnedLanes } from '../testbed/owned-lanes.js';
import { tempDir, type TempDir } from '../testbed/temp-dir.js';
import { waitFor } from '../testbed/wait-for.js';
import { cliClient, simJsonClient, type CliRun } from './world-io.js';

export type { CliRun } from './world-io.js';

export const PAT = 'ghp_controlworld0000000000000000000000000';
const run = promisify(execFile);

export type { SimRunner } from '@launchplane/testkit/sim';

export interface ControlWorld {
  sim: GitHubSim;
  harness: Harness;
  control: Control;
  work: TempDir;
  operator: string;
  viewer: string;
  /** Runs the CLI against the coordinator with the given token. */
  cli(token: string, ...args: string[]): Promise<CliRun>;
  simJson<T>(method: string, path: string, body?: unknown): Promise<T>;
  simRunners(): Promise<SimRunner[]>;
  /** `systemctl --user …` against the testbed's manager. */
  userctl(...args: string[]): Promise<{ stdout: string }>;
  close(): Promise<void>;
}

export interface ControlWorldOptions {
  systemd: SystemdTestbed;
  policy: string;
  /** The agent's runner template (default: the simulator's stub runner). */
  runnerTemplate: string;
  createOnlineSec?: number;
  drainSec?: number;
  control?: ControlOptions;
}

export async function startControlWorld(opts: ControlWorldOptions): Promise<ControlWorld> {
  await stat(AGENT_CLI).catch(() => {
    throw new Error(`${AGENT_CLI} is missing: build first (npm run build)`);
  });
  const cleanups: (() => Promise<unknown>)[] = [];
  const close = async (): Promise<void> => {
    for (const c of cleanups.reverse()) await c().catch(() => undefined);
  };
  try {
    const sim = await startGitHubSim({
      tokens: [PAT],
      config: {
        pollWaitMs: 300,
        offlineAfterMs: 3000,
        busyLag: { lagMs: 500, flipAfterMs: 0, flipMs: 0, trailMs: 500 },
      },
    });
    cleanups.push(() => sim.close());
    let control: Control | undefined;
    const harness = await startHarness({
      yaml: [
        `github: { apiUrl: "${sim.url}", webUrl: "${sim.url}", auth: { token: "${PAT}" } }`,
        `timeouts: { createOnlineSec: ${opts.createOnlineSec ?? 60}, drainSec: ${opts.drainSec ?? 120} }`,
      ].join('\n'),
      routes: [
        controlRouteFactory({
          options: {
            settleObservations: 3,
            settleSec: 2,
            drainPollSec: 1,
            pollBaseMs: 250,
            pollCapMs: 1000,
            ...opts.control,
          },
          onStarted: (c) => (control = c),
        }),
      ],
    });
    cleanups.push(() => harness.close());
    cleanups.push(async () => control?.stop());
    // The harness clock stands still unless moved; signed commands need a live one.
    harness.clock.now = Math.floor(Date.now() / 1000);
    const ticker = setInterval(() => (harness.clock.now = Math.floor(Date.now() / 1000)), 250);
    cleanups.push(() => Promise.resolve(clearInterval(ticker)));
    if (control === undefined) throw new Error('the control routes were not started');

    const applied = await harness.api('POST', '/v1/policy', { body: { text: opts.policy } });
    if (applied.status >= 300) throw new Error(`policy: ${JSON.stringify(applied.body)}`);
    const operator = (await harness.token('operator')).token;
    const viewer = (await harness.token('viewer')).token;

    const work = await tempDir({
      base: opts.systemd.laneRoot,
      prefix: 'control-world-',
      laneUsers: true,
    });
    cleanups.push(() => work.cleanup());
    const userctl = (...args: string[]) =>
      run('systemctl', ['--user', ...args], { env: { ...process.env, ...opts.systemd.env } });
    // Lane units of this world must not outlive it. The manager is shared with the other files
    // of the run, some running at the same time: only units whose lane dir is under this world's
    // dir are this world's.
    const owned = new OwnedLanes(work.path, { kind: 'systemd', systemd: opts.systemd });
    cleanups.push(async () => {
      for (const unit of await owned.names()) await userctl('stop', unit).catch(() => undefined);
    });
    const configPath = join(work.path, 'agent.yaml');
    await mkdir(join(work.path, 'data'), { recursive: true });
    await writeFile(
      configPath,
      [
        'hostId: host-a',
        `dataDir: ${join(work.path, 'data')}`,
        'optIn: { repositories: [acme/api], backends: [systemd], maxLanes: 4 }',
        `systemd: { bus: user, unitDir: ${opts.systemd.unitDir} }`,
        `runner: { template: ${opts.runnerTemplate}, users: { uidRange: "${TEST_LANE_UID_RANGE}" } }`,
        '',
      ].join('\n'),
    );
    const enroll = await harness.api('POST', '/v1/enrollment-tokens', {
      body: { hostId: 'host-a' },
    });
    if (enroll.status !== 201) throw new Error(`enroll token: ${JSON.stringify(enroll.body)}`);
    await enrollAgent({
      configPath,
      coordinatorUrl: harness.baseUrl,
      hostId: 'host-a',
      enrollToken: {
        token: String(enroll.body.token),
        coordinatorFingerprint: String(enroll.body.coordinatorFingerprint),
      },
    });
    const agent: ChildProcess = spawn(
      process.execPath,
      [AGENT_CLI, '--config', configPath, 'run'],
      {
        env: { ...process.env, ...opts.systemd.env },
        stdio: 'ignore',
      },
    );
    cleanups.push(async () => {
      if (agent.exitCode !== null) return;
      const exited = new Promise((r) => agent.on('close', r));
      agent.kill('SIGTERM');
      await exited;
    });
    await waitFor(() => harness.coordinator.server.hub.session('host-a')?.inventory, {
      timeoutMs: 20_000,
      what: 'the agent session and its inventory',
    });

    const simJson = simJsonClient(sim.url, PAT);
    return {
      sim,
      harness,
      control,
      work,
      operator,
      viewer,
      cli: cliClient(harness.baseUrl),
      simJson,
      simRunners: async () =>
        (await simJson<{ runners: SimRunner[] }>('GET', '/repos/acme/api/actions/runners')).runners,
      userctl,
      close,
    };
  } catch (err) {
    await close();
    throw err;
  }
}
