import {
  chmodSync,
  existsSync,
  mkdtempSync,
  rmSync,
  statSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterEach, describe, expect, it } from 'vitest';
import type { HostRecord, JobRecord, LaneRecord } from '../../ports/store.js';
import { MIGRATIONS, SCHEMA_VERSION, migrate } from './migrations.js';
import { unitOfWorkContract } from '../store-contract.test-helper.js';
import { SqliteCoordinatorStore } from './sqlite-store.js';

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});
function tempDb(): string {
  const d = mkdtempSync(join(tmpdir(), 'lp-store-'));
  dirs.push(d);
  return join(d, 'coordinator.db');
}

const HOST: HostRecord = {
  hostId: 'host-a',
  publicKey: { kty: 'OKP', crv: 'Ed25519', x: 'A'.repeat(43) },
  fingerprint: 'SHA256:abc',
  enrolledAt: 100,
  revokedAt: undefined,
  lastSeenAt: undefined,
  agentVersion: undefined,
  optIn: undefined,
  capabilities: [],
};

const LANE: LaneRecord = {
  laneId: '01jd0000000000000000000000',
  hostId: 'host-a',
  pool: 'build',
  purpose: 'pool',
  scope: { repository: 'acme/api' },
  backend: 'systemd',
  ephemeral: false,
  runnerName: 'lp-host-a-build-00000000',
  runnerId: undefined,
  labels: ['launchplane'],
  state: 'pending',
  recovery: undefined,
  lastError: undefined,
  createdAt: 1,
  updatedAt: 1,
};

describe('migrations', () => {
  it('bring an empty database to the current version once, and are idempotent', () => {
    const db = new Database(':memory:');
    expect(migrate(db)).toEqual({ from: 0, to: SCHEMA_VERSION });
    expect(migrate(db)).toEqual({ from: SCHEMA_VERSION, to: SCHEMA_VERSION });
    expect(SCHEMA_VERSION).toBe(MIGRATIONS.length);
    db.close();
  });

  it('2: lanes of a version-1 database become pool lanes; only pool and smoke are purposes', async () => {
    const path = tempDb();
    const db = new Database(path);
    db.exec(MIGRATIONS[0] ?? '');
    db.pragma('user_version = 1');
    const { purpose: _purpose, ...v1 } = LANE;
    db.prepare(
      'INSERT INTO lanes (lane_id, host_id, pool, state, record) VALUES (?, ?, ?, ?, ?)',
    ).run(LANE.laneId, LANE.hostId, LANE.pool, LANE.state, JSON.stringify(v1));
    expect(migrate(db)).toEqual({ from: 1, to: SCHEMA_VERSION });
    expect(() =>
      db
        .prepare(
          "INSERT INTO lanes (lane_id, host_id, pool, state, purpose, record) VALUES ('x', 'h', 'p', 'online', 'other', '{}')",
        )
        .run(),
    ).toThrow(/CHECK/);
    db.close();
    const s = SqliteCoordinatorStore.open(path);
    expect(await s.getLane(LANE.laneId)).toEqual(LANE);
    const smoke: LaneRecord = {
      ...LANE,
      laneId: '01jd0000000000000000000001',
      pool: 'lp-smoke',
      purpose: 'smoke',
    };
    await s.putLane(smoke);
    expect((await s.listLanes({ purpose: 'smoke' })).map((l) => l.laneId)).toEqual([smoke.laneId]);
    expect((await s.listLanes({ purpose: 'pool' })).map((l) => l.laneId)).toEqual([LANE.laneId]);
    await s.close();
  });

  it('3: a version-2 database gains an empty job store', async () => {
    const path = tempDb();
    const db = new Database(path);
    db.exec(MIGRATIONS[0] ?? '');
    db.exec(MIGRATIONS[1] ?? '');
    db.pragma('user_version = 2');
    db.close();
    const s = SqliteCoordinatorStore.open(path);
    expect(s.schemaVersion()).toBe(SCHEMA_VERSION);
    expect(await s.listJobs()).toEqual([]);
    expect(await s.recordDelivery('d-1', 5)).toBe(true);
    await s.close();
  });

  it('refuse a database from a newer coordinator', () => {
    const db = new Database(':memory:');
    db.pragma(`user_version = ${SCHEMA_VERSION + 1}`);
    expect(() => migrate(db)).toThrow(expect.objectContaining({ code: 'LP_CONFIG_INVALID' }));
    db.close();
  });
});

describe('SqliteCoordinatorStore', () => {
  it('uses WAL on a file and keeps data across reopen', async () => {
    const path = tempDb();
    const a = SqliteCoordinatorStore.open(path);
    await a.setMeta('coordinatorId', 'ctl-1');
    await a.close();
    const b = SqliteCoordinatorStore.open(path);
    expect(await b.getMeta('coordinatorId')).toBe('ctl-1');
    expect(b.schemaVersion()).toBe(SCHEMA_VERSION);
    await b.close();
    const raw = new Database(path);
    expect(raw.pragma('journal_mode', { simple: true })).toBe('wal');
    raw.close();
  });

  it('meta: get, set, overwrite', async () => {
    const s = SqliteCoordinatorStore.open(':memory:');
    expect(await s.getMeta('k')).toBeUndefined();
    await s.setMeta('k', 'v1');
    await s.setMeta('k', 'v2');
    expect(await s.getMeta('k')).toBe('v2');
    await s.close();
  });

  it('hosts round-trip with optional fields and update in place', async () => {
    const s = SqliteCoordinatorStore.open(':memory:');
    await s.putHost(HOST);
    expect(await s.getHost('host-a')).toEqual(HOST);
    const updated: HostRecord = {
      ...HOST,
      lastSeenAt: 200,
      agentVersion: '0.1.0',
      optIn: {
        repositories: ['acme/api'],
        organizations: [],
        backends: ['systemd'],
        maxLanes: 2,
      },
      capabilities: ['gpu'],
      revokedAt: 300,
    };
    await s.putHost(updated);
    expect(await s.getHost('host-a')).toEqual(updated);
    await s.putHost({ ...HOST, hostId: 'host-0' });
    expect((await s.listHosts()).map((h) => h.hostId)).toEqual(['host-0', 'host-a']);
    expect(await s.getHost('nope')).toBeUndefined();
    await s.close();
  });

  it('operator and enrollment tokens round-trip', async () => {
    const s = SqliteCoordinatorStore.open(':memory:');
    const tok = {
      id: 'abc',
      name: 'ci',
      role: 'operator' as const,
      hash: 'h',
      createdAt: 1,
      revokedAt: undefined,
    };
    await s.putOperatorToken(tok);
    expect(await s.getOperatorToken('abc')).toEqual(tok);
    await s.putOperatorToken({ ...tok, revokedAt: 5 });
    expect((await s.listOperatorTokens())[0]?.revokedAt).toBe(5);
    const et = {
      id: 'e1',
      hostId: 'host-a',
      hash: 'h2',
      createdAt: 1,
      expiresAt: 901,
      usedAt: undefined,
      createdBy: 'abc',
    };
    await s.putEnrollmentToken(et);
    expect(await s.getEnrollmentToken('e1')).toEqual(et);
    await s.putEnrollmentToken({ ...et, usedAt: 10 });
    expect((await s.getEnrollmentToken('e1'))?.usedAt).toBe(10);
    expect(await s.getEnrollmentToken('e2')).toBeUndefined();
    await s.close();
  });

  it('policy versions are numbered from 1 and the newest is current', async () => {
    const s = SqliteCoordinatorStore.open(':memory:');
    expect(await s.currentPolicy()).toBeUndefined();
    const v1 = await s.addPolicyVersion({
      digest: 'sha256:1',
      text: 'a',
      createdAt: 1,
      actor: 'x',
    });
    const v2 = await s.addPolicyVersion({
      digest: 'sha256:2',
      text: 'b',
      createdAt: 2,
      actor: 'x',
    });
    expect([v1.version, v2.version]).toEqual([1, 2]);
    expect(await s.currentPolicy()).toEqual(v2);
    await s.close();
  });

  it('lanes: filters by host and pool, hides removed lanes unless asked', async () => {
    const s = SqliteCoordinatorStore.open(':memory:');
    await s.putLane(LANE);
    await s.putLane({ ...LANE, laneId: '01jd0000000000000000000001', pool: 'test', runnerId: 7 });
    await s.putLane({
      ...LANE,
      laneId: '01jd0000000000000000000002',
      hostId: 'host-b',
      state: 'removed',
    });
    expect(await s.getLane(LANE.laneId)).toEqual(LANE);
    expect((await s.getLane('01jd0000000000000000000001'))?.runnerId).toBe(7);
    expect(await s.listLanes()).toHaveLength(2);
    expect(await s.listLanes({ includeRemoved: true })).toHaveLength(3);
    expect(await s.listLanes({ pool: 'test' })).toHaveLength(1);
    expect(await s.listLanes({ hostId: 'host-b' })).toHaveLength(0);
    expect(await s.listLanes({ hostId: 'host-b', includeRemoved: true })).toHaveLength(1);
    await s.close();
  });

  it('command seq increases per host and survives reopen; commands round-trip', async () => {
    const path = tempDb();
    const s = SqliteCoordinatorStore.open(path);
    expect(await s.nextCommandSeq('host-a')).toBe(1);
    expect(await s.nextCommandSeq('host-a')).toBe(2);
    expect(await s.nextCommandSeq('host-b')).toBe(1);
    const cmd = {
      jti: '00000000-0000-4000-8000-000000000000',
      hostId: 'host-a',
      seq: 2,
      type: 'lane.inspect',
      laneId: LANE.laneId,
      dryRun: false,
      actor: 'tok1',
      sentAt: 1,
      expiresAt: 121,
      result: undefined,
      completedAt: undefined,
    };
    await s.putCommand(cmd);
    expect(await s.getCommand(cmd.jti)).toEqual(cmd);
    const result = { iss: 'host-a', jti: cmd.jti, ok: true, dryRun: false, outcome: 'inspected' };
    await s.putCommand({ ...cmd, result, completedAt: 3 });
    expect((await s.getCommand(cmd.jti))?.result).toEqual(result);
    await s.close();
    const again = SqliteCoordinatorStore.open(path);
    expect(await again.nextCommandSeq('host-a')).toBe(3);
    await again.close();
  });

  it('putAgentEvent stores an event once per host and seq', async () => {
    const s = SqliteCoordinatorStore.open(':memory:');
    expect(await s.putAgentEvent('host-a', 1, { a: 1 }, 10)).toBe(true);
    expect(await s.putAgentEvent('host-a', 1, { a: 2 }, 11)).toBe(false);
    expect(await s.putAgentEvent('host-b', 1, { a: 1 }, 10)).toBe(true);
    await s.close();
  });

  it('audit: numbered, filtered by host, lane, since and afterSeq, latest page by default', async () => {
    const s = SqliteCoordinatorStore.open(':memory:', { auditPageSize: 3 });
    for (let i = 1; i <= 5; i++) {
      const r = await s.appendAudit({
        at: 100 + i,
        actor: 'tok',
        ...(i % 2 === 0 ? { hostId: 'host-a' } : {}),
        ...(i === 5 ? { laneId: LANE.laneId } : {}),
        action: `a${i}`,
        params: {},
        dryRun: false,
        outcome: 'ok',
      });
      expect(r.seq).toBe(i);
    }
    expect((await s.listAudit({})).map((r) => r.seq)).toEqual([3, 4, 5]);
    expect((await s.listAudit({ limit: 10 })).map((r) => r.seq)).toEqual([1, 2, 3, 4, 5]);
    expect((await s.listAudit({ afterSeq: 1, limit: 2 })).map((r) => r.seq)).toEqual([2, 3]);
    expect((await s.listAudit({ hostId: 'host-a' })).map((r) => r.seq)).toEqual([2, 4]);
    expect((await s.listAudit({ laneId: LANE.laneId })).map((r) => r.action)).toEqual(['a5']);
    expect((await s.listAudit({ since: 104, limit: 10 })).map((r) => r.seq)).toEqual([4, 5]);
    await s.close();
  });

  it('updateAudit rewrites one record in place, keeping its seq', async () => {
    const s = SqliteCoordinatorStore.open(':memory:');
    const base = {
      actor: 'anonymous',
      action: 'auth.refused',
      dryRun: false,
      outcome: 'refused' as const,
    };
    const first = await s.appendAudit({ ...base, at: 60, params: { count: 1 } });
    await s.appendAudit({ ...base, at: 61, action: 'other', params: {} });
    await s.updateAudit(first.seq, { ...base, at: 60, params: { count: 7 } });
    const rows = await s.listAudit({ limit: 10 });
    expect(rows.map((r) => [r.seq, r.action, r.params])).toEqual([
      [1, 'auth.refused', { count: 7 }],
      [2, 'other', {}],
    ]);
    await s.close();
  });

  it('jobs: round-trip, lowercase repositories, filter by status, scope and time', async () => {
    const s = SqliteCoordinatorStore.open(':memory:');
    const job = (id: number, over: Partial<JobRecord> = {}): JobRecord => ({
      id,
      runId: id * 10,
      repository: 'acme/api',
      labels: ['lp-pool-build', 'GPU'],
      status: 'queued',
      queuedAt: 100 + id,
      seenAt: 200,
      source: 'webhook',
      ...over,
    });
    await s.putJob(job(1, { repository: 'Acme/API' }));
    await s.putJob(job(2, { repository: 'acme/web', status: 'in_progress', startedAt: 150 }));
    await s.putJob(job(3, { status: 'completed', startedAt: 120, completedAt: 300 }));
    await s.putJob(job(4, { repository: 'other/api', status: 'completed', completedAt: 900 }));
    expect(await s.getJob(1)).toEqual(job(1));
    expect(await s.getJob(99)).toBeUndefined();
    const ids = async (q: Parameters<typeof s.listJobs>[0]) =>
      (await s.listJobs(q)).map((j) => j.id);
    expect(await ids({})).toEqual([1, 2, 3, 4]);
    expect(await ids({ statuses: ['queued', 'in_progress'] })).toEqual([1, 2]);
    expect(await ids({ statuses: [] })).toEqual([]);
    expect(await ids({ repositories: ['ACME/api'] })).toEqual([1, 3]);
    expect(await ids({ owners: ['acme'] })).toEqual([1, 2, 3]);
    expect(await ids({ repositories: ['other/api'], owners: ['acme'] })).toEqual([1, 2, 3, 4]);
    expect(await ids({ repositories: [], owners: [] })).toEqual([]);
    expect(await ids({ completedSince: 500 })).toEqual([1, 2, 4]);
    expect(await ids({ startedSince: 130 })).toEqual([2]);
    expect(await ids({ limit: 2 })).toEqual([1, 2]);
    // A queued job's started_at is GitHub's queue time, never a start.
    await s.putJob(job(5, { startedAt: 400 }));
    expect(await ids({ startedSince: 130 })).toEqual([2]);
    await s.putJob({ ...job(1), status: 'in_progress', startedAt: 160, seenAt: 210 });
    expect((await s.getJob(1))?.status).toBe('in_progress');
    await s.close();
  });

  it('jobs: a delivery id is taken once; retention prunes old completed jobs, silent jobs and old delivery ids', async () => {
    const s = SqliteCoordinatorStore.open(':memory:');
    expect(await s.recordDelivery('72d3162e-cc78-11e3-81ab-4c9367dc0958', 100)).toBe(true);
    expect(await s.recordDelivery('72d3162e-cc78-11e3-81ab-4c9367dc0958', 101)).toBe(false);
    expect(await s.recordDelivery('other', 500)).toBe(true);
    const base = {
      runId: 1,
      repository: 'acme/api',
      labels: ['x'],
      queuedAt: 1,
      source: 'poll' as const,
    };
    await s.putJob({ ...base, id: 1, status: 'completed', completedAt: 100, seenAt: 1000 });
    await s.putJob({ ...base, id: 2, status: 'completed', completedAt: 600, seenAt: 1000 });
    await s.putJob({ ...base, id: 3, status: 'queued', seenAt: 50 });
    await s.putJob({ ...base, id: 4, status: 'in_progress', startedAt: 2, seenAt: 1000 });
    expect(
      await s.pruneJobs({ completedBefore: 500, seenBefore: 60, deliveriesBefore: 200 }),
    ).toEqual({ jobs: 2, deliveries: 1 });
    expect((await s.listJobs()).map((j) => j.id)).toEqual([2, 4]);
    expect(await s.recordDelivery('72d3162e-cc78-11e3-81ab-4c9367dc0958', 600)).toBe(true);
    expect(await s.recordDelivery('other', 600)).toBe(false);
    await s.close();
  });

  it('the database and its -wal and -shm files are 0600 whatever the umask', async () => {
    const path = tempDb();
    const old = process.umask(0);
    try {
      const s = SqliteCoordinatorStore.open(path);
      await s.setMeta('k', 'v');
      for (const file of [path, `${path}-wal`, `${path}-shm`]) {
        expect((statSync(file).mode & 0o777).toString(8), file).toBe('600');
      }
      await s.close();
      // Files left world-readable (an older version, a copy) are closed on the next open.
      for (const file of [path, `${path}-wal`, `${path}-shm`]) {
        if (existsSync(file)) chmodSync(file, 0o644);
      }
      const again = SqliteCoordinatorStore.open(path);
      await again.setMeta('k', 'w');
      for (const file of [path, `${path}-wal`, `${path}-shm`]) {
        expect((statSync(file).mode & 0o777).toString(8), file).toBe('600');
      }
      await again.close();
    } finally {
      process.umask(old);
    }
  });

  it('refuses a database path that is a symlink', () => {
    const path = tempDb();
    writeFileSync(`${path}.real`, '');
    symlinkSync(`${path}.real`, path);
    expect(() => SqliteCoordinatorStore.open(path)).toThrow(/ELOOP/);
  });

  it('refuses calls after close', async () => {
    const s = SqliteCoordinatorStore.open(':memory:');
    await s.close();
    await expect(s.getMeta('a')).rejects.toThrow('closed');
  });
});

describe('SqliteCoordinatorStore unit of work', () => {
  unitOfWorkContract(() => SqliteCoordinatorStore.open(':memory:'), { oneConnection: true });

  it('rolls back and frees the connection when BEGIN or the function fails', async () => {
    const path = tempDb();
    const s = SqliteCoordinatorStore.open(path, { busyTimeoutMs: 0 });
    // Another process holds SQLite's write lock: BEGIN IMMEDIATE fails at once.
    const other = new Database(path);
    other.exec('BEGIN IMMEDIATE');
    await expect(s.transaction(() => Promise.resolve('never'))).rejects.toThrow(/locked|busy/i);
    other.exec('ROLLBACK');
    other.close();
    await expect(
      s.transaction(async (tx) => {
        await tx.putAgentEvent('host-a', 1, {}, 1);
        // A constraint violation inside the transaction.
        await tx.addPolicyVersion({ digest: 'd', text: 't', createdAt: 1, actor: null as never });
      }),
    ).rejects.toThrow(/NOT NULL/);
    expect(await s.putAgentEvent('host-a', 1, {}, 1)).toBe(true);
    expect(await s.transaction(async (tx) => tx.getMeta('none'))).toBeUndefined();
    await s.close();
  });

  it('prunes jobs and delivery ids together, on its own or inside a transaction', async () => {
    const s = SqliteCoordinatorStore.open(':memory:');
    const everything = { completedBefore: 100, seenBefore: 100, deliveriesBefore: 100 };
    const fill = async () => {
      await s.putJob({
        id: 1,
        runId: 1,
        repository: 'acme/api',
        status: 'queued',
        labels: ['linux'],
        queuedAt: 1,
        seenAt: 1,
        source: 'poll',
      });
      await s.recordDelivery('d-1', 1);
    };
    await fill();
    await expect(
      s.transaction(async (tx) => {
        expect(await tx.pruneJobs(everything)).toEqual({ jobs: 1, deliveries: 1 });
        throw new Error('boom');
      }),
    ).rejects.toThrow('boom');
    expect((await s.listJobs()).length).toBe(1);
    expect(await s.pruneJobs(everything)).toEqual({ jobs: 1, deliveries: 1 });
    await fill();
    await s.transaction(async (tx) => {
      await tx.pruneJobs(everything);
    });
    expect([await s.listJobs(), await s.recordDelivery('d-1', 2)]).toEqual([[], true]);
    await s.close();
  });

  it('prepares each list query once per SQL text, however long its lists and limits', async () => {
    const s = SqliteCoordinatorStore.open(':memory:');
    const shapes = async (n: number) => {
      const names = Array.from({ length: n }, (_, i) => `acme/svc-${i}`);
      await s.listJobs({ statuses: ['queued'], repositories: names, limit: n });
      await s.listJobs({ owners: names, completedSince: n, limit: n });
      await s.listJobs({ repositories: names, owners: names, startedSince: n });
      await s.listAudit({ hostId: 'h', limit: n });
      await s.listAudit({ laneId: 'l', afterSeq: n, limit: n });
      await s.listLanes({ hostId: `h${n}`, purpose: 'pool' });
      await s.listLanes({ pool: `p${n}`, includeRemoved: true });
    };
    await shapes(1);
    const prepared = s.builtStatementCount();
    expect(prepared).toBe(7);
    for (let n = 2; n <= 40; n++) await shapes(n);
    expect(s.builtStatementCount()).toBe(prepared);
    await s.close();
  });
});
