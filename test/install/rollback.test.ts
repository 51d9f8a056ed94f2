/**
 * install/ROLLBACK.md, followed step by step on a live lane with the coordinator gone.
 *
 * A live system like the demo's: the GitHub simulator (PAT), a coordinator child process, the agent
 * installed with `install/agent.sh --root` and running as the installed unit under the testbed's
 * systemd user manager, a policy with two persistent lanes applied with `apply --wait`. Beside
 * them, a runner registered by hand and a hand-made unit named like a lane: neither is ours.
 * Then the coordinator is SIGKILLed and the doc's steps run in order, as written, adapted only in
 * paths (`--root`), `systemctl` → `systemctl --user` and `gh api` → the same REST path at the sim.
 */
import { spawn } from 'node:child_process';
import {
  copyFile,
  cp,
  mkdir,
  readFile,
  readdir,
  readlink,
  rm,
  stat,
  writeFile,
} from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { parse, stringify } from 'yaml';

import { startGitHubSim, stubRunnerTemplateDir } from '@launchplane/github-sim';
import type { GitHubSim } from '@launchplane/github-sim';

import {
  TEST_LANE_UID_RANGE,
  describeWithSystemd,
  freePort,
  spawnDaemon,
  tempDir,
  testLaneUsers,
  waitFor,
} from '../testbed/index.js';
import type { Daemon, TempDir } from '../testbed/index.js';
import { cliClient } from '../coordinator-control/world-io.js';

const SRC = new URL('../..', import.meta.url).pathname;
const LAUNCHPLANE = join(SRC, 'packages/coordinator/dist/cli.js');
const PAT = 'ghp_rollback00000000000000000000000000000';
const HOST = 'host-rb';
const REPO = 'acme/api';
const AGENT_UNIT = 'launchplane-agent.service';
/** A lane id that is not in this host's ledger: the look-alike unit and runner carry it. */
const STRANGER_LANE = '01jstranger000000000000000';

interface RunResult {
  status: number;
  stdout: string;
  stderr: string;
}

/** Runs a command; resolves with its exit status and output (never rejects on exit status). */
function run(argv: readonly string[], env: NodeJS.ProcessEnv = {}): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const [cmd, ...args] = argv;
    const child = spawn(cmd ?? 'false', args, {
      env: { ...process.env, ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (b: Buffer) => (stdout += b.toString()));
    child.stderr.on('data', (b: Buffer) => (stderr += b.toString()));
    child.on('error', reject);
    child.on('close', (code) => resolve({ status: code ?? 1, stdout, stderr }));
  });
}

interface LaneJson {
  laneId: string;
  name: string;
  pool: string;
  scope: { repository: string } | { organization: string };
  backend: string;
  state: string;
  runnerId?: number;
  labels: string[];
}

interface SimRunner {
  id: number;
  name: string;
  status: string;
  busy: boolean;
  labels: { name: string }[];
}

interface SimJob {
  id: number;
  status: string;
  conclusion: string | null;
  runnerId: number | null;
}

/** PIDs of processes whose cwd, executable or argv lies under `dir`. */
async function processesUnder(dir: string): Promise<number[]> {
  const found: number[] = [];
  for (const entry of await readdir('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    const pid = Number(entry);
    if (pid === process.pid) continue;
    const paths: string[] = [];
    for (const link of ['cwd', 'exe']) {
      paths.push(await readlink(`/proc/${pid}/${link}`).catch(() => ''));
    }
    const argv = await readFile(`/proc/${pid}/cmdline`, 'utf8').catch(() => '');
    paths.push(...argv.split('\0'));
    if (paths.some((p) => p === dir || p.startsWith(`${dir}/`))) found.push(pid);
  }
  return found;
}

describeWithSystemd('install/ROLLBACK.md on a live lane, coordinator gone', (systemd) => {
  let dir: TempDir;
  let sim: GitHubSim;
  let coordinator: Daemon | undefined;
  let coordEnv: NodeJS.ProcessEnv;
  let inProcessCli: ReturnType<typeof cliClient>;
  let root: string;
  let record: string;
  let agentBin: string;
  let lanes: LaneJson[] = [];
  let handRunner: SimRunner;
  let inFlight: { job: SimJob; lane: LaneJson } | undefined;
  const lookAlike = `launchplane-lane-${STRANGER_LANE}.service`;
  const dropIn = (): string => join(systemd().unitDir, `${AGENT_UNIT}.d`);
  /** Where a user-bus agent writes lane environment files: /etc/launchplane/lanes on the system bus. */
  const envDir = (): string => join(systemd().env.XDG_CONFIG_HOME, 'launchplane', 'lanes');
  const envFile = (laneId: string): string => join(envDir(), `launchplane-lane-${laneId}.env`);
  const laneDirs = (): string => join(root, 'var/lib/launchplane/lanes');
  const sdEnv = (): NodeJS.ProcessEnv => ({ ...systemd().env });

  const systemctl = (...args: string[]): Promise<RunResult> =>
    run(['systemctl', '--user', ...args], sdEnv());
  const mustSystemctl = async (...args: string[]): Promise<string> => {
    const r = await systemctl(...args);
    if (r.status !== 0) throw new Error(`systemctl --user ${args.join(' ')}: ${r.stderr}`);
    return r.stdout;
  };
  const isActive = async (unit: string): Promise<string> =>
    (await systemctl('is-active', unit)).stdout.trim();
  /**
   * The `launchplane` command tree in this process, for set-up and reads (no node start-up per
   * call); `apply --wait`, the one operator action of the set-up, runs the built CLI.
   */
  const coordinatorCli = async (...args: string[]): Promise<string> => {
    const r =
      args[0] === 'apply'
        ? await run([process.execPath, LAUNCHPLANE, ...args], coordEnv)
        : await inProcessCli(String(coordEnv['LAUNCHPLANE_TOKEN']), ...args).then((x) => ({
            status: x.code,
            stdout: x.stdout,
            stderr: x.stderr,
          }));
    if (r.status !== 0) throw new Error(`launchplane ${args.join(' ')}: ${r.stderr}`);
    return r.stdout;
  };
  /** The installed agent CLI; `--config` stands for the default /etc/launchplane/agent.yaml. */
  const agent = (...args: string[]): Promise<RunResult> =>
    run([agentBin, '--config', join(root, 'etc/launchplane/agent.yaml'), ...args], sdEnv());
  /** `gh api` against the simulator: the same REST paths, the operator's PAT. */
  const gh = async (method: string, path: string, body?: unknown): Promise<Response> =>
    fetch(`${sim.url}/${path.replace(/^\//, '')}`, {
      method,
      headers: {
        authorization: `Bearer ${PAT}`,
        accept: 'application/vnd.github+json',
        ...(body === undefined ? {} : { 'content-type': 'application/json' }),
      },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
  const ghJson = async <T>(method: string, path: string, body?: unknown): Promise<T> => {
    const res = await gh(method, path, body);
    const text = await res.text();
    if (!res.ok) throw new Error(`${method} ${path}: ${res.status} ${text}`);
    return (text === '' ? undefined : JSON.parse(text)) as T;
  };
  const simRunners = async (): Promise<SimRunner[]> =>
    (await ghJson<{ runners: SimRunner[] }>('GET', `repos/${REPO}/actions/runners`)).runners;
  const simJob = async (id: number): Promise<SimJob> => ghJson<SimJob>('GET', `_sim/jobs/${id}`);
  const agentLanes = async (): Promise<LaneJson[]> => {
    const r = await agent('lanes', '--json');
    expect(r.status, r.stderr).toBe(0);
    return (JSON.parse(r.stdout) as { lanes: LaneJson[] }).lanes;
  };
  const agentStatus = async (): Promise<string> =>
    (await systemctl('status', '--no-pager', '-l', AGENT_UNIT)).stdout;

  beforeAll(async () => {
    dir = await tempDir({ prefix: 'lp-rollback-', base: systemd().laneRoot, laneUsers: true });
    root = join(dir.path, 'root');
    record = join(dir.path, 'launchplane-rollback');
    agentBin = join(root, 'opt/launchplane/bin/launchplane-agent');
    await mkdir(root);

    sim = await startGitHubSim({
      tokens: [PAT],
      config: {
        pollWaitMs: 300,
        offlineAfterMs: 3000,
        busyLag: { lagMs: 500, flipAfterMs: 0, flipMs: 0, trailMs: 500 },
      },
    });

    // The coordinator, a child process that can be killed like a real one.
    const port = await freePort();
    const coordUrl = `http://127.0.0.1:${port}`;
    const coordDir = join(dir.path, 'coordinator');
    await mkdir(coordDir, { recursive: true });
    await writeFile(join(coordDir, 'github.token'), PAT, { mode: 0o600 });
    const coordConfig = join(coordDir, 'coordinator.yaml');
    await writeFile(
      coordConfig,
      [
        `listen: { host: 127.0.0.1, port: ${port} }`,
        `publicUrl: ${coordUrl}`,
        `dataDir: ${join(coordDir, 'data')}`,
        'coordinatorId: rollback-ctl',
        'github:',
        `  apiUrl: ${sim.url}`,
        `  webUrl: ${sim.url}`,
        `  auth: { tokenFile: ${join(coordDir, 'github.token')} }`,
        'reconcile: { auto: false }',
        'timeouts: { createOnlineSec: 60, drainSec: 120 }',
        'agents: { heartbeatSec: 5 }',
        'log: { level: warn }',
        '',
      ].join('\n'),
    );
    const daemon = spawnDaemon([process.execPath, LAUNCHPLANE, 'serve', '--config', coordConfig], {
      env: process.env,
      logFile: join(coordDir, 'coordinator.log'),
    });
    coordinator = daemon;
    await waitFor(
      async () => {
        if (!daemon.alive()) throw new Error('the coordinator exited; see coordinator.log');
        return (await fetch(`${coordUrl}/v1/health`).catch(() => undefined))?.ok === true;
      },
      { timeoutMs: 30_000, intervalMs: 100, what: 'the coordinator' },
    );
    const adminToken = (await readFile(join(coordDir, 'data', 'admin.token'), 'utf8')).trim();
    coordEnv = { LAUNCHPLANE_URL: coordUrl, LAUNCHPLANE_TOKEN: adminToken };
    inProcessCli = cliClient(coordUrl);

    // The agent, installed and enrolled by the installer.
    const enrollment = JSON.parse(
      await coordinatorCli('enroll-token', 'create', '--host', HOST, '--json'),
    ) as { token: string; coordinatorFingerprint: string };
    const install = await run(
      [
        'bash',
        join(SRC, 'install/agent.sh'),
        '--root',
        root,
        '--coordinator',
        coordUrl,
        '--host-id',
        HOST,
        '--coordinator-fingerprint',
        enrollment.coordinatorFingerprint,
      ],
      { LAUNCHPLANE_ENROLL_TOKEN: enrollment.token },
    );
    expect(install.status, install.stderr).toBe(0);

    // Opt in: this repository, systemd lanes in the testbed's user manager, the stub runner.
    const configPath = join(root, 'etc/launchplane/agent.yaml');
    const config = parse(await readFile(configPath, 'utf8')) as Record<string, unknown>;
    config['optIn'] = {
      repositories: [REPO],
      organizations: [],
      backends: ['systemd'],
      maxLanes: 4,
    };
    config['systemd'] = { bus: 'user', unitDir: systemd().unitDir };
    // The agent unit has PrivateTmp=yes: a template under /tmp (a clone there) would be hidden
    // from it, so the template is copied beside the install, outside /tmp.
    const template = join(root, 'runner-template');
    await cp(stubRunnerTemplateDir(), template, { recursive: true });
    // Each lane runs as a user of its own, from the tests' uid range.
    config['runner'] = { template, users: { uidRange: TEST_LANE_UID_RANGE } };
    config['health'] = { intervalSec: 5 };
    await writeFile(configPath, stringify(config), { mode: 0o640 });

    // The user manager reads only its own unit dir: hand it the installed unit, plus a drop-in for
    // what the testbed moves (lane units in that dir rather than /etc/systemd/system; the session
    // bus rather than the system bus).
    await copyFile(
      join(root, 'etc/systemd/system', AGENT_UNIT),
      join(systemd().unitDir, AGENT_UNIT),
    );
    await mkdir(dropIn(), { recursive: true });
    await mkdir(envDir(), { recursive: true, mode: 0o700 });
    await writeFile(
      join(dropIn(), 'testbed.conf'),
      [
        '[Service]',
        `ReadWritePaths=${systemd().unitDir} ${envDir()}`,
        `Environment=DBUS_SESSION_BUS_ADDRESS=${systemd().env.DBUS_SESSION_BUS_ADDRESS}`,
        `Environment=XDG_RUNTIME_DIR=${systemd().env.XDG_RUNTIME_DIR}`,
        '',
      ].join('\n'),
    );

    // Not ours: a unit named like a lane (no ledger entry) and a runner registered by hand with
    // look-alike labels.
    await writeFile(
      join(systemd().unitDir, lookAlike),
      [
        '[Unit]',
        'Description=hand-made, named like a Launchplane lane',
        `X-Launchplane-Lane=${STRANGER_LANE}`,
        '[Service]',
        'ExecStart=/bin/sleep infinity',
        '',
      ].join('\n'),
    );
    await mustSystemctl('daemon-reload');
    await mustSystemctl('start', lookAlike);
    handRunner = await ghJson<SimRunner>('POST', '_sim/runners', {
      repository: REPO,
      name: `lp-${HOST}-build-handmade`,
      labels: ['launchplane', 'lp-pool-build', 'linux', `lp-lane-${STRANGER_LANE}`],
      status: 'online',
    });

    await mustSystemctl('start', AGENT_UNIT);
    await waitFor(
      async () => {
        const { hosts } = JSON.parse(await coordinatorCli('hosts', '--json')) as {
          hosts: { hostId: string; connected: boolean }[];
        };
        return hosts.find((h) => h.hostId === HOST)?.connected === true;
      },
      { timeoutMs: 30_000, intervalMs: 300, what: 'the installed agent to connect' },
    ).catch(async (err: unknown) => {
      throw new Error(`${String(err)}\n${await agentStatus()}`);
    });

    // Policy: two persistent lanes; apply --wait brings them online.
    const policy = join(dir.path, 'policy.yaml');
    await writeFile(
      policy,
      [
        'version: 1',
        `allowedHosts: [${HOST}]`,
        `allowedRepositories: [${REPO}]`,
        'pools:',
        '  build:',
        `    repository: ${REPO}`,
        '    labels: [linux]',
        '    backend: systemd',
        '    ephemeral: false',
        `    lanes: { ${HOST}: 2 }`,
        '',
      ].join('\n'),
    );
    await coordinatorCli('policy', 'apply', policy);
    await coordinatorCli('apply', '--wait');
  }, 180_000);

  afterAll(async () => {
    // Whatever a failed run left: the agent unit, lanes of ours, the look-alike, the coordinator.
    await systemctl('stop', AGENT_UNIT);
    for (const lane of lanes) await systemctl('stop', `launchplane-lane-${lane.laneId}.service`);
    await systemctl('stop', lookAlike);
    for (const lane of lanes) {
      await rm(join(systemd().unitDir, `launchplane-lane-${lane.laneId}.service`), { force: true });
      await rm(envFile(lane.laneId), { force: true });
    }
    await rm(join(systemd().unitDir, AGENT_UNIT), { force: true });
    await rm(dropIn(), { recursive: true, force: true });
    await rm(join(systemd().unitDir, lookAlike), { force: true });
    await systemctl('daemon-reload');
    await systemctl('reset-failed', lookAlike, AGENT_UNIT);
    await coordinator?.stop({ graceMs: 2000 });
    await sim?.close();
    await dir?.cleanup();
  });

  it('starts live: two lanes online at GitHub, their units active', async () => {
    const runners = await simRunners();
    const { lanes: coordLanes } = JSON.parse(await coordinatorCli('lanes', '--json')) as {
      lanes: LaneJson[];
    };
    expect(coordLanes).toHaveLength(2);
    for (const lane of coordLanes) {
      expect(runners.find((r) => r.id === lane.runnerId)?.status).toBe('online');
      expect(await isActive(`launchplane-lane-${lane.laneId}.service`)).toBe('active');
      expect((await stat(envFile(lane.laneId))).isFile()).toBe(true);
    }
    expect(await isActive(AGENT_UNIT)).toBe('active');
    expect(await isActive(lookAlike)).toBe('active');
    expect((await processesUnder(laneDirs())).length).toBeGreaterThan(0);
  });

  it('the coordinator is gone (SIGKILL)', async () => {
    const daemon = coordinator;
    if (daemon === undefined) throw new Error('no coordinator');
    process.kill(daemon.pid, 'SIGKILL');
    expect(await daemon.exited).toBe('SIGKILL');
    await expect(fetch(`${String(coordEnv['LAUNCHPLANE_URL'])}/v1/health`)).rejects.toThrow();
  });

  it('0. keep a record: lanes.json lists the owned lanes with their runner ids', async () => {
    // install -d -m 0700 …; cp -a private/ledger.db* /etc/launchplane …
    await mkdir(record, { mode: 0o700 });
    const dataDir = join(root, 'var/lib/launchplane/private');
    const ledgerFiles = (await readdir(dataDir))
      .filter((f) => f.startsWith('ledger.db'))
      .map((f) => join(dataDir, f));
    expect(ledgerFiles).toContain(join(dataDir, 'ledger.db'));
    const cp = await run(['cp', '-a', ...ledgerFiles, join(root, 'etc/launchplane'), record]);
    expect(cp.status, cp.stderr).toBe(0);
    expect((await stat(join(record, 'launchplane', 'agent.yaml'))).isFile()).toBe(true);

    const lanesOut = await agent('lanes', '--json');
    expect(lanesOut.status, lanesOut.stderr).toBe(0);
    await writeFile(join(record, 'lanes.json'), lanesOut.stdout);
    const auditOut = await agent('audit', '--verify', '--json');
    expect(auditOut.status, auditOut.stderr).toBe(0);
    await writeFile(join(record, 'audit.json'), auditOut.stdout);
    expect((JSON.parse(auditOut.stdout) as { verify: { ok: boolean } }).verify.ok).toBe(true);

    const doc = JSON.parse(await readFile(join(record, 'lanes.json'), 'utf8')) as {
      hostId: string;
      lanes: LaneJson[];
    };
    expect(doc.hostId).toBe(HOST);
    lanes = doc.lanes;
    expect(lanes).toHaveLength(2);
    const runners = await simRunners();
    for (const lane of lanes) {
      expect(lane.backend).toBe('systemd');
      expect(lane.scope).toEqual({ repository: REPO });
      expect(lane.runnerId).toEqual(expect.any(Number));
      // The recorded id and name are the runner's at GitHub.
      expect(runners.find((r) => r.id === lane.runnerId)?.name).toBe(lane.name);
    }
    // Not in the record: the hand-registered runner and the look-alike unit.
    expect(lanes.map((l) => l.runnerId)).not.toContain(handRunner.id);
    expect(lanes.map((l) => l.laneId)).not.toContain(STRANGER_LANE);
  });

  it('1. stop the agent: the lanes keep running, a job in flight with them', async () => {
    // Step 3 refuses beside a live daemon, as the doc says.
    const [first] = lanes;
    if (first === undefined) throw new Error('no lanes recorded');
    const early = await agent('lane', 'remove', first.laneId, '--local', '--dry-run');
    expect(early.status).toBe(1);
    expect(early.stderr).toMatch(/^error LP_CONFLICT: /m);

    // A job is running on a lane when the agent stops. It must outlast this step and step 2 up
    // to the lane's busy dry run (about 2 s on this machine, alone); step 2 then waits it out.
    const job = await ghJson<SimJob>('POST', '_sim/jobs', {
      repository: REPO,
      labels: ['linux', 'lp-pool-build'],
      durationMs: 10_000,
    });
    const started = await waitFor(
      async () => {
        const j = await simJob(job.id);
        return j.status === 'in_progress' && j.runnerId !== null ? j : undefined;
      },
      { timeoutMs: 30_000, intervalMs: 200, what: 'the job to start on a lane' },
    );
    const lane = lanes.find((l) => l.runnerId === started.runnerId);
    if (lane === undefined)
      throw new Error(`job ${job.id} runs on runner ${started.runnerId}, not a lane`);
    inFlight = { job, lane };

    await mustSystemctl('disable', '--now', AGENT_UNIT);
    expect(await isActive(AGENT_UNIT)).toBe('inactive');
    expect((await systemctl('is-enabled', AGENT_UNIT)).stdout.trim()).not.toBe('enabled');
    const runners = await simRunners();
    for (const l of lanes) {
      expect(await isActive(`launchplane-lane-${l.laneId}.service`)).toBe('active');
      expect(runners.find((r) => r.id === l.runnerId)?.status).toBe('online');
    }
    expect((await simJob(job.id)).status).toBe('in_progress');
  }, 60_000);

  it('2. the job in flight finishes; quarantined lanes take no new job', async () => {
    if (inFlight === undefined) throw new Error('no job in flight');
    const { job, lane: busy } = inFlight;

    // The local busy signal: the lane refuses removal while it runs the job (even as a dry run).
    await waitFor(
      async () => {
        const r = await agent('lane', 'remove', busy.laneId, '--local', '--dry-run');
        return r.status === 1 && /^error LP_LANE_BUSY: /m.test(r.stderr);
      },
      { timeoutMs: 20_000, intervalMs: 200, what: 'the lane to show busy locally' },
    );

    // Quarantine every owned lane: keep launchplane, lp-ctl-*, lp-lane-*, add lp-draining.
    for (const lane of lanes) {
      const keep = lane.labels.filter(
        (l) => l === 'launchplane' || l.startsWith('lp-ctl-') || l.startsWith('lp-lane-'),
      );
      expect(keep).toContain(`lp-lane-${lane.laneId}`);
      expect(keep.some((l) => l.startsWith('lp-ctl-'))).toBe(true);
      const res = await gh('PUT', `repos/${REPO}/actions/runners/${lane.runnerId}/labels`, {
        labels: [...keep, 'lp-draining'],
      });
      expect(res.status).toBe(200);
    }
    const labelsNow = (await simRunners())
      .filter((r) => lanes.some((l) => l.runnerId === r.id))
      .map((r) => r.labels.map((l) => l.name));
    for (const names of labelsNow) {
      expect(names).toContain('lp-draining');
      expect(names).not.toContain('lp-pool-build');
    }
    // A new job for the pool has no lane to go to.
    const next = await ghJson<SimJob>('POST', '_sim/jobs', {
      repository: REPO,
      labels: ['linux', 'lp-pool-build', `lp-lane-${busy.laneId}`],
      durationMs: 1000,
    });

    // `lanes` lists them (its table has no busy column: the dry run is the signal).
    const listing = await agent('lanes');
    expect(listing.status, listing.stderr).toBe(0);
    for (const lane of lanes) expect(listing.stdout).toContain(lane.laneId);
    // Wait until the dry run succeeds for every lane.
    for (const lane of lanes) {
      await waitFor(
        async () =>
          (await agent('lane', 'remove', lane.laneId, '--local', '--dry-run')).status === 0,
        { timeoutMs: 60_000, intervalMs: 500, what: `lane ${lane.laneId} to show idle` },
      );
    }
    const done = await simJob(job.id);
    expect(done.status).toBe('completed');
    expect(done.conclusion).toBe('success');
    expect((await simJob(next.id)).status).toBe('queued');
    expect(await isActive(`launchplane-lane-${busy.laneId}.service`)).toBe('active');
  }, 120_000);

  it('3. lane remove --local: the dry run changes nothing, then units and dirs go', async () => {
    for (const lane of lanes) {
      const unit = `launchplane-lane-${lane.laneId}.service`;
      const laneDir = join(laneDirs(), lane.laneId);
      // The marker check of the by-hand path names this lane.
      const marker = await run(
        ['sh', '-c', `systemctl --user cat ${unit} | grep '^X-Launchplane-Lane=${lane.laneId}$'`],
        sdEnv(),
      );
      expect(marker.status, marker.stderr).toBe(0);
      const dry = await agent('lane', 'remove', lane.laneId, '--local', '--dry-run');
      expect(dry.status, dry.stderr).toBe(0);
      expect(dry.stdout).toContain(`would remove lane ${lane.laneId}`);
      expect(dry.stdout).toContain(`stop unit "${unit}"`);
      expect(await isActive(unit)).toBe('active');
      expect((await stat(laneDir)).isDirectory()).toBe(true);
      expect((await agentLanes()).map((l) => l.laneId)).toContain(lane.laneId);

      const real = await agent('lane', 'remove', lane.laneId, '--local');
      expect(real.status, real.stderr).toBe(0);
      expect(real.stdout).toContain(`removed lane ${lane.laneId}`);
      expect(await isActive(unit)).not.toBe('active');
      await expect(stat(join(systemd().unitDir, unit))).rejects.toMatchObject({ code: 'ENOENT' });
      await expect(stat(laneDir)).rejects.toMatchObject({ code: 'ENOENT' });
      await expect(stat(envFile(lane.laneId))).rejects.toMatchObject({ code: 'ENOENT' });
      expect((await agentLanes()).map((l) => l.laneId)).not.toContain(lane.laneId);
      // The lane's user went with it.
      expect((await testLaneUsers()).map((u) => u.name)).not.toContain(`lp-${lane.laneId}`);
    }
    // The ledger records each removal, done locally.
    const audit = await agent('audit', '--verify', '--json');
    expect(audit.status, audit.stderr).toBe(0);
    const { records, verify } = JSON.parse(audit.stdout) as {
      records: {
        actor: string;
        laneId?: string;
        action: string;
        outcome: string;
        dryRun: boolean;
      }[];
      verify: { ok: boolean };
    };
    expect(verify.ok).toBe(true);
    for (const lane of lanes) {
      expect(records).toContainEqual(
        expect.objectContaining({
          actor: 'cli:local',
          laneId: lane.laneId,
          action: 'lane.remove',
          outcome: 'ok',
          dryRun: false,
        }),
      );
    }
    expect(await agentLanes()).toEqual([]);
    expect(await isActive(lookAlike)).toBe('active');
  }, 60_000);

  it('4. deregister each runner by its recorded id', async () => {
    for (const lane of lanes) {
      const res = await gh('DELETE', `repos/${REPO}/actions/runners/${lane.runnerId}`);
      expect(res.status).toBe(204);
      expect((await gh('GET', `repos/${REPO}/actions/runners/${lane.runnerId}`)).status).toBe(404);
    }
    expect((await simRunners()).map((r) => r.id)).toContain(handRunner.id);
  });

  it('5. remove the agent', async () => {
    await rm(join(root, 'etc/systemd/system', AGENT_UNIT), { force: true });
    // The testbed's copy of the unit (and its drop-in) stand for /etc/systemd/system here.
    await rm(join(systemd().unitDir, AGENT_UNIT), { force: true });
    await rm(dropIn(), { recursive: true, force: true });
    await mustSystemctl('daemon-reload');
    for (const d of ['opt/launchplane', 'etc/launchplane', 'var/lib/launchplane']) {
      await rm(join(root, d), { recursive: true, force: true });
    }
    // userdel launchplane-runner: --root installs create no user; the lane users went in step 3.
    const loaded = (await systemctl('show', '-p', 'LoadState', AGENT_UNIT)).stdout.trim();
    expect(loaded).toBe('LoadState=not-found');
    for (const d of ['opt/launchplane', 'etc/launchplane', 'var/lib/launchplane']) {
      await expect(stat(join(root, d))).rejects.toMatchObject({ code: 'ENOENT' });
    }
  });

  it('6. check: nothing of ours is left, and what was never ours is untouched', async () => {
    // Other suites' units may share this manager: judge only the agent and lanes.json's lanes.
    const ours = [AGENT_UNIT, ...lanes.map((l) => `launchplane-lane-${l.laneId}.service`)];
    const units = await mustSystemctl(
      'list-units',
      '--all',
      '--plain',
      '--no-legend',
      'launchplane-*',
    );
    const listed = units
      .split('\n')
      .map((l) => l.trim().split(/\s+/)[0] ?? '')
      .filter((u) => u !== '');
    expect(listed.filter((u) => ours.includes(u))).toEqual([]);
    expect(listed).toContain(lookAlike);
    const files = (await readdir(systemd().unitDir)).filter((f) => f.includes('launchplane'));
    expect(files.filter((f) => ours.includes(f) || f.startsWith(AGENT_UNIT))).toEqual([]);
    expect(files).toContain(lookAlike);
    expect(await processesUnder(laneDirs())).toEqual([]);

    const runners = await simRunners();
    const owned = new Set(lanes.map((l) => `lp-lane-${l.laneId}`));
    const ourRunners = runners.filter((r) => r.labels.some((l) => owned.has(l.name)));
    expect(ourRunners).toEqual([]);
    // The hand-registered runner, look-alike labels and all, is still there and online.
    const hand = runners.find((r) => r.id === handRunner.id);
    expect(hand?.status).toBe('online');
    expect(hand?.labels.map((l) => l.name)).toEqual(
      expect.arrayContaining(['launchplane', 'lp-pool-build', `lp-lane-${STRANGER_LANE}`]),
    );
    // The hand-made unit still runs, unchanged.
    expect(await isActive(lookAlike)).toBe('active');
    expect(await readFile(join(systemd().unitDir, lookAlike), 'utf8')).toContain(
      `X-Launchplane-Lane=${STRANGER_LANE}`,
    );
  });
});
