#!/usr/bin/env node
// Coordinator benchmark (issue 5 "Benchmarks"), in one run:
//  1. plan(): the pure planner over synthetic fleets of 1,000 and 10,000 hosts × 10 lanes
//     (median/p90 ms after a warm-up), and JSON.stringify of the plan it returns.
//  2. A real coordinator in its own process (bench/coordinator/coordinator-process.mjs: the
//     `launchplane serve` wiring plus bench-only admin routes that call AgentHub.send) on
//     127.0.0.1, temp data dir, SQLite store. 1,000 hosts enrolled through the admin API
//     (enrollment token each) and `POST /v1/enroll` with fresh Ed25519 keys, then 1,000
//     lightweight protocol clients connected from worker processes (agent-worker.mjs).
//  3. Coordinator RSS (/proc/<pid>/status VmRSS, after a forced GC) before the agents connect
//     and with all of them connected and inventoried: KiB per connection.
//  4. Command round trip for lane.inspect: HTTP → coordinator → signed command → agent verifies
//     and signs a result → coordinator verifies → HTTP answer (p50/p99), with the time spent in
//     AgentHub.send alone; and the operator CLI process (`launchplane lanes --host … --json`)
//     next to the same request over HTTP, which shows what the CLI process itself costs.
//  5. Fan-out: one signed lane.inspect to every connected agent at once until every result is in:
//     wall time and per-agent latency (p50/p99), several rounds.
//
// Usage (after `npm run build`): node bench/coordinator/run.mjs [--agents 1000] [--workers 2]
//   [--plan-sizes 1000,10000] [--lanes-per-host 10] [--round-trips 200] [--cli-runs 100]
//   [--fanouts 5] [--skip-plan] [--data-parent /dev/shm]
// Prints one JSON document on stdout and a short table on stderr.
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import process from 'node:process';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import {
  computeEnrollProof,
  enrollProofKey,
  exportPrivateKeyPem,
  exportPublicJwk,
  fingerprint,
  generateEd25519KeyPair,
  laneLabels,
  newNonce,
  parseEnrollmentToken,
  runnerName,
} from '@launchplane/shared';
import { benchPlan } from './plan-bench.mjs';
import { mapLimit, round, summarize } from './stats.mjs';
import { writeResult } from '../results.mjs';

const HERE = fileURLToPath(new URL('.', import.meta.url));
const ROOT = join(HERE, '..', '..');
const CLI = join(ROOT, 'packages', 'coordinator', 'dist', 'cli.js');

const { values: args } = parseArgs({
  options: {
    agents: { type: 'string', default: '1000' },
    workers: { type: 'string', default: '2' },
    'plan-sizes': { type: 'string', default: '1000,10000' },
    'lanes-per-host': { type: 'string', default: '10' },
    'round-trips': { type: 'string', default: '200' },
    'cli-runs': { type: 'string', default: '100' },
    fanouts: { type: 'string', default: '5' },
    'skip-plan': { type: 'boolean', default: false },
    'no-write': { type: 'boolean', default: false },
    // Where the temp data dir goes: on tmpfs (/dev/shm) fsync is free, which shows its share.
    'data-parent': { type: 'string', default: os.tmpdir() },
  },
});
const AGENTS = Number(args.agents);
const WORKERS = Math.max(1, Number(args.workers));
const LANES = Number(args['lanes-per-host']);
const ROUND_TRIPS = Number(args['round-trips']);
const CLI_RUNS = Number(args['cli-runs']);
const FANOUTS = Number(args.fanouts);
const PLAN_SIZES = args['plan-sizes']
  .split(',')
  .filter((s) => s !== '')
  .map(Number);

const log = (line) => process.stderr.write(`${line}\n`);
const children = new Set();
let tempDir;

function cleanup() {
  for (const child of children) {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  }
  children.clear();
  if (tempDir !== undefined) rmSync(tempDir, { recursive: true, force: true });
  tempDir = undefined;
}
for (const sig of ['SIGINT', 'SIGTERM']) {
  process.on(sig, () => {
    log(`\n${sig}: stopping the coordinator and the agents`);
    cleanup();
    process.exit(130);
  });
}
process.on('exit', cleanup);

/** VmRSS and VmHWM of a process, KiB. */
function procMemory(pid) {
  const text = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kib = (key) => Number(new RegExp(`^${key}:\\s+(\\d+) kB`, 'm').exec(text)?.[1] ?? NaN);
  return { rssKiB: kib('VmRSS'), hwmKiB: kib('VmHWM') };
}

/** utime + stime of a process, ms (assumes the usual 100 ticks per second). */
function cpuMs(pid) {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) * 10;
}

async function startCoordinator(dir) {
  const configPath = join(dir, 'coordinator.yaml');
  writeFileSync(
    configPath,
    [
      'listen: { host: 127.0.0.1, port: 0 }',
      'dataDir: data',
      'log: { level: warn }',
      // Generous: a fan-out to every agent at once queues behind one event loop.
      'agents: { commandTimeoutSec: 120, maxPendingHandshakes: 4096 }',
      // 1,000 agents connect from one address here, as from behind one NAT.
      'limits: { exempt: [127.0.0.1] }',
      '',
    ].join('\n'),
  );
  const child = spawn(
    process.execPath,
    ['--expose-gc', join(HERE, 'coordinator-process.mjs'), configPath],
    { cwd: ROOT, stdio: ['pipe', 'pipe', 'pipe'] },
  );
  children.add(child);
  child.stderr.on('data', (d) => process.stderr.write(`[coordinator] ${d}`));
  const lines = createInterface({ input: child.stdout });
  const ready = await new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('coordinator did not start in 30 s')), 30_000);
    child.once('exit', (code) => reject(new Error(`coordinator exited early (${code})`)));
    lines.on('line', (line) => {
      if (line.startsWith('READY ')) {
        clearTimeout(timer);
        resolve(JSON.parse(line.slice(6)));
      }
    });
  });
  const adminToken = readFileSync(join(dir, 'data', 'admin.token'), 'utf8').trim();
  return { child, ...ready, adminToken };
}

function apiClient(baseUrl, token) {
  return async (method, path, body) => {
    const res = await fetch(`${baseUrl}${path}`, {
      method,
      headers: {
        authorization: `Bearer ${token}`,
        ...(body === undefined ? {} : { 'content-type': 'application/json' }),
      },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
    const text = await res.text();
    const json = text === '' ? {} : JSON.parse(text);
    if (!res.ok) throw new Error(`${method} ${path}: ${res.status} ${text.slice(0, 300)}`);
    return json;
  };
}

/** Enrolls `count` hosts the way an operator and `launchplane-agent enroll` do. */
async function enrollHosts(api, baseUrl, count, coordinatorId) {
  const hostIds = Array.from({ length: count }, (_, i) => `bench-${String(i).padStart(5, '0')}`);
  let coordinatorKey;
  const hosts = await mapLimit(hostIds, 8, async (hostId, h) => {
    const { token } = await api('POST', '/v1/enrollment-tokens', { hostId });
    const keys = generateEd25519KeyPair();
    // The enrollment handshake: a signed challenge, then a proof of the token for this key.
    const agentNonce = newNonce();
    const challenge = await (
      await fetch(`${baseUrl}/v1/enroll/challenge`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ hostId, agentNonce }),
      })
    ).json();
    const parts = parseEnrollmentToken(token);
    const res = await fetch(`${baseUrl}/v1/enroll`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({
        tokenId: parts.id,
        hostId,
        publicKey: exportPublicJwk(keys.publicKey),
        agentVersion: '0.0.0-bench',
        nonce: challenge.nonce,
        proof: computeEnrollProof(enrollProofKey(parts.secret), {
          coordinatorId: challenge.coordinatorId,
          hostId,
          tokenId: parts.id,
          hostFingerprint: fingerprint(keys.publicKey),
          agentNonce,
          nonce: challenge.nonce,
        }),
      }),
    });
    const body = await res.json();
    if (res.status !== 200 && res.status !== 201) {
      throw new Error(`enroll ${hostId}: ${res.status} ${JSON.stringify(body)}`);
    }
    coordinatorKey ??= body.coordinatorKey;
    return {
      hostId,
      privateKeyPem: exportPrivateKeyPem(keys.privateKey),
      optIn: {
        repositories: ['acme/api', 'acme/web'],
        organizations: [],
        backends: ['systemd', 'docker'],
        maxLanes: LANES,
      },
      lanes: laneReports(hostId, h, coordinatorId),
    };
  });
  return { hosts, coordinatorKey };
}

/** The host's lanes as its agent would report them in an inventory. */
function laneReports(hostId, h, coordinatorId) {
  const now = Math.floor(Date.now() / 1000);
  return Array.from({ length: LANES }, (_, k) => {
    const laneId = `01hz${String(h * 1000 + k).padStart(22, '0')}`;
    const pool = k % 2 === 0 ? 'build' : 'web';
    const busy = k % 3 === 0;
    return {
      laneId,
      name: runnerName(hostId, pool, laneId),
      pool,
      scope: { repository: pool === 'build' ? 'acme/api' : 'acme/web' },
      backend: k % 4 === 3 ? 'docker' : 'systemd',
      ephemeral: false,
      state: busy ? 'busy' : 'online',
      runnerId: 1_000_000 + h * 1000 + k,
      labels: laneLabels({ coordinatorId, laneId, pool, poolLabels: ['linux', 'x64'] }),
      backendState: 'active/running',
      local: { busy, jobRunning: busy, workerProcess: busy, jobsCompleted: k },
      restarts: 0,
      lastHealthAt: now,
      createdAt: now - 3600,
      updatedAt: now - 60,
    };
  });
}

function startWorker() {
  const child = spawn(process.execPath, [join(HERE, 'agent-worker.mjs')], {
    cwd: ROOT,
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  children.add(child);
  const waiters = new Map();
  child.on('message', (msg) => {
    const w = waiters.get(msg.op);
    waiters.delete(msg.op);
    w?.(msg);
  });
  const request = (msg, replyOp, timeoutMs = 120_000) =>
    new Promise((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new Error(`agent worker: no ${replyOp} within ${timeoutMs} ms`)),
        timeoutMs,
      );
      waiters.set(replyOp, (m) => {
        clearTimeout(timer);
        resolve(m);
      });
      child.send(msg);
    });
  return { child, request };
}

/** Reads the coordinator's memory after a forced GC, with its session counts. */
async function coordinatorMemory(api, pid) {
  const m = await api('GET', '/v1/bench/memory');
  return { ...procMemory(pid), heapUsedKiB: Math.round(m.memory.heapUsed / 1024), ...m };
}

async function waitForInventories(api, count, timeoutMs = 60_000) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const m = await api('GET', '/v1/bench/memory');
    if (m.withInventory >= count) return m;
    if (Date.now() > deadline) {
      throw new Error(`only ${m.withInventory}/${count} sessions sent an inventory`);
    }
    await new Promise((r) => setTimeout(r, 250));
  }
}

function runCli(argv, env) {
  return new Promise((resolve, reject) => {
    const t0 = performance.now();
    const child = spawn(process.execPath, [CLI, ...argv], {
      env: { ...process.env, ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    let err = '';
    child.stdout.on('data', (d) => (out += d));
    child.stderr.on('data', (d) => (err += d));
    child.on('error', reject);
    child.on('exit', (code) => {
      const ms = performance.now() - t0;
      if (code !== 0) reject(new Error(`launchplane ${argv.join(' ')}: exit ${code}: ${err}`));
      else resolve({ ms, out });
    });
  });
}

async function timeLoop(n, warmup, fn) {
  for (let i = 0; i < warmup; i++) await fn();
  const samples = [];
  const extra = [];
  const t0 = performance.now();
  for (let i = 0; i < n; i++) {
    const a = performance.now();
    const r = await fn();
    samples.push(performance.now() - a);
    if (typeof r === 'number') extra.push(r);
  }
  return { samples, extra, wallMs: performance.now() - t0 };
}

async function main() {
  const startedAt = new Date().toISOString();
  const result = {
    bench: 'coordinator',
    startedAt,
    machine: {
      cpus: os.cpus().length,
      cpuModel: os.cpus()[0]?.model ?? 'unknown',
      memGiB: round(os.totalmem() / 2 ** 30, 1),
      node: process.version,
      platform: `${os.platform()} ${os.release()}`,
      loadAvgAtStart: os.loadavg().map((l) => round(l, 2)),
    },
    options: {
      agents: AGENTS,
      workers: WORKERS,
      planSizes: PLAN_SIZES,
      lanesPerHost: LANES,
      roundTrips: ROUND_TRIPS,
      cliRuns: CLI_RUNS,
      fanouts: FANOUTS,
      dataParent: args['data-parent'],
    },
  };

  // 1. The planner, before any other process competes for the CPUs.
  result.plan = [];
  if (!args['skip-plan']) {
    for (const hosts of PLAN_SIZES) {
      log(`plan(): ${hosts} hosts × ${LANES} lanes …`);
      const big = hosts >= 5000;
      result.plan.push(
        benchPlan({ hosts, lanesPerHost: LANES, warmup: big ? 2 : 5, runs: big ? 7 : 30 }),
      );
    }
  }
  globalThis.gc?.();

  // 2. The coordinator and its agents.
  tempDir = mkdtempSync(join(args['data-parent'], 'lp-bench-coord-'));
  let coord = await startCoordinator(tempDir);
  let api = apiClient(coord.url, coord.adminToken);
  log(`coordinator pid ${coord.pid} at ${coord.url}`);
  const memStart = await coordinatorMemory(api, coord.pid);

  log(`enrolling ${AGENTS} hosts …`);
  const e0 = performance.now();
  const { hosts, coordinatorKey } = await enrollHosts(api, coord.url, AGENTS, coord.coordinatorId);
  const enrollMs = performance.now() - e0;
  const memEnrolled = await coordinatorMemory(api, coord.pid);

  // Enrolling 1,000 hosts churns the heap, and freed memory stays in the process: measured in
  // the same process, the connections would partly reuse it and look cheaper than they are. So
  // the coordinator is restarted on the same data dir (as after an upgrade, when every agent
  // reconnects) and the baseline is a fresh process that knows 1,000 enrolled hosts.
  coord.child.kill('SIGTERM');
  await new Promise((r) => coord.child.once('exit', r));
  children.delete(coord.child);
  coord = await startCoordinator(tempDir);
  api = apiClient(coord.url, coord.adminToken);
  log(`coordinator restarted: pid ${coord.pid} at ${coord.url}`);
  await new Promise((r) => setTimeout(r, 500));
  const memBefore = await coordinatorMemory(api, coord.pid);

  log(`connecting ${AGENTS} protocol clients from ${WORKERS} worker process(es) …`);
  const workers = Array.from({ length: WORKERS }, startWorker);
  const c0 = performance.now();
  const connected = await Promise.all(
    workers.map((w, i) =>
      w.request(
        {
          op: 'connect',
          agentUrl: coord.agentUrl,
          coordinatorKey,
          hosts: hosts.filter((_, h) => h % WORKERS === i),
          concurrency: 25,
        },
        'connected',
      ),
    ),
  );
  const connectedCount = connected.reduce((n, c) => n + c.connected, 0);
  const failures = Object.assign({}, ...connected.map((c) => c.failures));
  if (connectedCount !== AGENTS) {
    throw new Error(`${connectedCount}/${AGENTS} agents connected: ${JSON.stringify(failures)}`);
  }
  await waitForInventories(api, AGENTS);
  const connectMs = performance.now() - c0;
  // Let the upgrade and handshake garbage go before sampling the steady state.
  await new Promise((r) => setTimeout(r, 1000));
  const memAfter = await coordinatorMemory(api, coord.pid);
  const workerRssKiB = workers.map((w) => procMemory(w.child.pid).rssKiB);

  result.memory = {
    emptyAtStart: { rssKiB: memStart.rssKiB, heapUsedKiB: memStart.heapUsedKiB },
    afterEnrolling: { rssKiB: memEnrolled.rssKiB, heapUsedKiB: memEnrolled.heapUsedKiB },
    enrolledNotConnected: {
      rssKiB: memBefore.rssKiB,
      heapUsedKiB: memBefore.heapUsedKiB,
      externalKiB: Math.round(memBefore.memory.external / 1024),
    },
    connected: {
      agents: memAfter.sessions,
      withInventory: memAfter.withInventory,
      rssKiB: memAfter.rssKiB,
      heapUsedKiB: memAfter.heapUsedKiB,
      externalKiB: Math.round(memAfter.memory.external / 1024),
    },
    perConnectionKiB: {
      rss: round((memAfter.rssKiB - memBefore.rssKiB) / AGENTS, 1),
      heapUsed: round((memAfter.heapUsedKiB - memBefore.heapUsedKiB) / AGENTS, 1),
      external: round((memAfter.memory.external - memBefore.memory.external) / 1024 / AGENTS, 1),
    },
    notes:
      'Each figure after two forced GCs (node --expose-gc). enrolledNotConnected is a fresh coordinator ' +
      'process on the data dir holding the enrolled hosts (restarted after enrolling, see afterEnrolling); ' +
      'connected is the same process once every agent has sent its inventory. Per connection = ' +
      '(connected - enrolledNotConnected) / agents: the WebSocket, the session, the inventory with ' +
      'inventoryLanesPerAgent lane reports, the TLS-less TCP socket.',
    inventoryLanesPerAgent: LANES,
    agentWorkerRssKiB: workerRssKiB,
  };
  result.setup = {
    enroll: {
      hosts: AGENTS,
      wallMs: round(enrollMs, 1),
      perSec: round(AGENTS / (enrollMs / 1000), 1),
    },
    connect: {
      agents: connectedCount,
      wallMs: round(connectMs, 1),
      note: 'from the first upgrade to the last inventory stored (25 handshakes in flight per worker)',
    },
  };

  // 3. Round trips for one host's lane.
  const target = hosts[0];
  const laneId = target.lanes[0].laneId;
  log(`round trips: ${ROUND_TRIPS} lane.inspect over HTTP, ${CLI_RUNS} CLI processes …`);
  const inspect = await timeLoop(ROUND_TRIPS, 20, async () => {
    const r = await api('POST', '/v1/bench/inspect', { hostId: target.hostId, laneId });
    if (!r.ok) throw new Error(`lane.inspect answered ${r.outcome}`);
    return r.hubMs;
  });
  const lanesPath = `/v1/lanes?host=${target.hostId}`;
  const httpLanes = await timeLoop(ROUND_TRIPS, 20, () => api('GET', lanesPath));
  const cliEnv = { LAUNCHPLANE_URL: coord.url, LAUNCHPLANE_TOKEN: coord.adminToken };
  const cliArgs = ['lanes', '--host', target.hostId, '--json'];
  const cliLanes = await timeLoop(CLI_RUNS, 3, () => runCli(cliArgs, cliEnv));
  const cliVersion = await timeLoop(Math.min(CLI_RUNS, 50), 2, () => runCli(['--version'], {}));
  const rt = {
    httpToAgentMs: summarize(inspect.samples),
    hubSendMs: summarize(inspect.extra),
    cliLanesMs: summarize(cliLanes.samples),
    httpLanesMs: summarize(httpLanes.samples),
    cliVersionMs: summarize(cliVersion.samples),
  };
  rt.cliProcessOverheadP50Ms = round(rt.cliLanesMs.p50 - rt.httpLanesMs.p50);
  rt.estimatedCliToAgentP50Ms = round(rt.cliProcessOverheadP50Ms + rt.httpToAgentMs.p50);
  rt.notes = [
    'httpToAgentMs: POST /v1/bench/inspect (admin bearer auth, real server routing) → AgentHub.send → ' +
      'command seq + record committed (SQLite) → signed lane.inspect over the WebSocket → client ' +
      'verifies it (verifyCommand, replay store) and signs a result → coordinator verifies the result ' +
      '(host key) and records it → HTTP answer. Sequential, one at a time, keep-alive fetch.',
    'hubSendMs: the AgentHub.send part of the same requests, timed inside the coordinator.',
    'The launchplane CLI has no command that sends lane.inspect per request (lane drain|restart|remove ' +
      '--dry-run only list the commands; a real drain polls lane.inspect but quarantines on GitHub and ' +
      'waits to settle). So the CLI is timed on `launchplane lanes --host <h> --json` (a fresh node process: ' +
      "CLI → GET /v1/lanes → observe, incl. the agents' inventories) next to the same GET over HTTP; " +
      'cliProcessOverheadP50Ms is the difference, and estimatedCliToAgentP50Ms adds it to httpToAgentMs.p50 ' +
      '(an estimate, not a measured path). cliVersionMs: `launchplane --version`, the bare process start.',
    "The coordinator's lane ledger is empty here (lanes are reported by the agents' inventories, " +
      'never created through apply), so GET /v1/lanes answers an empty list after a full observation. ' +
      'GitHub credentials are not configured in this coordinator, so GET /v1/lanes includes a GitHub ' +
      'listing that fails at once (LP_GITHUB_UNAVAILABLE) rather than a network call.',
  ];
  result.roundTrip = rt;

  // 4. Fan-out to every agent.
  log(`fan-out: ${FANOUTS} × lane.inspect to ${AGENTS} agents at once …`);
  const laneIds = Object.fromEntries(hosts.map((h) => [h.hostId, h.lanes[0].laneId]));
  const rounds = [];
  for (let i = 0; i < FANOUTS; i++) {
    const cpu0 = cpuMs(coord.pid);
    const t0 = performance.now();
    const r = await api('POST', '/v1/bench/fanout', { laneIds });
    const httpWallMs = performance.now() - t0;
    const cpu = cpuMs(coord.pid) - cpu0;
    const lat = summarize(r.latencies);
    rounds.push({
      results: r.latencies.length,
      notOk: r.notOk,
      errors: r.errors,
      wallMs: round(r.wallMs, 1),
      httpWallMs: round(httpWallMs, 1),
      perAgentMs: { p50: lat.p50, p90: lat.p90, p99: lat.p99, max: lat.max },
      coordinatorCpuMs: cpu,
    });
  }
  const walls = rounds.map((r) => r.wallMs).sort((a, b) => a - b);
  result.fanout = {
    agents: AGENTS,
    rounds,
    medianWallMs: walls[Math.floor(walls.length / 2)],
    medianPerAgentP50Ms: [...rounds.map((r) => r.perAgentMs.p50)].sort((a, b) => a - b)[
      Math.floor(rounds.length / 2)
    ],
    medianPerAgentP99Ms: [...rounds.map((r) => r.perAgentMs.p99)].sort((a, b) => a - b)[
      Math.floor(rounds.length / 2)
    ],
    notes:
      'One POST /v1/bench/fanout per round: the coordinator starts AgentHub.send(lane.inspect) for every ' +
      'connected host in the same tick (each: seq + command record in a SQLite transaction, Ed25519 ' +
      'signature, frame) and waits for all verified results. Per-agent latency runs from the start of ' +
      "the round to that agent's verified result (and its record update). wallMs: until the last one. " +
      'The store is SQLite in WAL mode with synchronous=FULL and serializes transactions, so every ' +
      'command costs two committed transactions in a row (record before sending, result after).',
  };
  result.memory.afterFanoutHwmKiB = procMemory(coord.pid).hwmKiB;

  const stats = await Promise.all(workers.map((w) => w.request({ op: 'stats' }, 'stats')));
  result.agents = {
    answered: stats.reduce((n, s) => n + s.answered, 0),
    refused: stats.reduce((n, s) => n + s.refused, 0),
    closedBySever: stats.reduce((n, s) => n + s.closed, 0),
    open: stats.reduce((n, s) => n + s.open, 0),
  };
  if (result.agents.refused > 0) throw new Error('agents refused commands that did not verify');

  for (const w of workers) w.child.send({ op: 'close' });
  coord.child.kill('SIGTERM');
  await new Promise((r) => coord.child.once('exit', r));
  result.finishedAt = new Date().toISOString();
  result.machine.loadAvgAtEnd = os.loadavg().map((l) => round(l, 2));
  return result;
}

function table(r) {
  const lines = [];
  for (const p of r.plan) {
    lines.push(
      `plan() ${String(p.hosts).padStart(6)} hosts × ${p.lanesPerHost}: p50 ${p.planMs.p50} ms  p90 ${p.planMs.p90} ms` +
        `   JSON ${p.jsonMs.p50} ms   parsePolicy ${p.policyParseMs} ms (${Math.round(p.planJsonBytes / 1024)} KiB, ${p.planSummary.creates + p.planSummary.removes + p.planSummary.restarts + p.planSummary.repairs} actions)`,
    );
  }
  const m = r.memory;
  lines.push(
    `RSS: empty ${m.emptyAtStart.rssKiB} KiB, fresh with ${r.options.agents} enrolled ${m.enrolledNotConnected.rssKiB} KiB, ` +
      `${m.connected.agents} connected ${m.connected.rssKiB} KiB → ${m.perConnectionKiB.rss} KiB/conn (heap ${m.perConnectionKiB.heapUsed})`,
  );
  const rt = r.roundTrip;
  lines.push(
    `lane.inspect HTTP→agent→HTTP: p50 ${rt.httpToAgentMs.p50} ms  p99 ${rt.httpToAgentMs.p99} ms  (hub.send p50 ${rt.hubSendMs.p50}, p99 ${rt.hubSendMs.p99})`,
    `CLI lanes: p50 ${rt.cliLanesMs.p50} ms p99 ${rt.cliLanesMs.p99} ms  vs HTTP p50 ${rt.httpLanesMs.p50} ms → CLI process ≈ ${rt.cliProcessOverheadP50Ms} ms; CLI→agent ≈ ${rt.estimatedCliToAgentP50Ms} ms`,
  );
  for (const [i, f] of r.fanout.rounds.entries()) {
    lines.push(
      `fan-out #${i + 1} to ${f.results}: wall ${f.wallMs} ms  per-agent p50 ${f.perAgentMs.p50} p99 ${f.perAgentMs.p99} ms  cpu ${f.coordinatorCpuMs} ms`,
    );
  }
  return lines.join('\n');
}

try {
  const r = await main();
  process.stdout.write(`${JSON.stringify(r, null, 2)}\n`);
  writeResult('coordinator', r, !args['no-write']);
  log(table(r));
} catch (err) {
  log(`bench failed: ${err?.stack ?? err}`);
  process.exitCode = 1;
} finally {
  cleanup();
}
