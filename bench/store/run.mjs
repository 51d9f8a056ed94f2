// The coordinator store's cost per call: `putLane`, `getLane`, `listLanes` (a filtered list, the
// dynamic-SQL path), `listJobs` with a repository list, and a three-statement `transaction`, on
// SQLite in memory (the statement cost alone) and on a file (WAL, synchronous=FULL: a write
// waits for its fsync). One JSON document on stdout, a table on stderr.
//
//   npm run build && node bench/store/run.mjs [--ops 20000] [--file-ops 2000] [--data-parent DIR]
//
// `--store <file>` measures another build's `sqlite-store.js` instead (its path, e.g. a copy of an
// older `dist/adapters/sqlite/sqlite-store.js` kept under the repository's `.tmp/`), so that two
// versions can be run one after the other on the same machine.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { performance } from 'node:perf_hooks';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { round } from '../coordinator/stats.mjs';
import { writeResult } from '../results.mjs';

const { values } = parseArgs({
  options: {
    ops: { type: 'string', default: '20000' },
    'file-ops': { type: 'string', default: '2000' },
    'data-parent': { type: 'string', default: tmpdir() },
    store: { type: 'string' },
    'no-write': { type: 'boolean', default: false },
  },
});
const { SqliteCoordinatorStore } = await import(
  values.store === undefined
    ? '@launchplane/coordinator'
    : pathToFileURL(resolve(values.store)).href
);

function lane(i) {
  return {
    laneId: `01hz${String(i).padStart(22, '0')}`,
    hostId: `host-${String(i % 50).padStart(3, '0')}`,
    pool: `pool-${i % 10}`,
    purpose: 'pool',
    scope: { repository: 'acme/api' },
    backend: 'systemd',
    ephemeral: false,
    runnerName: `lp-host-${i}`,
    runnerId: undefined,
    labels: ['launchplane', 'linux'],
    state: 'online',
    recovery: undefined,
    lastError: undefined,
    createdAt: 1,
    updatedAt: i,
  };
}

function job(i) {
  return {
    id: i,
    runId: i,
    repository: `acme/svc-${i % 20}`,
    status: 'queued',
    labels: ['linux'],
    queuedAt: i,
    seenAt: i,
    source: 'poll',
  };
}

/**
 * Calls per second of `fn(i)` over `n` sequential awaited calls, after a warm-up of n/10, and the
 * process's CPU time per call (steadier than wall time on a machine other work shares).
 */
async function rate(n, fn) {
  for (let i = 0; i < Math.ceil(n / 10); i++) await fn(i);
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  for (let i = 0; i < n; i++) await fn(i);
  const ms = performance.now() - t0;
  const cpu = process.cpuUsage(cpu0);
  return {
    ops: n,
    perSec: Math.round((n * 1000) / ms),
    usPerOp: round((ms * 1000) / n, 2),
    cpuUsPerOp: round((cpu.user + cpu.system) / n, 2),
  };
}

async function suite(path, n) {
  const store = SqliteCoordinatorStore.open(path);
  try {
    for (let i = 0; i < 500; i++) await store.putLane(lane(i));
    for (let i = 0; i < 500; i++) await store.putJob(job(i));
    const repos = ['acme/svc-1', 'acme/svc-2', 'acme/svc-3'];
    return {
      putLane: await rate(n, (i) => store.putLane(lane(i % 500))),
      getLane: await rate(n, (i) => store.getLane(lane(i % 500).laneId)),
      listLanesByHost: await rate(Math.ceil(n / 10), (i) =>
        store.listLanes({ hostId: lane(i).hostId }),
      ),
      listJobsByRepo: await rate(Math.ceil(n / 10), () =>
        store.listJobs({ statuses: ['queued'], repositories: repos, limit: 50 }),
      ),
      transaction3: await rate(n, (i) =>
        store.transaction(async (tx) => {
          const l = await tx.getLane(lane(i % 500).laneId);
          await tx.putLane({ ...l, updatedAt: i });
          await tx.setMeta('bench', String(i));
        }),
      ),
    };
  } finally {
    await store.close();
  }
}

const dir = mkdtempSync(join(values['data-parent'], 'lp-store-bench-'));
try {
  const result = {
    node: process.version,
    memory: await suite(':memory:', Number(values.ops)),
    file: await suite(join(dir, 'coordinator.db'), Number(values['file-ops'])),
  };
  console.log(JSON.stringify(result, null, 2));
  writeResult(values.store === undefined ? 'store' : 'store-other', result, !values['no-write']);
  for (const where of ['memory', 'file']) {
    for (const [name, r] of Object.entries(result[where])) {
      console.error(
        `${where.padEnd(7)} ${name.padEnd(16)} ${String(r.perSec).padStart(9)}/s ${String(r.usPerOp).padStart(9)} µs ${String(r.cpuUsPerOp).padStart(9)} µs CPU`,
      );
    }
  }
} finally {
  rmSync(dir, { recursive: true, force: true });
}
