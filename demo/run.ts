/**
 * `npm run demo`: the main job on embedded defaults. In a temp dir it starts the GitHub simulator,
 * a coordinator on SQLite, a private systemd user manager (or a private dockerd when systemd
 * cannot run here) and one enrolled agent, then walks the real flow through the real CLIs:
 * policy → plan → apply → lanes online → a job runs → restart waits for the job → an unmanaged
 * runner is left alone → a lane is removed → the audit trail.
 *
 * `npm run demo -- --keep` leaves everything running and prints the commands to try.
 * `--backend systemd|docker` picks the backend (default: systemd when it can run, else Docker).
 */
import { execFile, spawn } from 'node:child_process';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { parseArgs } from 'node:util';

import { startGitHubSim, stubRunnerTemplateDir } from '@launchplane/github-sim';

import {
  buildScratchImage,
  startDockerd,
  startSystemdUserManager,
  sweepTestLaneUsers,
  tempDir,
  waitFor,
} from '../test/testbed/index.js';
import type { Daemon } from '../test/testbed/index.js';
import { freePort, spawnDaemon } from '../test/testbed/index.js';
import Docker from 'dockerode';
import { AGENT_CLI, LAUNCHPLANE_CLI } from '@launchplane/testkit/cli';
import { REPO, simJsonClient, type SimJob } from '@launchplane/testkit/sim';

const SIM_TOKEN = 'ghp_demo0000000000000000000000000000000';
const HOST = 'demo-host';
/** The uids of the demo's lane users: apart from the default range real hosts use. */
const DEMO_LANE_UID_RANGE = '59700-59799';

const { values: args } = parseArgs({
  options: {
    keep: { type: 'boolean', default: false },
    backend: { type: 'string' },
  },
});

const tty = process.stdout.isTTY;
const bold = (s: string): string => (tty ? `\x1b[1m${s}\x1b[0m` : s);
const dim = (s: string): string => (tty ? `\x1b[2m${s}\x1b[0m` : s);

let stepNo = 0;
function step(title: string): void {
  stepNo += 1;
  process.stdout.write(`\n${bold(`${stepNo}. ${title}`)}\n`);
}

function say(text: string): void {
  process.stdout.write(`${text}\n`);
}

const cleanups: (() => Promise<void>)[] = [];
async function cleanup(): Promise<void> {
  while (cleanups.length > 0) {
    const fn = cleanups.pop();
    try {
      await fn?.();
    } catch (err) {
      process.stderr.write(`cleanup: ${String(err)}\n`);
    }
  }
}

interface RunResult {
  status: number;
  stdout: string;
  stderr: string;
}

/** Runs a CLI, echoing the command line and its output like a terminal session would. */
function run(
  bin: string,
  argv: string[],
  opts: { env?: NodeJS.ProcessEnv; quiet?: boolean; redact?: string[] } = {},
): Promise<RunResult> {
  const name = bin === AGENT_CLI ? 'launchplane-agent' : 'launchplane';
  let shown = `$ ${name} ${argv.join(' ')}`;
  for (const secret of opts.redact ?? []) shown = shown.split(secret).join('[redacted]');
  if (opts.quiet !== true) say(dim(shown));
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [bin, ...argv], {
      env: { ...process.env, ...opts.env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (b: Buffer) => {
      stdout += b.toString();
      if (opts.quiet !== true) process.stdout.write(b);
    });
    child.stderr.on('data', (b: Buffer) => {
      stderr += b.toString();
      if (opts.quiet !== true) process.stderr.write(b);
    });
    child.on('error', reject);
    child.on('close', (code) => resolve({ status: code ?? 1, stdout, stderr }));
  });
}

/** Runs a host tool (not a Launchplane CLI) quietly; resolves with its stdout. */
function execTool(bin: string, argv: string[], env: NodeJS.ProcessEnv = {}): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(bin, argv, { env: { ...process.env, ...env } }, (error, stdout) => {
      if (error === null) resolve(stdout);
      else reject(new Error(`${bin} failed: ${error.message}`));
    });
  });
}

async function must(p: Promise<RunResult>, what: string): Promise<RunResult> {
  const r = await p;
  if (r.status !== 0) throw new Error(`${what} failed (exit ${r.status}): ${r.stderr.trim()}`);
  return r;
}

function simRequest(url: string, method: string, path: string, body?: unknown): Promise<unknown> {
  return simJsonClient(url, SIM_TOKEN)<unknown>(method, path, body);
}

interface LaneJson {
  laneId: string;
  state: string;
  runnerId?: number;
  github?: { status?: string; busy?: boolean } | null;
}

async function lanesJson(env: NodeJS.ProcessEnv): Promise<LaneJson[]> {
  const r = await must(run(LAUNCHPLANE_CLI, ['lanes', '--json'], { env, quiet: true }), 'lanes');
  const doc = JSON.parse(r.stdout) as { lanes: LaneJson[] };
  return doc.lanes;
}

async function main(): Promise<void> {
  // Runs last: the users the agent made for the demo's lanes (their lane dirs are gone by then).
  cleanups.push(async () => {
    await sweepTestLaneUsers(DEMO_LANE_UID_RANGE);
  });
  // Lanes run as users of their own (systemd) or as the image's user (Docker): they must reach
  // their lane dirs in here.
  const dir = await tempDir({ prefix: 'launchplane-demo-', laneUsers: true });
  cleanups.push(() => dir.cleanup());
  say(bold('Launchplane demo') + dim(`  (working dir ${dir.path})`));

  // --- backends --------------------------------------------------------------------------
  step('Start a private systemd user manager (or Docker), and the GitHub simulator');
  let backend: 'systemd' | 'docker' | undefined;
  let agentEnv: NodeJS.ProcessEnv = {};
  let systemdSection: Record<string, unknown> = { bus: 'system' };
  let dockerSection: Record<string, unknown> | undefined;
  let dockerClient: Docker | undefined;
  /** Who a lane's runner (its Runner.Listener) runs as, from /proc. */
  const laneUser = async (laneId: string): Promise<string> => {
    const name = `launchplane-lane-${laneId}`;
    let pids: number[] = [];
    if (dockerClient !== undefined) {
      const top = (await dockerClient.getContainer(name).top({ ps_args: '-eo pid,comm' })) as {
        Processes?: string[][];
      };
      pids = (top.Processes ?? [])
        .filter(([, c]) => c === 'Runner.Listener')
        .map(([p]) => Number(p));
    } else {
      const out = await execTool(
        'systemctl',
        ['--user', 'show', '-p', 'MainPID', '--value', `${name}.service`],
        agentEnv,
      );
      pids = [Number(out.trim())];
    }
    const status = await readFile(`/proc/${pids[0] ?? 0}/status`, 'utf8').catch(() => '');
    const uid = /^Uid:\s+(\d+)/m.exec(status)?.[1];
    if (uid === undefined) return 'an unknown user';
    if (dockerClient !== undefined) return `uid ${uid}, the image's user`;
    const who = await execTool('getent', ['passwd', uid]).catch(() => '');
    const user = who === '' ? undefined : who.split(':')[0];
    return user === undefined ? `uid ${uid}` : `user ${user} (uid ${uid}), made for it`;
  };
  let laneRoot = join(dir.path, 'agent');
  let poolDocker: { image: string } | undefined;
  let simHost: string | undefined;
  const wanted = args.backend;
  if (wanted !== undefined && wanted !== 'systemd' && wanted !== 'docker') {
    throw new Error(`--backend must be systemd or docker, not "${wanted}"`);
  }
  let systemdError: string | undefined;
  if (wanted !== 'docker') {
    try {
      const systemd = await startSystemdUserManager();
      cleanups.push(() => systemd.stop());
      backend = 'systemd';
      agentEnv = { ...systemd.env };
      systemdSection = { bus: 'user', unitDir: systemd.unitDir };
      laneRoot = join(systemd.laneRoot, 'agent');
      say(`systemd user manager running (pid ${systemd.pid}), units in ${systemd.unitDir}`);
    } catch (err) {
      systemdError = err instanceof Error ? err.message : 'unknown error';
      if (wanted === 'systemd') throw err;
    }
  }
  if (backend === undefined) {
    if (systemdError !== undefined) say(dim(`systemd cannot run here: ${systemdError}`));
    const docker = await startDockerd();
    cleanups.push(() => docker.stop());
    // Like the official runner image: bash, a `runner` user, and USER 1001 (never root).
    const image = await buildScratchImage(new Docker({ socketPath: docker.socketPath }), {
      tag: 'launchplane-demo-runner:latest',
      users: [{ name: 'runner', uid: 1001, gid: 1001, home: '/home/runner' }],
      groups: [{ name: 'runner', gid: 1001 }],
      user: '1001',
    });
    backend = 'docker';
    dockerSection = { socketPath: docker.socketPath };
    dockerClient = new Docker({ socketPath: docker.socketPath });
    poolDocker = { image: image.tag };
    // Lanes run on Docker's default bridge network, where they reach the host (and so the
    // simulator) at the bridge's gateway address only.
    simHost = docker.bridge?.gateway;
    say(`private dockerd running on ${docker.socketPath}; runner image ${image.tag} built offline`);
  }

  const sim = await startGitHubSim({
    tokens: [SIM_TOKEN],
    ...(simHost === undefined ? {} : { host: simHost }),
    config: {
      pollWaitMs: 500,
      offlineAfterMs: 5000,
      busyLag: { lagMs: 3000, flipAfterMs: 0, flipMs: 0, trailMs: 0 },
    },
  });
  cleanups.push(() => sim.close());
  say(`GitHub simulator on ${sim.url} (busy flag lags 3 s, as GitHub's does)`);

  // --- coordinator -----------------------------------------------------------------------
  step('Start the coordinator (SQLite store, GitHub through Octokit)');
  const port = await freePort();
  const coordUrl = `http://127.0.0.1:${port}`;
  const coordDir = join(dir.path, 'coordinator');
  await mkdir(coordDir, { recursive: true });
  await writeFile(join(coordDir, 'github.token'), SIM_TOKEN, { mode: 0o600 });
  const coordConfig = join(coordDir, 'coordinator.yaml');
  await writeFile(
    coordConfig,
    [
      `listen: { host: 127.0.0.1, port: ${port} }`,
      `publicUrl: ${coordUrl}`,
      `dataDir: ${join(coordDir, 'data')}`,
      'coordinatorId: demo-ctl',
      'github:',
      `  apiUrl: ${sim.url}`,
      `  webUrl: ${sim.url}`,
      `  auth: { tokenFile: ${join(coordDir, 'github.token')} }`,
      'reconcile: { auto: false }',
      'timeouts: { createOnlineSec: 60, drainSec: 120 }',
      // The simulator's busy flag lags 3 s (GitHub's: 25–60 s), so a 10 s settle is enough here.
      'drain: { settleSec: 10, settleObservations: 2, pollSec: 2 }',
      'agents: { heartbeatSec: 5 }',
      'log: { level: warn }',
      '',
    ].join('\n'),
  );
  const coordinator: Daemon = spawnDaemon(
    [process.execPath, LAUNCHPLANE_CLI, 'serve', '--config', coordConfig],
    {
      env: process.env,
      logFile: join(coordDir, 'coordinator.log'),
    },
  );
  cleanups.push(() => coordinator.stop());
  await waitFor(
    async () => {
      if (!coordinator.alive())
        throw new Error(`coordinator exited; see ${join(coordDir, 'coordinator.log')}`);
      const res = await fetch(`${coordUrl}/v1/health`);
      return res.ok;
    },
    { timeoutMs: 30_000, intervalMs: 200, what: 'the coordinator to listen' },
  );
  const adminToken = (await readFile(join(coordDir, 'data', 'admin.token'), 'utf8')).trim();
  const env: NodeJS.ProcessEnv = { LAUNCHPLANE_URL: coordUrl, LAUNCHPLANE_TOKEN: adminToken };
  say(
    `coordinator listening on ${coordUrl}; admin token in ${join(coordDir, 'data', 'admin.token')}`,
  );

  // --- enrollment ------------------------------------------------------------------------
  step(`Enroll host "${HOST}": a single-use token, the host's own key, the coordinator key pinned`);
  const et = await must(
    run(LAUNCHPLANE_CLI, ['enroll-token', 'create', '--host', HOST, '--ttl', '15m', '--json'], {
      env,
      quiet: true,
    }),
    'enroll-token create',
  );
  const enrollment = JSON.parse(et.stdout) as { token: string; coordinatorFingerprint: string };
  const agentDir = laneRoot;
  await mkdir(agentDir, { recursive: true });
  const agentConfig = join(agentDir, 'agent.yaml');
  const agentYaml: Record<string, unknown> = {
    hostId: HOST,
    dataDir: join(agentDir, 'data'),
    optIn: {
      repositories: [REPO],
      backends: [backend],
      maxLanes: 4,
      // The host runs only the demo's runner image (any tag of its repository).
      ...(poolDocker === undefined
        ? {}
        : { docker: { images: [poolDocker.image.replace(/:[^:/]*$/, '')] } }),
    },
    capabilities: [],
    systemd: systemdSection,
    // Each lane runs as a user of its own, made for it and deleted with it.
    runner: { template: stubRunnerTemplateDir(), users: { uidRange: DEMO_LANE_UID_RANGE } },
    health: { intervalSec: 5 },
    log: { level: 'warn' },
    ...(dockerSection === undefined ? {} : { docker: dockerSection }),
  };
  await writeFile(
    agentConfig,
    `# demo agent config: the host opts in to ${REPO} on ${backend}\n${toYaml(agentYaml)}`,
  );
  await must(
    run(
      AGENT_CLI,
      [
        'enroll',
        '--config',
        agentConfig,
        '--coordinator',
        coordUrl,
        '--host-id',
        HOST,
        '--coordinator-fingerprint',
        enrollment.coordinatorFingerprint,
      ],
      // The token travels in the environment: a command line is readable by every user.
      {
        env: { ...agentEnv, LAUNCHPLANE_ENROLL_TOKEN: enrollment.token },
        redact: [enrollment.token],
      },
    ),
    'agent enroll',
  );
  const agent: Daemon = spawnDaemon([process.execPath, AGENT_CLI, 'run', '--config', agentConfig], {
    env: { ...process.env, ...agentEnv },
    logFile: join(agentDir, 'agent.log'),
  });
  cleanups.push(() => agent.stop());
  await waitFor(
    async () => {
      const r = await run(LAUNCHPLANE_CLI, ['hosts', '--json'], { env, quiet: true });
      return r.status === 0 && /"connected":\s*true/.test(r.stdout);
    },
    { timeoutMs: 30_000, intervalMs: 500, what: 'the agent to connect' },
  );
  await must(run(LAUNCHPLANE_CLI, ['hosts'], { env }), 'hosts');

  // --- policy ----------------------------------------------------------------------------
  step('Validate and apply a policy: 2 lanes of pool "build" for acme/api on the demo host');
  const policyFile = join(dir.path, 'policy.yaml');
  await writeFile(
    policyFile,
    [
      'version: 1',
      `allowedHosts: [${HOST}]`,
      `allowedRepositories: [${REPO}]`,
      'pools:',
      '  build:',
      `    repository: ${REPO}`,
      '    labels: [linux]',
      `    backend: ${backend}`,
      ...(poolDocker === undefined ? [] : [`    docker: { image: "${poolDocker.image}" }`]),
      '    ephemeral: false',
      `    lanes: { ${HOST}: 2 }`,
      '',
    ].join('\n'),
  );
  await must(run(LAUNCHPLANE_CLI, ['policy', 'validate', policyFile]), 'policy validate');
  await must(run(LAUNCHPLANE_CLI, ['policy', 'apply', policyFile], { env }), 'policy apply');

  step('Plan: what would change, and why');
  await must(run(LAUNCHPLANE_CLI, ['plan'], { env }), 'plan');

  step('Apply: lanes are created, started and verified online on GitHub');
  await must(run(LAUNCHPLANE_CLI, ['apply', '--wait'], { env }), 'apply');
  await must(run(LAUNCHPLANE_CLI, ['lanes'], { env }), 'lanes');
  await must(run(LAUNCHPLANE_CLI, ['runners'], { env }), 'runners');
  for (const lane of await lanesJson(env)) {
    say(`lane ${lane.laneId} runs as ${await laneUser(lane.laneId)}`);
  }

  // --- a job -----------------------------------------------------------------------------
  step('A job with `runs-on: [linux, lp-pool-build]` runs on a lane');
  const job = (await simRequest(sim.url, 'POST', '/_sim/jobs', {
    repository: REPO,
    labels: ['linux', 'lp-pool-build'],
    durationMs: 20_000,
  })) as SimJob;
  let taken: SimJob | undefined;
  await waitFor(
    async () => {
      const jobs = (await simRequest(sim.url, 'GET', '/_sim/jobs')) as
        { jobs: SimJob[] } | SimJob[];
      const list = Array.isArray(jobs) ? jobs : jobs.jobs;
      taken = list.find((j) => j.id === job.id && j.status === 'in_progress');
      return taken !== undefined;
    },
    { timeoutMs: 30_000, intervalMs: 500 },
  );
  say(`job ${job.id} is running on runner ${taken?.runnerName ?? taken?.runnerId ?? '?'}`);
  const lanes = await lanesJson(env);
  const busyLane = lanes.find((l) => l.runnerId !== undefined && l.runnerId === taken?.runnerId);
  const idleLane = lanes.find((l) => l !== busyLane);
  if (busyLane === undefined || idleLane === undefined)
    throw new Error('expected two lanes, one of them busy');

  step(`Restart the busy lane ${busyLane.laneId}: it drains, waits for the job, then restarts`);
  await must(
    run(LAUNCHPLANE_CLI, ['lane', 'restart', busyLane.laneId, '--wait', '--timeout', '5m'], {
      env,
    }),
    'lane restart',
  );
  const jobsAfter = (await simRequest(sim.url, 'GET', '/_sim/jobs')) as
    { jobs: SimJob[] } | SimJob[];
  const finished = (Array.isArray(jobsAfter) ? jobsAfter : jobsAfter.jobs).find(
    (j) => j.id === job.id,
  );
  say(
    `job ${job.id} finished with status "${finished?.status ?? '?'}" — it was waited for, not killed`,
  );

  // --- an unmanaged runner ---------------------------------------------------------------
  step('Someone registers a runner by hand, with look-alike labels: it is listed, never touched');
  await simRequest(sim.url, 'POST', '/_sim/runners', {
    repository: REPO,
    name: 'lp-demo-host-build-handmade',
    labels: ['launchplane', 'lp-pool-build', 'linux'],
    status: 'online',
  });
  await must(run(LAUNCHPLANE_CLI, ['runners'], { env }), 'runners');
  await must(run(LAUNCHPLANE_CLI, ['plan'], { env }), 'plan');

  // --- remove ----------------------------------------------------------------------------
  step(`Remove lane ${idleLane.laneId} (dry run first, then for real)`);
  await must(
    run(LAUNCHPLANE_CLI, ['lane', 'remove', idleLane.laneId, '--dry-run'], { env }),
    'lane remove --dry-run',
  );
  await must(
    run(LAUNCHPLANE_CLI, ['lane', 'remove', idleLane.laneId, '--wait'], { env }),
    'lane remove',
  );
  await must(run(LAUNCHPLANE_CLI, ['lanes'], { env }), 'lanes');
  await must(run(LAUNCHPLANE_CLI, ['runners'], { env }), 'runners');

  step('The audit trail');
  await must(run(LAUNCHPLANE_CLI, ['audit'], { env }), 'audit');
  await must(
    run(AGENT_CLI, ['audit', '--verify', '--config', agentConfig], { env: agentEnv }),
    'agent audit --verify',
  );

  if (args.keep) {
    step('Left running (--keep). Try:');
    say(
      `  export LAUNCHPLANE_URL=${coordUrl} LAUNCHPLANE_TOKEN=$(cat ${join(coordDir, 'data', 'admin.token')})`,
    );
    say('  npx launchplane plan');
    say('  npx launchplane lanes');
    say('  npx launchplane runners');
    say('  npx launchplane audit --follow');
    say(`  npx launchplane-agent lanes --config ${agentConfig}`);
    say(
      `  curl -s -X POST ${sim.url}/_sim/jobs -H 'content-type: application/json' -d '{"repository":"${REPO}","labels":["linux","lp-pool-build"],"durationMs":10000}'`,
    );
    say('Press Ctrl-C to stop and clean up.');
    await new Promise<void>((resolve) => {
      process.once('SIGINT', resolve);
      process.once('SIGTERM', resolve);
    });
  }
  say(`\n${bold('Demo complete.')} Cleaning up…`);
}

/** A tiny YAML writer for the flat config above (JSON is valid YAML; one level reads better). */
function toYaml(obj: Record<string, unknown>): string {
  return (
    Object.entries(obj)
      .map(([k, v]) => `${k}: ${JSON.stringify(v)}`)
      .join('\n') + '\n'
  );
}

let interrupted = false;
for (const sig of ['SIGINT', 'SIGTERM'] as const) {
  process.on(sig, () => {
    if (args.keep || interrupted) return;
    interrupted = true;
    say('\ninterrupted: cleaning up…');
    void cleanup().then(() => process.exit(130));
  });
}

try {
  await main();
  await cleanup();
} catch (err) {
  process.stderr.write(`\ndemo failed: ${err instanceof Error ? err.message : String(err)}\n`);
  await cleanup();
  process.exitCode = 1;
}
