// The planner part of the coordinator bench: `plan()` over synthetic but consistent inputs of
// N hosts × 10 pools (one lane per host per pool by default), timed after a warm-up, next to the
// JSON serialization of the plan it returns.
//
// The input is what the observer hands the planner on a large fleet: a policy that validates
// (allowlists, 10 pools over 8 repositories and 2 organizations, 2 pools ephemeral, 3 Docker),
// host records with inventories (every lane reported, with its local busy signal), the lane
// ledger, and GitHub's runners per scope, unmanaged ones included. A few percent of it is
// perturbed in fixed, index-derived ways so each kind of plan entry occurs: missing lanes
// (creates), excess lanes and completed ephemeral lanes (removes), unhealthy lanes and runners
// offline too long (restarts), drifted labels (repairs), hosts not enrolled, offline, not opted in
// or short of capacity (blocked), foreign runners (unmanaged).
import { performance } from 'node:perf_hooks';
import { plan } from '@launchplane/coordinator';
import { laneLabels, parsePolicy, runnerName } from '@launchplane/shared';
import { stringify } from 'yaml';
import { round, summarize } from './stats.mjs';

const COORDINATOR_ID = '5f3a9c01d2e4b6a8';
const NOW = 1_764_370_000;
const POOLS = 10;

/** A valid lowercase ULID, unique per (host, pool, k). */
function laneIdOf(n) {
  return `01hz${String(n).padStart(22, '0')}`;
}

function hostIdOf(h) {
  return `host-${String(h).padStart(5, '0')}`;
}

function poolDef(p) {
  const org = p >= 8;
  const docker = p % 3 === 2;
  return {
    ...(org ? { organization: `acme-${p}` } : { repository: `acme/svc-${p}` }),
    labels: p % 2 === 0 ? ['linux', 'x64'] : ['linux', 'large'],
    backend: docker ? 'docker' : 'systemd',
    ...(docker ? { docker: { image: `ghcr.io/acme/runner:2.${p}` } } : {}),
    ephemeral: p % 5 === 4,
    runnerGroupId: 1,
    lanes: {},
  };
}

/** Builds a consistent planner input for `hostCount` hosts with `lanesPerHost` lanes each. */
export function buildPlanInput(hostCount, lanesPerHost = 10) {
  const perPool = Math.max(1, Math.round(lanesPerHost / POOLS));
  const pools = {};
  const hostIds = Array.from({ length: hostCount }, (_, h) => hostIdOf(h));
  for (let p = 0; p < POOLS; p++) {
    const pool = poolDef(p);
    for (const hostId of hostIds) pool.lanes[hostId] = perPool;
    pools[`pool-${p}`] = pool;
  }
  const policyDoc = {
    version: 1,
    allowedHosts: hostIds,
    allowedRepositories: Array.from({ length: 8 }, (_, p) => `acme/svc-${p}`),
    allowedOrganizations: ['acme-8', 'acme-9'],
    pools,
  };
  // Through the real parser, from the block YAML an operator writes, so the planner gets exactly
  // what a stored policy yields. Timed: the observer parses the stored policy text on every
  // observation (plan, apply, lanes, each reconcile tick), so this cost comes with every plan.
  const policyText = stringify(policyDoc);
  const p0 = performance.now();
  const parsed = parsePolicy(policyText);
  const policyParseMs = performance.now() - p0;
  if (!parsed.ok) throw new Error(`synthetic policy does not validate: ${JSON.stringify(parsed)}`);
  const policy = parsed.value;

  const scopes = new Map();
  for (let p = 0; p < POOLS; p++) {
    const d = poolDef(p);
    const scope = d.repository ? { repository: d.repository } : { organization: d.organization };
    scopes.set(`pool-${p}`, { scope, runners: [] });
  }

  const hosts = [];
  const lanes = [];
  const offlineSince = {};
  let laneSeq = 0;
  let runnerSeq = 100_000;
  for (let h = 0; h < hostCount; h++) {
    const hostId = hostIds[h];
    const mod = h % 100;
    if (mod === 7) continue; // named by the policy, never enrolled: blocked
    const connected = mod !== 13; // offline: its lanes are kept, nothing is planned on them
    const notOptedIn = mod === 21 ? new Set([0, 1]) : new Set();
    const maxLanes = mod === 33 ? lanesPerHost - 2 : lanesPerHost + 2;
    const optRepos = [];
    for (let p = 0; p < 8; p++) if (!notOptedIn.has(p)) optRepos.push(`acme/svc-${p}`);
    const reports = [];
    let held = 0;
    for (let p = 0; p < POOLS; p++) {
      if (notOptedIn.has(p)) continue;
      const poolName = `pool-${p}`;
      const d = poolDef(p);
      let count = perPool;
      if (h % 50 === 3 && p === h % POOLS) count -= 1; // a missing lane: create
      if (mod === 55 && p === 0) count += 1; // one too many: remove
      for (let k = 0; k < count; k++) {
        if (held >= maxLanes) break;
        held++;
        const n = laneSeq++;
        const laneId = laneIdOf(n);
        const i = h * POOLS + p;
        let state = 'online';
        if (d.ephemeral && i % 173 === 9) state = 'completed';
        const busy = i % 4 === 0;
        if (busy && state === 'online') state = 'busy';
        const record = {
          laneId,
          hostId,
          pool: poolName,
          scope: scopes.get(poolName).scope,
          backend: d.backend,
          ephemeral: d.ephemeral,
          runnerName: runnerName(hostId, poolName, laneId),
          runnerId: runnerSeq++,
          labels: laneLabels({
            coordinatorId: COORDINATOR_ID,
            laneId,
            pool: poolName,
            poolLabels: d.labels,
          }),
          state,
          recovery: undefined,
          lastError: undefined,
          createdAt: NOW - 86_400 + (n % 3600),
          updatedAt: NOW - 600 + (n % 600),
        };
        lanes.push(record);
        reports.push({
          laneId,
          name: record.runnerName,
          pool: poolName,
          scope: record.scope,
          backend: record.backend,
          ephemeral: record.ephemeral,
          state: i % 211 === 5 ? 'unhealthy' : state,
          runnerId: record.runnerId,
          labels: record.labels,
          backendState: d.backend === 'docker' ? 'running' : 'active/running',
          local: {
            busy,
            jobRunning: busy,
            workerProcess: busy,
            lastJobStartedAt: NOW - 900,
            lastJobCompletedAt: NOW - 1200,
            jobsCompleted: n % 40,
          },
          restarts: 0,
          lastHealthAt: NOW - 10,
          createdAt: record.createdAt,
          updatedAt: record.updatedAt,
        });
        const offline = i % 307 === 11;
        if (offline) offlineSince[String(record.runnerId)] = NOW - 3600;
        const drifted = i % 97 === 0;
        scopes.get(poolName).runners.push({
          id: record.runnerId,
          name: record.runnerName,
          os: 'Linux',
          status: offline ? 'offline' : 'online',
          busy,
          labels: [
            'self-hosted',
            'Linux',
            'X64',
            ...(drifted ? [...record.labels.slice(0, -1), 'gpu'] : record.labels),
          ],
        });
      }
    }
    hosts.push({
      hostId,
      enrolled: true,
      revoked: false,
      connected,
      optIn: {
        repositories: optRepos,
        organizations: ['acme-8', 'acme-9'],
        backends: ['systemd', 'docker'],
        maxLanes,
      },
      capabilities: ['docker', 'kvm'],
      lanes: connected ? reports : [],
    });
  }
  // Runners nobody here registered: a few per scope, some with look-alike names.
  for (const [poolName, o] of scopes) {
    const foreign = Math.max(2, Math.round(hostCount / 50));
    for (let k = 0; k < foreign; k++) {
      o.runners.push({
        id: runnerSeq++,
        name: k % 3 === 0 ? `lp-${hostIdOf(k)}-${poolName}-zzzzzzzz` : `ci-box-${k}`,
        os: 'Linux',
        status: k % 2 === 0 ? 'online' : 'offline',
        busy: false,
        labels: ['self-hosted', 'Linux', 'X64', 'legacy'],
      });
    }
  }
  return {
    policyParse: { ms: policyParseMs, bytes: policyText.length },
    policy,
    policyDigest: 'sha256:' + 'ab'.repeat(32),
    coordinatorId: COORDINATOR_ID,
    hosts,
    lanes,
    github: [...scopes.values()],
    offlineSince,
    now: NOW,
  };
}

/** Times plan() and JSON.stringify(plan) for one size; returns the figures. */
export function benchPlan({ hosts, lanesPerHost, warmup, runs }) {
  const t0 = performance.now();
  const { policyParse, ...input } = buildPlanInput(hosts, lanesPerHost);
  const buildMs = performance.now() - t0;
  let last;
  for (let i = 0; i < warmup; i++) last = plan(input);
  const planMs = [];
  const jsonMs = [];
  let bytes = 0;
  for (let i = 0; i < runs; i++) {
    const a = performance.now();
    last = plan(input);
    const b = performance.now();
    const json = JSON.stringify(last);
    const c = performance.now();
    planMs.push(b - a);
    jsonMs.push(c - b);
    bytes = json.length;
  }
  const runners = input.github.reduce((n, o) => n + o.runners.length, 0);
  return {
    hosts,
    lanesPerHost,
    input: {
      enrolledHosts: input.hosts.length,
      laneRecords: input.lanes.length,
      githubRunners: runners,
      buildMs: round(buildMs, 1),
    },
    // One run: parsePolicy of the policy as block YAML (what observe() does per observation).
    policyParseMs: round(policyParse.ms, 1),
    policyYamlBytes: policyParse.bytes,
    planSummary: last.summary,
    degraded: last.degraded.length,
    runs,
    warmup,
    planMs: summarize(planMs),
    jsonMs: summarize(jsonMs),
    planJsonBytes: bytes,
  };
}
