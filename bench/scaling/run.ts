/**
 * `bench/scaling` (issue 14): one seeded bursty trace of workflow jobs, replayed three ways in the
 * same run on the same hosts, by the simulator's trace replay (`POST /_sim/trace`, compressed by
 * `--speed`), against real agents whose lanes are units of a private systemd user manager (the
 * testbed's), with a real coordinator reconciling on its own (`reconcile.auto`):
 *
 * - `static-avg`: a static pool sized for the trace's average concurrency;
 * - `static-peak`: a static pool sized for its peak (capped by the hosts' lanes);
 * - `demand`: a pool with `scaling.mode: demand` and `minIdle`, fed by signed webhooks and the
 *   job poller.
 *
 * Each mode gets a fresh world (simulator, coordinator, agents with the same host ids) so that
 * request counts and audit trails are its own. Every time is reported in simulated time (wall
 * time × speed). Prints one JSON document on stdout and a table on stderr, and writes
 * `bench/results/scaling.json`.
 *
 * Measured per mode, from the start of the replay until its last job completed:
 * - queue wait of each job (`startedAt - queuedAt` by the simulator's clock): p50, p95, max;
 * - idle lane-minutes: the sum over samples (every `--sample-ms` of wall time) of lanes whose
 *   runner is online and runs no job, times the sample interval;
 * - lanes created, removed and taken back from a scale-down (`lane.create`, `lane.remove` and
 *   `lane.reclaim` audit records of the coordinator; a remove that was taken back is no removal);
 * - GitHub requests (the simulator's `/_sim/requests`: every request, those that counted against
 *   the rate limit, and free 304s);
 * - lane start time: from the coordinator sending a lane's create to its runner's first session
 *   (demand mode);
 * - over-provisioned lanes (demand mode): lanes whose runner registered at a sample where the pool held
 *   more lanes than every target `min(max, max(min, busy + waiting + minIdle))` seen in the last
 *   `--target-window-ms` of wall time (busy and waiting from the simulator's jobs).
 *
 * Root and the systemd testbed are needed: `npm run bench:scaling` (builds first). Options:
 * `--jobs 50 --minutes 30 --burst 10 --min-duration-sec 30 --max-duration-sec 300 --speed 20
 * --seed 14 --hosts 2 --lanes-per-host 6 --min-idle 1 --scale-down-after-sec 60 --reservation-sec 120
 * --drain-settle-sec 60 --modes static-avg,static-peak,demand --sample-ms 500 --target-window-ms 10000 --timeline PATH
 * --coordinator-log PATH --no-write`.
 */
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

import { burstyTrace, type TraceJob } from '@launchplane/github-sim';
import { runnerName } from '@launchplane/shared';

import { startSystemdUserManager } from '../../test/testbed/systemd-user-manager.js';
import { waitFor } from '../../test/testbed/wait-for.js';
import { REPO, startWorld, type World } from '../../test/e2e/world.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const RESULTS = join(ROOT, 'bench', 'results', 'scaling.json');
const POOL = 'build';
const LABELS = ['linux'];
const SECRET = 'bench-scaling-webhook-secret-000000';
const MODES = ['static-avg', 'static-peak', 'demand'] as const;
type Mode = (typeof MODES)[number];

interface Options {
  jobs: number;
  minutes: number;
  burst: number;
  minDurationSec: number;
  maxDurationSec: number;
  speed: number;
  seed: number;
  hosts: number;
  lanesPerHost: number;
  minIdle: number;
  /** Simulated seconds, as every time the bench reports (the coordinator gets them ÷ speed). */
  scaleDownAfterSec: number;
  reservationSec: number;
  /** The drain's settle (the coordinator's `drain.settleSec`, 60 by default), simulated. */
  drainSettleSec: number;
  modes: Mode[];
  sampleMs: number;
  targetWindowMs: number;
  write: boolean;
  /** Where to write each demand-mode event in time order (JSON lines), to see where waits go. */
  timeline: string | undefined;
  /** Where to copy demand mode's coordinator log (debug level). */
  coordinatorLog: string | undefined;
}

function parseArgs(argv: string[]): Options {
  const o: Options = {
    jobs: 50,
    minutes: 30,
    burst: 10,
    minDurationSec: 30,
    maxDurationSec: 300,
    speed: 20,
    seed: 14,
    hosts: 2,
    lanesPerHost: 6,
    minIdle: 1,
    scaleDownAfterSec: 60,
    reservationSec: 120,
    drainSettleSec: 60,
    modes: [...MODES],
    sampleMs: 500,
    targetWindowMs: 10_000,
    write: true,
    timeline: undefined,
    coordinatorLog: undefined,
  };
  const num = (flag: string, v: string | undefined): number => {
    const n = Number(v);
    if (v === undefined || !Number.isFinite(n) || n < 0) {
      throw new Error(`option "${flag}" needs a number >= 0`);
    }
    return n;
  };
  const keys: Record<string, keyof Options> = {
    '--jobs': 'jobs',
    '--minutes': 'minutes',
    '--burst': 'burst',
    '--min-duration-sec': 'minDurationSec',
    '--max-duration-sec': 'maxDurationSec',
    '--speed': 'speed',
    '--seed': 'seed',
    '--hosts': 'hosts',
    '--lanes-per-host': 'lanesPerHost',
    '--min-idle': 'minIdle',
    '--scale-down-after-sec': 'scaleDownAfterSec',
    '--reservation-sec': 'reservationSec',
    '--drain-settle-sec': 'drainSettleSec',
    '--sample-ms': 'sampleMs',
    '--target-window-ms': 'targetWindowMs',
  };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    const key = keys[a];
    if (key !== undefined) (o as unknown as Record<string, number>)[key] = num(a, argv[++i]);
    else if (a === '--no-write') o.write = false;
    else if (a === '--timeline' || a === '--coordinator-log') {
      const path = argv[++i];
      if (path === undefined || path === '') throw new Error(`option "${a}" needs a path`);
      if (a === '--timeline') o.timeline = path;
      else o.coordinatorLog = path;
    } else if (a === '--modes') {
      const list = (argv[++i] ?? '').split(',');
      for (const m of list) {
        if (!(MODES as readonly string[]).includes(m)) {
          throw new Error(`mode "${m}" is not known (use ${MODES.join(', ')})`);
        }
      }
      o.modes = list as Mode[];
    } else throw new Error(`option "${a}" is not known`);
  }
  if (o.jobs < 1 || o.burst < 1 || o.hosts < 1 || o.lanesPerHost < 1 || o.speed <= 0) {
    throw new Error('"--jobs", "--burst", "--hosts", "--lanes-per-host" and "--speed" must be > 0');
  }
  if (o.maxDurationSec < o.minDurationSec) {
    throw new Error('"--max-duration-sec" must be at least "--min-duration-sec"');
  }
  return o;
}

/** The seeded trace: bursts of `burst` jobs spread over `minutes`, trimmed to `jobs`. */
function makeTrace(o: Options): TraceJob[] {
  const bursts = Math.ceil(o.jobs / o.burst);
  const spanMs = o.minutes * 60_000;
  const gap = Math.floor(spanMs / bursts);
  return burstyTrace({
    seed: o.seed,
    bursts,
    jobsPerBurst: [o.burst, o.burst],
    burstGapMs: [Math.floor(gap / 2), Math.floor((gap * 3) / 2)],
    burstSpreadMs: Math.min(60_000, gap),
    durationMs: [o.minDurationSec * 1000, o.maxDurationSec * 1000],
    labels: LABELS,
    repository: REPO,
  }).slice(0, o.jobs);
}

/** Average and peak concurrency if every job started the moment it arrived. */
function concurrency(trace: TraceJob[]): { average: number; peak: number; spanMs: number } {
  const events: [number, number][] = [];
  let busyMs = 0;
  for (const j of trace) {
    events.push([j.atMs, 1], [j.atMs + j.durationMs, -1]);
    busyMs += j.durationMs;
  }
  events.sort((a, b) => a[0] - b[0] || a[1] - b[1]);
  let now = 0;
  let peak = 0;
  for (const [, d] of events) {
    now += d;
    peak = Math.max(peak, now);
  }
  const first = Math.min(...trace.map((j) => j.atMs));
  const spanMs = Math.max(...trace.map((j) => j.atMs + j.durationMs)) - first;
  return { average: busyMs / spanMs, peak, spanMs };
}

function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return 0;
  const i = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[i]!;
}

const round = (n: number, digits = 1): number => Number(n.toFixed(digits));

interface SimRunnerRow {
  id: number;
  name: string;
  status: string;
  busy: boolean;
  origin: string;
  currentJobId: number | null;
  labels: { name: string }[];
  /** When the runner registered (config.sh) and its process first started a session, in ms. */
  registeredAt: number;
  firstSessionAt: number | null;
}
interface SimJobRow {
  id: number;
  status: string;
  queuedAt: number;
  startedAt: number | null;
  completedAt: number | null;
  runnerName?: string | null;
}
interface TraceState {
  state: string;
  total: number;
  released: number;
  queued: number;
  inProgress: number;
  completed: number;
  jobs?: { jobId: number | null }[];
}
type RequestCounts = Record<string, { total: number; counted: number; notModified: number }>;

/** One mode's figures, every time in simulated seconds. */
interface ModeResult {
  mode: Mode;
  poolLanes: number | { perHostMax: number; max: number; minIdle: number };
  jobs: number;
  completed: number;
  queueWaitSec: { p50: number; p95: number; max: number; mean: number };
  idleLaneMinutes: number;
  laneMinutes: number;
  lanesCreated: number;
  lanesRemoved: number;
  /** Lanes a scale-down was draining that demand took back instead of a new lane. */
  lanesReclaimed: number;
  /**
   * The machine's CPUs over the replay (`/proc/stat`, all processes): busy share, and the
   * simulated time during which they were at least 90 % busy between two samples (when lanes
   * start slower because the machine has no CPU left, not because of anything they wait for).
   */
  cpu: { busyPct: number; saturatedSec: number };
  lanesAtEnd: number;
  /** From the coordinator sending a lane's create to its runner's first session. */
  laneStartSec?: { p50: number; p95: number; samples: number; wallP50: number };
  /** The two parts of it: create sent → runner registered (config.sh) → first session. */
  laneStartPartsSec?: {
    toRegistered: { p50: number; p95: number };
    registeredToOnline: { p50: number; p95: number };
  };
  overProvisioned?: number;
  /** Their runner names. */
  overProvisionedLanes?: string[];
  githubRequests: { total: number; counted: number; notModified: number };
  wallSec: number;
  simulatedSec: number;
}

/**
 * Lanes created, removed and taken back, by the coordinator's audit (a lane may have several
 * records; a remove taken back before it began is audited `ok` with `reclaimed: true`).
 */
async function auditLanes(
  w: World,
): Promise<{ created: Set<string>; removed: Set<string>; reclaimed: Set<string> }> {
  const res = await fetch(`${w.url}/v1/audit?limit=10000`, {
    headers: { authorization: `Bearer ${w.viewer}` },
  });
  if (!res.ok) throw new Error(`GET /v1/audit: ${res.status}`);
  const { records } = (await res.json()) as {
    records: {
      action: string;
      laneId?: string;
      dryRun: boolean;
      outcome: string;
      params?: Record<string, unknown>;
    }[];
  };
  const ids = (action: string): Set<string> =>
    new Set(
      records
        .filter((r) => r.action === action && !r.dryRun && r.laneId !== undefined)
        .filter((r) => r.outcome !== 'refused' && r.outcome !== 'failed')
        .filter((r) => r.params?.['reclaimed'] !== true)
        .map((r) => r.laneId!),
    );
  return {
    created: ids('lane.create'),
    removed: ids('lane.remove'),
    reclaimed: ids('lane.reclaim'),
  };
}

const newIn = (after: Set<string>, before: Set<string>): number =>
  [...after].filter((id) => !before.has(id)).length;

function sumRequests(before: RequestCounts, after: RequestCounts): ModeResult['githubRequests'] {
  const total = { total: 0, counted: 0, notModified: 0 };
  for (const [op, c] of Object.entries(after)) {
    const b = before[op] ?? { total: 0, counted: 0, notModified: 0 };
    total.total += c.total - b.total;
    total.counted += c.counted - b.counted;
    total.notModified += c.notModified - b.notModified;
  }
  return total;
}

/**
 * The coordinator runs on the wall clock while the trace is compressed: the pool's times, given
 * in simulated seconds, are divided by the speed (at least 1 s, as the policy counts whole
 * seconds). The reconcile and poll intervals are the coordinator's smallest (5 s and 10 s of wall
 * time, 100 s and 200 s simulated at 20×); new jobs wake the reconciler at once anyway.
 */
function coordinatorTimes(o: Options): {
  scaleDownAfterSec: number;
  reservationSec: number;
  reconcileIntervalSec: number;
  pollIntervalSec: number;
  reconcileMinGapSec: number;
  drain: { settleSec: number; settleObservations: number; pollSec: number };
  githubMinWriteIntervalMs: number;
} {
  const wallSec = (sim: number, least: number): number =>
    Math.max(least, Math.round(sim / o.speed));
  return {
    scaleDownAfterSec: wallSec(o.scaleDownAfterSec, 0),
    reservationSec: wallSec(o.reservationSec, 1),
    reconcileIntervalSec: 5,
    pollIntervalSec: 10,
    // The coordinator's defaults, compressed like the pool's times, within what each allows:
    // rounds woken by demand 1 s apart, and a drain's settle of 3 checks 5 s apart over 60 s.
    reconcileMinGapSec: Math.max(0.1, Math.round((1 / o.speed) * 100) / 100),
    drain: {
      settleSec: wallSec(o.drainSettleSec, 0),
      // No settle is one look: the host and GitHub say idle once, and the remove goes on.
      settleObservations: o.drainSettleSec === 0 ? 1 : 3,
      pollSec: wallSec(5, 1),
    },
    // The gap github.com asks between writes (label changes, registration deletes): 1 s.
    githubMinWriteIntervalMs: Math.round(1000 / o.speed),
  };
}

/** The machine's CPU time so far, in clock ticks: busy (not idle, not waiting on I/O) and all. */
function cpuTicks(): { busy: number; total: number } {
  const line = readFileSync('/proc/stat', 'utf8').split('\n', 1)[0] ?? '';
  const f = line.trim().split(/\s+/).slice(1, 9).map(Number);
  const total = f.reduce((a, b) => a + b, 0);
  return { busy: total - (f[3] ?? 0) - (f[4] ?? 0), total };
}

/**
 * When the coordinator sent each lane's create (ms), by runner name: its `command sent` lines
 * at log level debug (pino JSON, `time` in ms), the runner name made the way the coordinator
 * makes it.
 */
function createsSent(log: string): Map<string, number> {
  const sent = new Map<string, number>();
  for (const line of log.split('\n')) {
    if (!line.startsWith('{')) continue;
    let row: { msg?: unknown; type?: unknown; hostId?: unknown; laneId?: unknown; time?: unknown };
    try {
      row = JSON.parse(line) as typeof row;
    } catch {
      continue;
    }
    if (row.msg !== 'command sent' || row.type !== 'lane.create') continue;
    if (typeof row.hostId !== 'string' || typeof row.laneId !== 'string') continue;
    if (typeof row.time !== 'number') continue;
    const name = runnerName(row.hostId, POOL, row.laneId);
    if (!sent.has(name)) sent.set(name, row.time);
  }
  return sent;
}

/** Every job's and runner's events in time order, as JSON lines: `t` is simulated s from the start. */
function writeTimeline(
  path: string,
  speed: number,
  wall0: number,
  jobs: readonly SimJobRow[],
  runners: Record<
    'requestedAt' | 'registeredAt' | 'onlineAt' | 'goneAt',
    ReadonlyMap<string, number>
  >,
): void {
  const rows: { t: number; event: string; [k: string]: unknown }[] = [];
  const t = (ms: number): number => round(((ms - wall0) * speed) / 1000);
  // The wall clock of t = 0, to line the timeline up with a coordinator log (--coordinator-log).
  rows.push({ t: 0, event: 'replay.started', atMs: wall0 });
  for (const j of jobs) {
    rows.push({ t: t(j.queuedAt), event: 'job.queued', job: j.id });
    if (j.startedAt !== null) {
      const waitSec = round(((j.startedAt - j.queuedAt) * speed) / 1000);
      rows.push({
        t: t(j.startedAt),
        event: 'job.started',
        job: j.id,
        runner: j.runnerName,
        waitSec,
      });
    }
    if (j.completedAt !== null)
      rows.push({ t: t(j.completedAt), event: 'job.completed', job: j.id });
  }
  for (const [key, event] of [
    ['requestedAt', 'lane.requested'],
    ['registeredAt', 'runner.registered'],
    ['onlineAt', 'runner.online'],
    ['goneAt', 'runner.gone'],
  ] as const) {
    for (const [name, at] of runners[key]) rows.push({ t: t(at), event, runner: name });
  }
  rows.sort((a, b) => a.t - b.t);
  mkdirSync(dirname(path), { recursive: true });
  writeFileSync(path, rows.map((r) => JSON.stringify(r)).join('\n') + '\n');
  process.stderr.write(`[scaling] wrote the demand timeline to ${path}\n`);
}

async function runMode(
  mode: Mode,
  o: Options,
  trace: TraceJob[],
  staticLanes: { avg: number; peak: number },
  systemd: Awaited<ReturnType<typeof startSystemdUserManager>>,
): Promise<ModeResult> {
  const hostIds = Array.from({ length: o.hosts }, (_, i) => `host-${i + 1}`);
  const capacity = o.hosts * o.lanesPerHost;
  const wall = coordinatorTimes(o);
  const w = await startWorld({
    backend: 'systemd',
    systemd,
    reconcile: {
      auto: true,
      intervalSec: wall.reconcileIntervalSec,
      minGapSec: wall.reconcileMinGapSec,
    },
    drain: wall.drain,
    githubMinWriteIntervalMs: wall.githubMinWriteIntervalMs,
    createOnlineSec: 120,
    // At debug the coordinator logs each command it sends, with its time in ms: when each
    // lane's create left (see createsSent).
    coordinatorLogLevel: mode === 'demand' ? 'debug' : 'warn',
    ...(mode === 'demand'
      ? { demand: { webhookSecret: SECRET, pollIntervalSec: wall.pollIntervalSec } }
      : {}),
  });
  try {
    for (const hostId of hostIds) {
      await w.addAgent({
        hostId,
        optIn: { repositories: [REPO], backends: ['systemd'], maxLanes: o.lanesPerHost },
      });
    }
    let lanes: Record<string, number>;
    let wanted: number;
    if (mode === 'demand') {
      lanes = Object.fromEntries(hostIds.map((h) => [h, o.lanesPerHost]));
      wanted = o.minIdle;
      await w.simJson('POST', '/_sim/hooks', {
        repository: REPO,
        url: `${w.url}/v1/github/webhook`,
        secret: SECRET,
        events: ['workflow_job'],
      });
    } else {
      wanted = mode === 'static-avg' ? staticLanes.avg : staticLanes.peak;
      lanes = {};
      hostIds.forEach((h, i) => {
        lanes[h] = Math.floor(wanted / o.hosts) + (i < wanted % o.hosts ? 1 : 0);
      });
    }
    await w.applyPolicy({
      allowedHosts: hostIds,
      allowedRepositories: [REPO],
      pools: {
        [POOL]: {
          labels: LABELS,
          lanes,
          ...(mode === 'demand'
            ? {
                scaling: {
                  mode: 'demand',
                  min: 0,
                  max: capacity,
                  minIdle: o.minIdle,
                  scaleDownAfterSec: wall.scaleDownAfterSec,
                  reservationSec: wall.reservationSec,
                },
              }
            : {}),
        },
      },
    });
    const simRunners = async (): Promise<SimRunnerRow[]> =>
      (await w.simJson<{ runners: SimRunnerRow[] }>('GET', '/_sim/runners')).runners.filter(
        (r) => r.origin !== 'unmanaged',
      );
    process.stderr.write(`[scaling] ${mode}: waiting for ${wanted} idle lane(s)\n`);
    await waitFor(
      async () =>
        (await simRunners()).filter((r) => r.status === 'online' && !r.busy).length >= wanted,
      { timeoutMs: 300_000, intervalMs: 1000, what: `${wanted} lanes of ${mode} to be online` },
    );
    const audit0 = await auditLanes(w);
    const req0 = await w.simJson<RequestCounts>('GET', '/_sim/requests');

    const wall0 = Date.now();
    await w.simJson('POST', '/_sim/trace', { jobs: trace, speed: o.speed });
    process.stderr.write(`[scaling] ${mode}: replaying ${trace.length} jobs at ${o.speed}x\n`);

    let idleLaneMs = 0;
    let laneMs = 0;
    const cpu0 = cpuTicks();
    let cpuLast = cpu0;
    let saturatedMs = 0;
    const registeredAt = new Map<string, number>();
    const onlineAt = new Map<string, number>();
    const goneAt = new Map<string, number>();
    const overProvisioned = new Set<string>();
    const targets: { at: number; target: number }[] = [];
    const maxWallMs = ((o.minutes * 60_000 + o.maxDurationSec * 1000) / o.speed) * 4 + 600_000;
    let last = Date.now();
    for (;;) {
      const [runners, p] = await Promise.all([
        simRunners(),
        w.simJson<TraceState>('GET', '/_sim/trace'),
      ]);
      const now = Date.now();
      const dt = now - last;
      last = now;
      const cpuNow = cpuTicks();
      const cpuTotal = cpuNow.total - cpuLast.total;
      if (cpuTotal > 0 && (cpuNow.busy - cpuLast.busy) / cpuTotal >= 0.9) saturatedMs += dt;
      cpuLast = cpuNow;
      const online = runners.filter((r) => r.status === 'online');
      laneMs += dt * runners.length;
      idleLaneMs += dt * online.filter((r) => !r.busy && r.currentJobId === null).length;
      const fresh = runners.filter((r) => !registeredAt.has(r.name));
      const present = new Set(runners.map((r) => r.name));
      for (const name of registeredAt.keys()) {
        if (!present.has(name) && !goneAt.has(name)) goneAt.set(name, now);
      }
      // The simulator's own times (ms), not this loop's samples.
      for (const r of runners) {
        if (!registeredAt.has(r.name)) registeredAt.set(r.name, r.registeredAt);
        if (r.firstSessionAt !== null && !onlineAt.has(r.name))
          onlineAt.set(r.name, r.firstSessionAt);
      }
      if (mode === 'demand') {
        const target = Math.min(capacity, Math.max(0, p.inProgress + p.queued + o.minIdle));
        targets.push({ at: now, target });
        while (targets.length > 0 && targets[0]!.at < now - o.targetWindowMs) targets.shift();
        // A lane is judged when it is made (its runner first registered), against every target
        // of the window before: demand that ends while a lane starts does not make it excess.
        // Quarantined runners (a drain under way) take no job: they are no longer the pool's.
        const serving = runners.filter((r) => !r.labels.some((l) => l.name === 'lp-draining'));
        const ceiling = Math.max(...targets.map((t) => t.target));
        if (serving.length > ceiling && fresh.length > 0) {
          const excess = serving.length - ceiling;
          for (const r of fresh.slice(0, excess)) overProvisioned.add(r.name);
        }
      }
      if (p.state !== 'running' && p.queued === 0 && p.inProgress === 0) break;
      if (now - wall0 > maxWallMs) {
        process.stderr.write(
          `[scaling] ${mode}: gave up after ${Math.round(maxWallMs / 1000)} s\n`,
        );
        break;
      }
      await new Promise((r) => setTimeout(r, o.sampleMs));
    }
    const wallMs = Date.now() - wall0;
    const req1 = await w.simJson<RequestCounts>('GET', '/_sim/requests');
    const audit1 = await auditLanes(w);
    const ids = new Set(
      (await w.simJson<TraceState>('GET', '/_sim/trace?jobs=1')).jobs?.flatMap((j) =>
        j.jobId === null ? [] : [j.jobId],
      ) ?? [],
    );
    const jobs = (await w.simJson<{ jobs: SimJobRow[] }>('GET', '/_sim/jobs')).jobs.filter((j) =>
      ids.has(j.id),
    );
    const waits = jobs
      .filter((j) => j.startedAt !== null)
      .map((j) => ((j.startedAt! - j.queuedAt) * o.speed) / 1000)
      .sort((a, b) => a - b);
    // Lanes made during the measurement: from their create leaving the coordinator, through
    // config.sh registering the runner, to the runner's first session.
    const coordinatorLog = mode === 'demand' ? readFileSync(w.coordinator.logPath, 'utf8') : '';
    if (o.coordinatorLog !== undefined && mode === 'demand') {
      mkdirSync(dirname(o.coordinatorLog), { recursive: true });
      writeFileSync(o.coordinatorLog, coordinatorLog);
    }
    const requestedAt = createsSent(coordinatorLog);
    const made = [...requestedAt.entries()].filter(
      ([name, at]) => at >= wall0 && onlineAt.has(name) && registeredAt.has(name),
    );
    const sorted = (xs: number[]): number[] => xs.sort((a, b) => a - b);
    const starts = sorted(made.map(([name, at]) => onlineAt.get(name)! - at));
    const toRegistered = sorted(made.map(([name, at]) => registeredAt.get(name)! - at));
    const registeredToOnline = sorted(
      made.map(([name]) => onlineAt.get(name)! - registeredAt.get(name)!),
    );
    const finalRunners = await simRunners();
    const result: ModeResult = {
      mode,
      poolLanes:
        mode === 'demand'
          ? { perHostMax: o.lanesPerHost, max: capacity, minIdle: o.minIdle }
          : wanted,
      jobs: trace.length,
      completed: jobs.filter((j) => j.status === 'completed').length,
      queueWaitSec: {
        p50: round(percentile(waits, 50)),
        p95: round(percentile(waits, 95)),
        max: round(waits.at(-1) ?? 0),
        mean: round(waits.reduce((a, b) => a + b, 0) / Math.max(1, waits.length)),
      },
      idleLaneMinutes: round((idleLaneMs * o.speed) / 60_000),
      laneMinutes: round((laneMs * o.speed) / 60_000),
      lanesCreated: newIn(audit1.created, audit0.created),
      lanesRemoved: newIn(audit1.removed, audit0.removed),
      lanesReclaimed: newIn(audit1.reclaimed, audit0.reclaimed),
      cpu: {
        busyPct: round(
          ((cpuLast.busy - cpu0.busy) / Math.max(1, cpuLast.total - cpu0.total)) * 100,
        ),
        saturatedSec: round((saturatedMs * o.speed) / 1000),
      },
      lanesAtEnd: finalRunners.length,
      githubRequests: sumRequests(req0, req1),
      wallSec: round(wallMs / 1000),
      simulatedSec: round((wallMs * o.speed) / 1000),
    };
    if (mode === 'demand' && o.timeline !== undefined) {
      writeTimeline(o.timeline, o.speed, wall0, jobs, {
        requestedAt,
        registeredAt,
        onlineAt,
        goneAt,
      });
    }
    if (mode === 'demand') {
      // A percentile of wall-time ms, in simulated seconds.
      const sec = (xs: number[], p: number): number => round((percentile(xs, p) * o.speed) / 1000);
      result.laneStartSec = {
        p50: sec(starts, 50),
        p95: sec(starts, 95),
        samples: starts.length,
        wallP50: round(percentile(starts, 50) / 1000, 2),
      };
      result.laneStartPartsSec = {
        toRegistered: { p50: sec(toRegistered, 50), p95: sec(toRegistered, 95) },
        registeredToOnline: { p50: sec(registeredToOnline, 50), p95: sec(registeredToOnline, 95) },
      };
      result.overProvisioned = overProvisioned.size;
      result.overProvisionedLanes = [...overProvisioned].sort();
    }
    process.stderr.write(`[scaling] ${mode}: ${JSON.stringify(result)}\n`);
    return result;
  } catch (err) {
    process.stderr.write(
      `[scaling] ${mode} failed; coordinator log:\n${await w.coordinator.log()}\n`,
    );
    throw err;
  } finally {
    await w.close();
  }
}

interface Goal {
  target: string;
  value: number | null;
  met: boolean;
}

function goals(results: ModeResult[]): Record<string, Goal> {
  const peak = results.find((r) => r.mode === 'static-peak');
  const demand = results.find((r) => r.mode === 'demand');
  if (peak === undefined || demand === undefined) return {};
  const laneStart = demand.laneStartSec?.p50 ?? 0;
  const waitBound = peak.queueWaitSec.p95 + laneStart + 10;
  const idleBound = peak.idleLaneMinutes * 0.5;
  return {
    demandP95WaitWithinLaneStartPlus10s: {
      target: `demand p95 wait <= static-peak p95 (${peak.queueWaitSec.p95} s) + lane start p50 (${laneStart} s, create sent to runner online) + 10 s = ${round(waitBound)} s`,
      value: demand.queueWaitSec.p95,
      met: demand.queueWaitSec.p95 <= waitBound,
    },
    demandIdleLaneMinutesAtMostHalfOfPeak: {
      target: `<= 50% of static-peak's ${peak.idleLaneMinutes} idle lane-minutes = ${round(idleBound)}`,
      value: demand.idleLaneMinutes,
      met: demand.idleLaneMinutes <= idleBound,
    },
    zeroOverProvisionedLanes: {
      target: '0 lanes created beyond the planner target',
      value: demand.overProvisioned ?? null,
      met: demand.overProvisioned === 0,
    },
  };
}

function table(results: ModeResult[]): string {
  const head =
    '| mode | lanes | wait p50 s | wait p95 s | wait max s | idle lane-min | lane-min | created | removed | reclaimed | GitHub requests (counted) | CPU busy % (saturated s) |';
  const rows = results.map((r) => {
    const lanes =
      typeof r.poolLanes === 'number'
        ? String(r.poolLanes)
        : `0–${r.poolLanes.max}, minIdle ${r.poolLanes.minIdle}`;
    return `| ${r.mode} | ${lanes} | ${r.queueWaitSec.p50} | ${r.queueWaitSec.p95} | ${r.queueWaitSec.max} | ${r.idleLaneMinutes} | ${r.laneMinutes} | ${r.lanesCreated} | ${r.lanesRemoved} | ${r.lanesReclaimed} | ${r.githubRequests.total} (${r.githubRequests.counted}) | ${r.cpu.busyPct} (${r.cpu.saturatedSec}) |`;
  });
  return [head, '|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|', ...rows].join('\n');
}

async function main(): Promise<void> {
  const o = parseArgs(process.argv.slice(2));
  const trace = makeTrace(o);
  const c = concurrency(trace);
  const capacity = o.hosts * o.lanesPerHost;
  const staticLanes = {
    avg: Math.max(1, Math.min(capacity, Math.ceil(c.average))),
    peak: Math.min(capacity, c.peak),
  };
  process.stderr.write(
    `[scaling] trace: ${trace.length} jobs over ${round(c.spanMs / 60_000)} simulated min, average concurrency ${round(c.average, 2)}, peak ${c.peak}; static pools ${staticLanes.avg} and ${staticLanes.peak}\n`,
  );
  const systemd = await startSystemdUserManager();
  const results: ModeResult[] = [];
  try {
    for (const mode of o.modes) results.push(await runMode(mode, o, trace, staticLanes, systemd));
  } finally {
    await systemd.stop();
  }
  const doc = {
    bench: 'scaling',
    at: new Date().toISOString(),
    backend: 'systemd',
    parameters: { ...o, write: undefined },
    coordinatorWallSec: coordinatorTimes(o),
    trace: {
      jobs: trace.length,
      spanSimulatedMin: round(c.spanMs / 60_000),
      averageConcurrency: round(c.average, 2),
      peakConcurrency: c.peak,
      staticAvgLanes: staticLanes.avg,
      staticPeakLanes: staticLanes.peak,
    },
    units: 'every time in simulated seconds or minutes (wall time x speed)',
    modes: results,
    goals: goals(results),
  };
  process.stdout.write(`${JSON.stringify(doc, null, 2)}\n`);
  process.stderr.write(`${table(results)}\n`);
  if (o.write) {
    mkdirSync(dirname(RESULTS), { recursive: true });
    writeFileSync(RESULTS, `${JSON.stringify(doc, null, 2)}\n`);
    process.stderr.write(`[scaling] wrote ${RESULTS}\n`);
  }
}

main().catch((err: unknown) => {
  process.stderr.write(`${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  process.exitCode = 1;
});
