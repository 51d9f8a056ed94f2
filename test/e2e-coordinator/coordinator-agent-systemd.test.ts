/**
 * End to end: a real coordinator (in process, HTTP + WebSocket on 127.0.0.1 port 0) with its
 * control API, the built `launchplane-agent` enrolled and running against a private systemd user
 * manager, and the GitHub simulator driven through the real Octokit client. Operators act
 * through `runCli`, as scripts would. Skips (fails under CI=true) without systemd.
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { mkdir, rm, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { laneLabels } from '@launchplane/shared';
import { controlRouteFactory, runCli, type Control } from '@launchplane/coordinator';
import { startGitHubSim, stubRunnerTemplateDir, type GitHubSim } from '@launchplane/github-sim';
import { simJsonClient, type SimRunner } from '@launchplane/testkit/sim';
import { startHarness, type Harness } from '../coordinator-server/harness.js';
import { describeWithSystemd } from '../testbed/require.js';
import { TEST_LANE_UID_RANGE } from '../testbed/lane-users.js';
import { tempDir, type TempDir } from '../testbed/temp-dir.js';
import { waitFor } from '../testbed/wait-for.js';
import { OwnedLanes } from '../testbed/owned-lanes.js';

const AGENT_BIN = fileURLToPath(new URL('../../packages/agent/dist/cli.js', import.meta.url));
const PAT = 'ghp_e2ecoordinator000000000000000000000000';
const run = promisify(execFile);

interface SimJob {
  id: number;
  status: string;
  conclusion: string | null;
  runnerId: number | null;
  startedAt: number | null;
  completedAt: number | null;
}

async function cli(
  args: string[],
): Promise<{ code: number; stdout: string; stderr: string; json: () => unknown }> {
  let stdout = '';
  let stderr = '';
  const code = await runCli(args, {
    stdout: (t) => (stdout += t),
    stderr: (t) => (stderr += t),
  });
  return { code, stdout, stderr, json: () => JSON.parse(stdout) as unknown };
}

describeWithSystemd('coordinator + agent + GitHub sim + systemd', (systemd) => {
  let sim: GitHubSim;
  let harness: Harness;
  let control: Control | undefined;
  let work: TempDir;
  let owned: OwnedLanes | undefined;
  let agent: ChildProcess | undefined;
  let ticker: NodeJS.Timeout | undefined;
  let operator: string;
  let viewer: string;
  let conn: string[];

  // `sim` starts in beforeAll: the client is made per call so that it reads its URL then.
  const simJson = <T>(method: string, path: string, body?: unknown): Promise<T> =>
    simJsonClient(sim.url, PAT)<T>(method, path, body);
  const simRunners = async (): Promise<SimRunner[]> =>
    (await simJson<{ runners: SimRunner[] }>('GET', '/repos/acme/api/actions/runners')).runners;
  const userctl = (...args: string[]) =>
    run('systemctl', ['--user', ...args], { env: { ...process.env, ...systemd().env } });

  beforeAll(async () => {
    await stat(AGENT_BIN).catch(() => {
      throw new Error(`${AGENT_BIN} is missing: build first (npm run build)`);
    });
    sim = await startGitHubSim({
      tokens: [PAT],
      config: {
        pollWaitMs: 300,
        offlineAfterMs: 3000,
        busyLag: { lagMs: 500, flipAfterMs: 0, flipMs: 0, trailMs: 500 },
      },
    });
    harness = await startHarness({
      yaml: [
        `github: { apiUrl: "${sim.url}", webUrl: "${sim.url}", auth: { token: "${PAT}" } }`,
        'timeouts: { createOnlineSec: 60, drainSec: 120 }',
        'drain: { settleSec: 4, settleObservations: 2, pollSec: 1 }',
      ].join('\n'),
      routes: [
        controlRouteFactory({
          options: {
            settleObservations: 3,
            settleSec: 2,
            drainPollSec: 1,
            pollBaseMs: 250,
            pollCapMs: 1000,
          },
          onStarted: (c) => (control = c),
        }),
      ],
    });
    // The harness clock stands still unless moved; signed commands need a live one.
    harness.clock.now = Math.floor(Date.now() / 1000);
    ticker = setInterval(() => (harness.clock.now = Math.floor(Date.now() / 1000)), 250);
    operator = (await harness.token('operator')).token;
    viewer = (await harness.token('viewer')).token;
    conn = ['--url', harness.baseUrl];

    const policy = await harness.api('POST', '/v1/policy', {
      body: {
        text: [
          'version: 1',
          'allowedHosts: [host-a]',
          'allowedRepositories: [acme/api]',
          'pools:',
          '  build:',
          '    repository: acme/api',
          '    labels: [linux]',
          '    backend: systemd',
          '    lanes: { host-a: 2 }',
          '',
        ].join('\n'),
      },
    });
    expect(policy.status).toBeLessThan(300);

    work = await tempDir({ base: systemd().laneRoot, prefix: 'e2e-coord-', laneUsers: true });
    // The manager is shared with the other files of the run, some running at the same time: this
    // suite's units are those whose lane dir is under its dir.
    owned = new OwnedLanes(work.path, { kind: 'systemd', systemd: systemd() });
    const configPath = join(work.path, 'agent.yaml');
    await mkdir(join(work.path, 'data'), { recursive: true });
    await writeFile(
      configPath,
      [
        'hostId: host-a',
        `dataDir: ${join(work.path, 'data')}`,
        'optIn: { repositories: [acme/api], backends: [systemd], maxLanes: 3 }',
        `systemd: { bus: user, unitDir: ${systemd().unitDir} }`,
        `runner: { template: ${stubRunnerTemplateDir()}, users: { uidRange: "${TEST_LANE_UID_RANGE}" } }`,
        '',
      ].join('\n'),
    );
    const enroll = await harness.api('POST', '/v1/enrollment-tokens', {
      body: { hostId: 'host-a' },
    });
    expect(enroll.status).toBe(201);
    await run(
      process.execPath,
      [
        AGENT_BIN,
        '--config',
        configPath,
        'enroll',
        '--coordinator',
        harness.baseUrl,
        '--host-id',
        'host-a',
        '--coordinator-fingerprint',
        String(enroll.body.coordinatorFingerprint),
      ],
      { env: { ...process.env, LAUNCHPLANE_ENROLL_TOKEN: String(enroll.body.token) } },
    );
    agent = spawn(process.execPath, [AGENT_BIN, '--config', configPath, 'run'], {
      env: { ...process.env, ...systemd().env },
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    await waitFor(() => harness.coordinator.server.hub.session('host-a')?.inventory, {
      timeoutMs: 20_000,
      what: 'the agent session and its inventory',
    });
    expect(control).toBeDefined();
  }, 120_000);

  afterAll(async () => {
    if (agent !== undefined && agent.exitCode === null) {
      const exited = new Promise((r) => agent?.on('close', r));
      agent.kill('SIGTERM');
      await exited;
    }
    if (ticker !== undefined) clearInterval(ticker);
    await control?.stop();
    await harness?.close();
    await sim?.close();
    // Lane units this suite made (stopped, or left by a failed run) must not leak into other
    // suites that share the manager: stop them and delete their unit files.
    const unitDir = systemd().unitDir;
    const made = (await owned?.names()) ?? [];
    for (const unit of made) {
      await userctl('stop', unit).catch(() => undefined);
      await rm(join(unitDir, unit), { force: true });
    }
    if (made.length > 0) await userctl('daemon-reload').catch(() => undefined);
    await work?.cleanup();
  });

  it('plans two creates; a viewer cannot apply', async () => {
    const plan = await cli(['plan', '--json', ...conn, '--token', viewer]);
    expect(plan.code).toBe(0);
    const p = plan.json() as { actions: { id: string }[] };
    expect(p.actions.map((a) => a.id)).toEqual(['create:host-a:build:1', 'create:host-a:build:2']);

    const denied = await cli(['apply', ...conn, '--token', viewer]);
    expect(denied.code).toBe(1);
    expect(denied.stderr).toMatch(/^error LP_FORBIDDEN: /m);
    expect(await simRunners()).toEqual([]);
  });

  it('apply brings the lanes online with their canonical labels', async () => {
    const r = await cli(['apply', '--wait', '--json', ...conn, '--token', operator]);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const lanes = (await cli(['lanes', '--json', ...conn, '--token', viewer])).json() as {
      lanes: { laneId: string; state: string; runnerId: number; labels: string[] }[];
    };
    expect(lanes.lanes).toHaveLength(2);
    expect(lanes.lanes.every((l) => l.state !== 'failed' && l.runnerId !== undefined)).toBe(true);
    const runners = await simRunners();
    const coordinatorId = harness.coordinator.coordinatorId;
    for (const lane of lanes.lanes) {
      const runner = runners.find((x) => x.id === lane.runnerId);
      expect(runner?.status).toBe('online');
      const expected = laneLabels({
        coordinatorId,
        laneId: lane.laneId,
        pool: 'build',
        poolLabels: ['linux'],
      });
      expect(runner?.labels.map((l) => l.name)).toEqual(expect.arrayContaining(expected));
    }
    const again = (await cli(['plan', '--json', ...conn, '--token', viewer])).json() as {
      actions: unknown[];
    };
    expect(again.actions).toEqual([]);
  }, 120_000);

  it('a job in flight during "lane restart" finishes before the restart', async () => {
    const job = await simJson<SimJob>('POST', '/_sim/jobs', {
      repository: 'acme/api',
      labels: ['lp-pool-build'],
      durationMs: 5000,
    });
    const started = await waitFor(
      async () => {
        const jobs = (await simJson<{ jobs: SimJob[] }>('GET', '/_sim/jobs')).jobs;
        const j = jobs.find((x) => x.id === job.id);
        return j?.status === 'in_progress' && j.runnerId !== null ? j : undefined;
      },
      { timeoutMs: 20_000, what: 'the job to start' },
    );
    const lanes = (await cli(['lanes', '--json', ...conn, '--token', viewer])).json() as {
      lanes: { laneId: string; runnerId: number }[];
    };
    const lane = lanes.lanes.find((l) => l.runnerId === started.runnerId);
    expect(lane).toBeDefined();
    // Watch the real hub: when does lane.restart leave for the agent?
    const hub = harness.coordinator.server.hub;
    const send = hub.send.bind(hub);
    let restartSentAt: number | undefined;
    hub.send = (hostId, cmd, opts) => {
      if (cmd.type === 'lane.restart') restartSentAt ??= Date.now();
      return send(hostId, cmd, opts);
    };
    const r = await cli([
      'lane',
      'restart',
      lane!.laneId,
      '--wait',
      '--json',
      ...conn,
      '--token',
      operator,
    ]);
    hub.send = send;
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const jobs = (await simJson<{ jobs: SimJob[] }>('GET', '/_sim/jobs')).jobs;
    const done = jobs.find((x) => x.id === job.id);
    expect(done).toMatchObject({ status: 'completed', conclusion: 'success' });
    // The restart command reached the agent only after the job was over.
    expect(restartSentAt).toBeDefined();
    expect(restartSentAt!).toBeGreaterThanOrEqual(done!.completedAt!);
    const after = (await simRunners()).find((x) => x.id === lane!.runnerId);
    expect(after?.status).toBe('online');
    expect(after?.labels.map((l) => l.name)).toContain('lp-pool-build');
    expect(after?.labels.map((l) => l.name)).not.toContain('lp-draining');
  }, 120_000);

  it('remove leaves an unmanaged runner and an unmanaged unit untouched', async () => {
    // A runner registered by hand, wearing our labels but not in the ledger.
    const foreign = await simJson<{ runner: SimRunner }>(
      'POST',
      '/repos/acme/api/actions/runners/generate-jitconfig',
      {
        name: 'hand-made',
        runner_group_id: 1,
        labels: [
          'launchplane',
          `lp-ctl-${harness.coordinator.coordinatorId.slice(0, 8)}`,
          'lp-lane-01hzzzzzzzzzzzzzzzzzzz0777',
        ],
      },
    );
    // A unit of someone else's, beside the lanes.
    await writeFile(
      join(systemd().unitDir, 'hand-made.service'),
      '[Unit]\nDescription=not a lane\n[Service]\nExecStart=/bin/sleep 100000\n',
    );
    await userctl('daemon-reload');
    await userctl('start', 'hand-made.service');

    const runners = (await cli(['runners', '--json', ...conn, '--token', viewer])).json() as {
      runners: { runnerId: number; managed: boolean }[];
    };
    expect(runners.runners.find((x) => x.runnerId === foreign.runner.id)?.managed).toBe(false);

    const lanes = (await cli(['lanes', '--json', ...conn, '--token', viewer])).json() as {
      lanes: { laneId: string; runnerId: number }[];
    };
    const victim = lanes.lanes[0]!;
    const r = await cli(['lane', 'remove', victim.laneId, '--wait', ...conn, '--token', operator]);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const after = await simRunners();
    expect(after.find((x) => x.id === victim.runnerId)).toBeUndefined();
    expect(after.find((x) => x.id === foreign.runner.id)).toBeDefined();
    const active = await userctl('is-active', 'hand-made.service');
    expect(active.stdout.trim()).toBe('active');

    // The plan wants the lane back and says so; the unmanaged runner is listed, never an action.
    const plan = (await cli(['plan', '--json', ...conn, '--token', viewer])).json() as {
      actions: { kind: string; runnerId?: number }[];
      unmanaged: { runnerId: number }[];
    };
    expect(plan.actions.map((a) => a.kind)).toEqual(['create']);
    expect(plan.unmanaged.map((u) => u.runnerId)).toContain(foreign.runner.id);
    await userctl('stop', 'hand-made.service');
  }, 120_000);

  it('an ephemeral lane runs one job and is then replaced', async () => {
    const policy = await harness.api('POST', '/v1/policy', {
      body: {
        text: [
          'version: 1',
          'allowedHosts: [host-a]',
          'allowedRepositories: [acme/api]',
          'pools:',
          '  build:',
          '    repository: acme/api',
          '    labels: [linux]',
          '    backend: systemd',
          '    lanes: { host-a: 1 }',
          '  eph:',
          '    repository: acme/api',
          '    backend: systemd',
          '    ephemeral: true',
          '    lanes: { host-a: 1 }',
          '',
        ].join('\n'),
      },
    });
    expect(policy.status).toBeLessThan(300);
    const first = await cli(['apply', '--wait', '--json', ...conn, '--token', operator]);
    expect(first.stderr).toBe('');
    expect(first.code).toBe(0);
    const lanesOf = async () =>
      (
        (await cli(['lanes', '--pool', 'eph', '--json', ...conn, '--token', viewer])).json() as {
          lanes: { laneId: string; state: string; runnerId: number }[];
        }
      ).lanes;
    const [eph] = await lanesOf();
    expect(eph).toBeDefined();
    expect((await simRunners()).find((x) => x.id === eph!.runnerId)?.status).toBe('online');

    const job = await simJson<SimJob>('POST', '/_sim/jobs', {
      repository: 'acme/api',
      labels: ['lp-pool-eph'],
      durationMs: 500,
    });
    await waitFor(
      async () => {
        const jobs = (await simJson<{ jobs: SimJob[] }>('GET', '/_sim/jobs')).jobs;
        return jobs.find((x) => x.id === job.id)?.conclusion === 'success';
      },
      { timeoutMs: 30_000, what: 'the ephemeral job to finish' },
    );
    // The agent reports the lane completed; the plan replaces it.
    const replace = await waitFor(
      async () => {
        const p = (await cli(['plan', '--json', ...conn, '--token', viewer])).json() as {
          actions: { id: string; kind: string; laneId?: string }[];
        };
        return p.actions.some((a) => a.kind === 'remove' && a.laneId === eph!.laneId)
          ? p
          : undefined;
      },
      { timeoutMs: 30_000, intervalMs: 500, what: 'a plan that replaces the completed lane' },
    );
    expect(replace.actions.map((a) => a.id)).toEqual([
      `remove:${eph!.laneId}`,
      'create:host-a:eph:1',
    ]);
    const second = await cli(['apply', '--wait', '--json', ...conn, '--token', operator]);
    expect(second.stderr).toBe('');
    expect(second.code).toBe(0);
    const after = await lanesOf();
    expect(after).toHaveLength(1);
    expect(after[0]!.laneId).not.toBe(eph!.laneId);
  }, 120_000);

  it('a dry-run remove sends nothing', async () => {
    const lanes = (await cli(['lanes', '--json', ...conn, '--token', viewer])).json() as {
      lanes: { laneId: string; state: string }[];
    };
    const lane = lanes.lanes.find((l) => l.state === 'online')!;
    const r = await cli([
      'lane',
      'remove',
      lane.laneId,
      '--dry-run',
      '--json',
      ...conn,
      '--token',
      operator,
    ]);
    expect(r.code).toBe(0);
    expect((r.json() as { outcome: string }).outcome).toBe('would-remove');
    const still = (await cli(['lanes', '--json', ...conn, '--token', viewer])).json() as {
      lanes: { laneId: string; state: string }[];
    };
    expect(still.lanes.find((l) => l.laneId === lane.laneId)?.state).toBe('online');
  });
});
