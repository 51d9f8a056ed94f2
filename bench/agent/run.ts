/**
 * bench/agent: what the host agent costs, measured against the real thing in one run.
 *
 * Starts a private systemd user manager (and, if it can, a private dockerd with the FROM scratch
 * stub-runner image) from test/testbed, the GitHub simulator (its bin, in its own process), and a
 * minimal coordinator (bench-coordinator.ts). Enrolls and runs the REAL agent daemon
 * (`launchplane-agent run`) against it over WebSocket, creates `--lanes` ephemeral systemd lanes
 * (and `--docker-lanes` Docker lanes) through signed `lane.create` commands with JIT configs from
 * the simulator, waits until every runner is online at the simulator, then measures:
 *
 * 1. the agent's idle RSS (VmRSS, sampled) and CPU (utime+stime over `--idle-sec`) with the lanes
 *    running and the health loop active;
 * 2. `--commands` sequential signed `lane.inspect` round-robin over the systemd lanes, from send
 *    to verified result, next to `--direct` × `systemctl --user show <unit> -p …` processes,
 *    in alternating batches (interleave.ts) so both meet the same interference;
 * 3. the same for the Docker lanes next to `docker -H unix://… inspect <container>` processes.
 *
 * CPU per call is charged to every process involved (the bench process, the agent, systemd
 * --user, the bus, dockerd; each with the children it reaped), measured from /proc.
 *
 * Usage (root, after `npm run build`): node .tmp/bench-build/bench/agent/run.js
 *   [--lanes 10] [--docker-lanes 2] [--commands 1000] [--direct 1000] [--warmup 20]
 *   [--rounds 20] [--idle-sec 20] [--no-docker]
 * JSON on stdout, a table on stderr. Everything it starts is stopped on exit, also on failure.
 */
import { randomBytes } from 'node:crypto';
import { execFile, spawn } from 'node:child_process';
import { createWriteStream } from 'node:fs';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { cpus, loadavg, release, totalmem } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { parseArgs, promisify } from 'node:util';
import Docker from 'dockerode';
import { containerName, laneLabels, newLaneId, unitName } from '@launchplane/shared';
import type { Backend, Command, LaneId } from '@launchplane/shared';
import { stubRunnerTemplateDir } from '@launchplane/github-sim';
import { startSystemdUserManager } from '../../test/testbed/systemd-user-manager.js';
import type { SystemdUserManager } from '../../test/testbed/systemd-user-manager.js';
import { defaultDockerCacheDir, startDockerd } from '../../test/testbed/dockerd.js';
import type { PrivateDockerd } from '../../test/testbed/dockerd.js';
import { buildScratchImage } from '../../test/testbed/scratch-image.js';
import { TEST_LANE_UID_RANGE, sweepTestLaneUsers } from '../../test/testbed/lane-users.js';
import { tempDir } from '../../test/testbed/temp-dir.js';
import { waitFor } from '../../test/testbed/wait-for.js';
import { BenchCoordinator } from './bench-coordinator.js';
import { directReadOnce } from './direct-read.js';
import type { DirectRead } from './direct-read.js';
import { startSimProcess } from './github-sim-process.js';
import { interleave } from './interleave.js';
import type { ReadMethod } from './interleave.js';
import type { SimProcess } from './github-sim-process.js';
import { round, summarize } from './latency.js';
import type { LatencySummary } from './latency.js';
import { CpuMeter, rssKiB } from './proc-stat.js';
import type { CpuTimes } from './proc-stat.js';

const run = promisify(execFile);

const { values: args } = parseArgs({
  options: {
    lanes: { type: 'string', default: '10' },
    'docker-lanes': { type: 'string', default: '2' },
    commands: { type: 'string', default: '1000' },
    direct: { type: 'string', default: '1000' },
    warmup: { type: 'string', default: '20' },
    rounds: { type: 'string', default: '20' },
    'idle-sec': { type: 'string', default: '20' },
    'no-docker': { type: 'boolean', default: false },
    'no-write': { type: 'boolean', default: false },
  },
});
const LANES = positiveInt('lanes');
const DOCKER_LANES = args['no-docker'] ? 0 : nonNegativeInt('docker-lanes');
const COMMANDS = positiveInt('commands');
const DIRECT = positiveInt('direct');
const WARMUP = nonNegativeInt('warmup');
const IDLE_SEC = positiveInt('idle-sec');
const ROUNDS = Math.min(positiveInt('rounds'), COMMANDS, DIRECT);

const HOST_ID = 'bench-host';
const COORDINATOR_ID = 'coord-bench';
const REPO = 'acme/api';
const POOL = 'build';
const PAT = 'ghp_benchagent0000000000000000000000000000';
const IMAGE = 'launchplane-bench/agent-lane:latest';
const AGENT_BIN = fileURLToPath(new URL('../../../../packages/agent/dist/cli.js', import.meta.url));
/** bench/results/ in the repository (this file runs from .tmp/bench-build/bench/agent/). */
const RESULTS_DIR = fileURLToPath(new URL('../../../../bench/results/', import.meta.url));

function positiveInt(name: keyof typeof args): number {
  const n = Number(args[name]);
  if (!Number.isInteger(n) || n < 1) throw new Error(`--${name} must be a positive integer`);
  return n;
}
function nonNegativeInt(name: keyof typeof args): number {
  const n = Number(args[name]);
  if (!Number.isInteger(n) || n < 0) throw new Error(`--${name} must be an integer ≥ 0`);
  return n;
}

const notes: string[] = [];
const log = (line: string): void => {
  process.stderr.write(`[bench:agent] ${line}\n`);
};

/** Clean-up steps, run last-in first-out, each bounded and never throwing. */
const cleanups: { what: string; fn: () => Promise<void> }[] = [];
let cleaning: Promise<void> | undefined;
function cleanUp(): Promise<void> {
  cleaning ??= (async () => {
    for (const step of cleanups.splice(0).reverse()) {
      try {
        await Promise.race([
          step.fn(),
          new Promise((_, reject) =>
            setTimeout(() => reject(new Error('timed out after 90 s')), 90_000).unref(),
          ),
        ]);
      } catch (error) {
        log(
          `clean-up "${step.what}" failed: ${error instanceof Error ? error.message : String(error)}`,
        );
      }
    }
  })();
  return cleaning;
}
let interrupted: NodeJS.Signals | undefined;
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => {
    interrupted = signal;
    log(`${signal}: cleaning up`);
    void cleanUp().then(() => process.exit(130));
  });
}

interface Lane {
  laneId: LaneId;
  backend: Backend;
  runnerId: number;
  object: string;
}

interface PhaseCpu {
  /** CPU ms per call, per process (self + reaped children). */
  perCallCpuMs: Record<string, number>;
  perCallCpuMsTotal: number;
}

function cpuPerCall(diff: Map<string, CpuTimes>, calls: number): PhaseCpu {
  const perCallCpuMs: Record<string, number> = {};
  let total = 0;
  for (const [name, t] of diff) {
    const ms = (t.selfMs + t.childrenMs) / calls;
    perCallCpuMs[name] = round(ms, 4);
    total += ms;
  }
  return { perCallCpuMs, perCallCpuMsTotal: round(total, 4) };
}

async function main(): Promise<unknown> {
  const machine = {
    cpus: cpus().length,
    cpuModel: cpus()[0]?.model ?? 'unknown',
    memGiB: round(totalmem() / 2 ** 30, 1),
    node: process.version,
    kernel: release(),
    loadAvg1mAtStart: round(loadavg()[0] ?? 0, 2),
  };

  // ---------------------------------------------------------------- the real parts
  // Runs last: the users the agent made for the bench's lanes (their lane dirs are gone then).
  cleanups.push({ what: 'lane users', fn: async () => void (await sweepTestLaneUsers()) });
  log('starting a private systemd user manager');
  const systemd: SystemdUserManager = await startSystemdUserManager();
  cleanups.push({ what: 'systemd user manager', fn: () => systemd.stop() });
  const sdEnv = { ...process.env, ...systemd.env };

  let dockerd: PrivateDockerd | undefined;
  if (DOCKER_LANES > 0) {
    try {
      log('starting a private dockerd');
      dockerd = await startDockerd({ persistentDataRoot: defaultDockerCacheDir() });
      const d = dockerd;
      cleanups.push({ what: 'dockerd', fn: () => d.stop() });
      log('building the FROM scratch stub-runner image');
      // Like the official runner image: a `runner` user and USER 1001 (root images are refused).
      await buildScratchImage(new Docker({ socketPath: d.socketPath }), {
        tag: IMAGE,
        users: [{ name: 'runner', uid: 1001, gid: 1001, home: '/home/runner' }],
        groups: [{ name: 'runner', gid: 1001 }],
        user: '1001',
      });
    } catch (error) {
      notes.push(`Docker part skipped: ${error instanceof Error ? error.message : String(error)}`);
      log(notes.at(-1) ?? '');
      dockerd = undefined;
    }
  } else {
    notes.push('Docker part skipped (--no-docker or --docker-lanes 0)');
  }
  const dockerLanes = dockerd === undefined ? 0 : DOCKER_LANES;

  log('starting the GitHub simulator');
  const sim: SimProcess = await startSimProcess(PAT);
  cleanups.push({ what: 'github-sim', fn: () => sim.stop() });

  const enrollToken = `lpe_${randomBytes(8).toString('hex')}_${randomBytes(32).toString('base64url')}`;
  const coordinator = await BenchCoordinator.start({
    coordinatorId: COORDINATOR_ID,
    hostId: HOST_ID,
    enrollToken,
  });
  cleanups.push({ what: 'coordinator', fn: () => coordinator.close() });

  // Lane dirs must be outside /tmp: lane units run with PrivateTmp=yes.
  // …and reachable by the users lanes run as.
  const work = await tempDir({ base: systemd.laneRoot, prefix: 'bench-agent-', laneUsers: true });
  cleanups.push({ what: 'work dir', fn: () => work.cleanup() });
  const dataDir = join(work.path, 'data');
  const configPath = join(work.path, 'agent.yaml');
  await mkdir(dataDir, { recursive: true, mode: 0o755 });
  await writeFile(
    configPath,
    [
      `hostId: ${HOST_ID}`,
      `dataDir: ${dataDir}`,
      `optIn: { repositories: [${REPO}], backends: [systemd${dockerd === undefined ? '' : ', docker'}], maxLanes: ${LANES + dockerLanes}, docker: { images: [${IMAGE.replace(/:[^:/]*$/, '')}], networks: [bridge, host] } }`,
      `systemd: { bus: user, unitDir: ${systemd.unitDir} }`,
      ...(dockerd === undefined ? [] : [`docker: { socketPath: ${dockerd.socketPath} }`]),
      `runner: { template: ${stubRunnerTemplateDir()}, users: { uidRange: "${TEST_LANE_UID_RANGE}" } }`,
      'log: { level: warn }',
      '',
    ].join('\n'),
  );

  log('enrolling the agent');
  await run(
    process.execPath,
    [
      AGENT_BIN,
      '--config',
      configPath,
      'enroll',
      '--coordinator',
      coordinator.enrollUrl,
      '--host-id',
      HOST_ID,
      '--coordinator-fingerprint',
      coordinator.fingerprint,
    ],
    { env: { ...process.env, LAUNCHPLANE_ENROLL_TOKEN: enrollToken } },
  ).catch((error: { stderr?: string; message: string }) => {
    throw new Error(`enroll failed: ${error.stderr?.trim() ?? error.message}`);
  });

  log('starting the agent daemon');
  const agentLog = join(work.path, 'agent.log');
  const logStream = createWriteStream(agentLog);
  const agent = spawn(process.execPath, [AGENT_BIN, '--config', configPath, 'run'], {
    env: sdEnv,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  agent.stdout.pipe(logStream);
  agent.stderr.pipe(logStream);
  const agentExited = new Promise<void>((resolve) => agent.once('exit', () => resolve()));
  const agentPid = agent.pid ?? 0;
  const agentTail = async (): Promise<string> =>
    (await readFile(agentLog, 'utf8').catch(() => '')).trim().split('\n').slice(-5).join('\n');
  cleanups.push({
    what: 'agent daemon',
    fn: async () => {
      if (agent.exitCode !== null || agent.signalCode !== null) return;
      agent.kill('SIGTERM');
      const timer = setTimeout(() => agent.kill('SIGKILL'), 30_000);
      await agentExited;
      clearTimeout(timer);
    },
  });
  await Promise.race([
    coordinator.waitForSession(30_000),
    agentExited.then(async () => {
      throw new Error(`the agent exited: ${await agentTail()}`);
    }),
  ]);

  // ---------------------------------------------------------------- lanes
  const lanes: Lane[] = [];
  cleanups.push({
    what: 'lanes',
    fn: async () => {
      if (!coordinator.connected) return;
      for (const lane of lanes) {
        const r = await coordinator
          .send({ type: 'lane.remove', laneId: lane.laneId, dryRun: false, force: true }, 30_000)
          .catch((error: Error) => ({ ok: false, error: { message: error.message } }));
        if (!r.ok) log(`removing lane ${lane.laneId} failed: ${r.error?.message ?? 'unknown'}`);
      }
    },
  });
  const createLane = async (backend: Backend, n: number): Promise<void> => {
    const laneId = newLaneId(Date.now() + n);
    const name = `lp-${HOST_ID}-${POOL}-${laneId.slice(-8)}`;
    const labels = laneLabels({ coordinatorId: COORDINATOR_ID, laneId, pool: POOL });
    const jit = await sim.json<{ runner: { id: number }; encoded_jit_config: string }>(
      'POST',
      `/repos/${REPO}/actions/runners/generate-jitconfig`,
      { name, runner_group_id: 1, labels },
    );
    const cmd: Command = {
      type: 'lane.create',
      laneId,
      dryRun: false,
      name,
      scope: { repository: REPO },
      pool: POOL,
      labels,
      backend,
      ephemeral: true,
      runnerId: jit.runner.id,
      runner: { jitConfig: jit.encoded_jit_config },
      // Host networking (allowed in the bench host's opt-in): the runner reaches the simulator on
      // 127.0.0.1.
      ...(backend === 'docker' ? { docker: { image: IMAGE, network: 'host' } } : {}),
    };
    const r = await coordinator.send(cmd, 120_000);
    if (!r.ok)
      throw new Error(`lane.create (${backend}) refused: ${r.error?.code} ${r.error?.message}`);
    lanes.push({
      laneId,
      backend,
      runnerId: jit.runner.id,
      object: backend === 'systemd' ? unitName(laneId) : containerName(laneId),
    });
  };
  log(
    `creating ${LANES} systemd lanes${dockerLanes > 0 ? ` and ${dockerLanes} Docker lanes` : ''}`,
  );
  const createStart = performance.now();
  for (let i = 0; i < LANES; i++) await createLane('systemd', i);
  for (let i = 0; i < dockerLanes; i++) await createLane('docker', LANES + i);
  const createMs = performance.now() - createStart;
  log('waiting for every runner to be online at the simulator');
  await waitFor(
    async () => {
      const { runners } = await sim.json<{ runners: { id: number; status: string }[] }>(
        'GET',
        `/repos/${REPO}/actions/runners?per_page=100`,
      );
      const online = new Set(runners.filter((r) => r.status === 'online').map((r) => r.id));
      return lanes.every((l) => online.has(l.runnerId));
    },
    { timeoutMs: 120_000, intervalMs: 250, what: 'every lane runner online at the simulator' },
  );
  const onlineMs = performance.now() - createStart;
  log('waiting for the agent to report every lane online (its health loop)');
  const allOnline = (): boolean => {
    const reported = coordinator.inventory?.lanes ?? [];
    return lanes.every((l) => reported.some((r) => r.laneId === l.laneId && r.state === 'online'));
  };
  await waitFor(allOnline, { timeoutMs: 45_000, intervalMs: 100, what: 'lanes online' }).catch(
    () => {
      const states = (coordinator.inventory?.lanes ?? []).map((l) => l.state).join(', ');
      notes.push(`Not every lane reached "online" in the agent's inventory in 45 s: ${states}`);
    },
  );

  // ---------------------------------------------------------------- idle
  const dbusPid = Number(
    (
      await run('systemctl', ['--user', 'show', 'dbus.service', '-p', 'MainPID', '--value'], {
        env: sdEnv,
      })
    ).stdout.trim(),
  );
  const pids = new Map<string, number | 'self'>([
    ['bench', 'self'],
    ['agent', agentPid],
    ['systemd', systemd.pid],
    ...(dbusPid > 0 ? ([['dbusDaemon', dbusPid]] as const) : []),
    ...(dockerd === undefined ? [] : ([['dockerd', dockerd.pid]] as const)),
  ]);
  const meter = new CpuMeter(pids);
  // A moment for the events of the last transitions to be shipped and acknowledged.
  await new Promise((r) => setTimeout(r, 2_000));
  log(`measuring the idle agent for ${IDLE_SEC} s`);
  const rss: number[] = [];
  const idleBefore = meter.snapshot();
  const idleStart = performance.now();
  while (performance.now() - idleStart < IDLE_SEC * 1000) {
    const kib = rssKiB(agentPid);
    if (kib === undefined) throw new Error(`the agent exited: ${await agentTail()}`);
    rss.push(kib);
    await new Promise((r) => setTimeout(r, 500));
  }
  const idleWallMs = performance.now() - idleStart;
  const idleDiff = CpuMeter.diff(idleBefore, meter.snapshot());
  const idleCpu = (name: string): number => {
    const t = idleDiff.get(name);
    return t === undefined ? 0 : round(((t.selfMs + t.childrenMs) / idleWallMs) * 100, 3);
  };
  const sortedRss = [...rss].sort((a, b) => a - b);
  const vmHwm = /^VmHWM:\s+(\d+)/m.exec(
    await readFile(`/proc/${agentPid}/status`, 'utf8').catch(() => ''),
  )?.[1];

  // ---------------------------------------------------------------- inspect
  const agentInspect = (backend: Backend, states: Record<string, number>): ReadMethod => {
    const targets = lanes.filter((l) => l.backend === backend);
    return {
      count: COMMANDS,
      async once(i, timed) {
        const lane = targets[i % targets.length];
        if (lane === undefined) throw new Error(`no ${backend} lanes`);
        const t0 = performance.now();
        const r = await coordinator.send({
          type: 'lane.inspect',
          laneId: lane.laneId,
          dryRun: false,
        });
        const ms = performance.now() - t0;
        if (!r.ok || r.lane === undefined)
          throw new Error(`lane.inspect refused: ${r.error?.code} ${r.error?.message}`);
        if (timed) {
          const key = `${r.lane.state} ${r.lane.backendState ?? ''}`.trim();
          states[key] = (states[key] ?? 0) + 1;
        }
        return ms;
      },
    };
  };
  const compare = async (
    backend: Backend,
    read: DirectRead,
  ): Promise<{
    agent: { latency: LatencySummary; cpu: PhaseCpu; laneStates: Record<string, number> };
    direct: { latency: LatencySummary; cpu: PhaseCpu };
  }> => {
    const laneStates: Record<string, number> = {};
    const [a, d] = await interleave(
      agentInspect(backend, laneStates),
      { count: DIRECT, once: (i) => directReadOnce(read, i) },
      { rounds: ROUNDS, warmup: WARMUP, meter },
    );
    return {
      agent: {
        latency: summarize(a.samples, a.wallMs),
        cpu: cpuPerCall(a.cpu, COMMANDS),
        laneStates,
      },
      direct: { latency: summarize(d.samples, d.wallMs), cpu: cpuPerCall(d.cpu, DIRECT) },
    };
  };

  const sdUnits = lanes.filter((l) => l.backend === 'systemd').map((l) => l.object);
  log(
    `${COMMANDS} × signed lane.inspect (systemd lanes, round-robin) and ${DIRECT} × systemctl --user show, in ${ROUNDS} alternating rounds`,
  );
  const sd = await compare('systemd', {
    file: 'systemctl',
    args: (i) => [
      '--user',
      'show',
      sdUnits[i % sdUnits.length] ?? '',
      '-p',
      'ActiveState,SubState,MainPID,NRestarts',
    ],
    env: sdEnv,
    check: (out) => {
      if (!/^ActiveState=active$/m.test(out) || !/^MainPID=[1-9]\d*$/m.test(out))
        throw new Error(`systemctl show: unexpected output ${out.trim()}`);
    },
  });

  let docker: Record<string, unknown> | undefined;
  if (dockerd !== undefined && dockerLanes > 0) {
    const d = dockerd;
    const containers = lanes.filter((l) => l.backend === 'docker').map((l) => l.object);
    log(
      `${COMMANDS} × signed lane.inspect (Docker lanes, round-robin) and ${DIRECT} × docker inspect, in ${ROUNDS} alternating rounds`,
    );
    const dk = await compare('docker', {
      file: 'docker',
      args: (i) => [
        '-H',
        `unix://${d.socketPath}`,
        'inspect',
        containers[i % containers.length] ?? '',
      ],
      env: { PATH: process.env['PATH'] ?? '/usr/bin:/bin', HOME: work.path },
      check: (out) => {
        const parsed = JSON.parse(out) as { State?: { Running?: boolean; Pid?: number } }[];
        if (parsed[0]?.State?.Running !== true || !(Number(parsed[0].State.Pid) > 0))
          throw new Error('docker inspect: container not running');
      },
    });
    docker = {
      agentDocker: dk.agent.latency,
      agentDockerCpu: dk.agent.cpu,
      agentDockerLaneStates: dk.agent.laneStates,
      dockerInspect: dk.direct.latency,
      dockerInspectCpu: dk.direct.cpu,
    };
  }

  notes.push(
    `Agent: the built launchplane-agent daemon (pid ${agentPid}) enrolled against the bench's coordinator, session over ws://127.0.0.1, health loop at the config default (10 s).`,
    `Lanes: ${LANES} ephemeral systemd lanes${dockerLanes > 0 ? ` and ${dockerLanes} ephemeral Docker lanes (FROM scratch image)` : ''} with the stub runner, JIT configs from the simulator; created in ${round(createMs / 1000, 1)} s, all runners online at the simulator ${round(onlineMs / 1000, 1)} s after the first create.`,
    'lane.inspect latency: from signing the command to a verified result (sign + WebSocket + the agent verifying, journaling the jti/seq and audit record in SQLite, reading unit or container state, Runner.Worker processes and the hook files, signing the result + the bench verifying it); one at a time.',
    'Direct reads: one process per read, spawn to exit, one at a time; systemctl reads 4 unit properties, docker inspect the whole container. Neither checks Runner.Worker, the job hooks or the ledger, nor signs or audits anything.',
    `CPU per call: each process's utime+stime plus its reaped children (bench = the bench process: coordinator signing/verifying, or spawning the direct-read processes, whose own CPU is in bench's children). Background costs run in every phase alike: the idle agent, the stub runners' heartbeats and the simulator (separate process, not counted).`,
    `Timing: after ${WARMUP} untimed reads of each, the agent path and the direct reads run in ${ROUNDS} alternating rounds (A B, B A, …), one batch of each per round, one read at a time, so both see the same interference on a shared machine; perSec is reads per second of the method's own batch time.`,
  );
  return {
    machine: { ...machine, loadAvg1mAtEnd: round(loadavg()[0] ?? 0, 2) },
    agent: {
      idleRssMiB: round((sortedRss[Math.floor(sortedRss.length / 2)] ?? 0) / 1024, 1),
      idleRssMaxMiB: round((sortedRss.at(-1) ?? 0) / 1024, 1),
      peakRssMiB: vmHwm === undefined ? null : round(Number(vmHwm) / 1024, 1),
      idleCpuPct: idleCpu('agent'),
      idleWindowSec: round(idleWallMs / 1000, 1),
      idleCpuPctOthers: Object.fromEntries(
        [...idleDiff.keys()].filter((n) => n !== 'agent').map((n) => [n, idleCpu(n)]),
      ),
      lanes: { systemd: LANES, docker: dockerLanes },
      eventsAcked: coordinator.eventsAcked,
    },
    inspect: {
      agent: sd.agent.latency,
      agentCpu: sd.agent.cpu,
      agentLaneStates: sd.agent.laneStates,
      systemctlShow: sd.direct.latency,
      systemctlShowCpu: sd.direct.cpu,
      ...docker,
    },
    notes,
  };
}

function table(result: {
  agent: { idleRssMiB: number; idleCpuPct: number };
  inspect: Record<string, unknown>;
}): string {
  const rows: [string, LatencySummary, { perCallCpuMsTotal: number } | undefined][] = [];
  const i = result.inspect as {
    agent: LatencySummary;
    agentCpu: PhaseCpu;
    systemctlShow: LatencySummary;
    systemctlShowCpu: PhaseCpu;
    agentDocker?: LatencySummary;
    agentDockerCpu?: PhaseCpu;
    dockerInspect?: LatencySummary;
    dockerInspectCpu?: PhaseCpu;
  };
  rows.push(['agent lane.inspect (systemd)', i.agent, i.agentCpu]);
  rows.push(['systemctl --user show', i.systemctlShow, i.systemctlShowCpu]);
  if (i.agentDocker !== undefined && i.dockerInspect !== undefined) {
    rows.push(['agent lane.inspect (docker)', i.agentDocker, i.agentDockerCpu]);
    rows.push(['docker inspect', i.dockerInspect, i.dockerInspectCpu]);
  }
  const pad = (s: string, n: number): string => s.padStart(n);
  const lines = [
    `agent idle: RSS ${result.agent.idleRssMiB} MiB, CPU ${result.agent.idleCpuPct} % of one core`,
    `${'read'.padEnd(30)}${pad('p50 ms', 9)}${pad('p90 ms', 9)}${pad('p99 ms', 9)}${pad('max ms', 9)}${pad('/s', 8)}${pad('cpu ms/call', 13)}`,
  ];
  for (const [name, l, cpu] of rows) {
    lines.push(
      `${name.padEnd(30)}${pad(l.p50.toFixed(2), 9)}${pad(l.p90.toFixed(2), 9)}${pad(l.p99.toFixed(2), 9)}${pad(l.max.toFixed(2), 9)}${pad(l.perSec.toFixed(0), 8)}${pad(cpu === undefined ? '' : cpu.perCallCpuMsTotal.toFixed(2), 13)}`,
    );
  }
  return lines.join('\n');
}

let exitCode = 0;
try {
  const result = (await main()) as Parameters<typeof table>[0];
  process.stdout.write(`${JSON.stringify(result, null, 2)}\n`);
  if (!args['no-write']) {
    await mkdir(RESULTS_DIR, { recursive: true });
    await writeFile(join(RESULTS_DIR, 'agent.json'), `${JSON.stringify(result, null, 2)}\n`);
  }
  process.stderr.write(`${table(result)}\n`);
} catch (error) {
  exitCode = interrupted === undefined ? 1 : 130;
  if (interrupted === undefined)
    log(`failed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}`);
} finally {
  log('cleaning up');
  await cleanUp();
}
process.exit(exitCode);
