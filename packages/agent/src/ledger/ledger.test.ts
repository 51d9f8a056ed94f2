import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { LaunchplaneError, type AuditRecord } from '@launchplane/shared';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { Ledger } from './ledger.js';
import { MIGRATIONS } from './migrations.js';
import type { LaneRecord } from './lane-record.js';

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'lp-ledger-'));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

function lane(id: string, state: LaneRecord['state'] = 'pending'): LaneRecord {
  return {
    laneId: id,
    name: 'lp-host-a-build-00000000',
    pool: 'build',
    scope: { repository: 'acme/api' },
    backend: 'systemd',
    ephemeral: true,
    state,
    runnerId: 7,
    labels: ['launchplane'],
    backendState: undefined,
    restarts: 0,
    lastHealthAt: undefined,
    recovery: undefined,
    createdAt: 1,
    updatedAt: 1,
    laneDir: `/data/lanes/${id}`,
    objectName: `launchplane-lane-${id}.service`,
    docker: undefined,
    failures: [3, 4],
    nextRestartAtMs: 5000,
  };
}

const ID = '01jdx0000000000000000000aa';

describe('Ledger', () => {
  it('migrates an empty database to the latest version, WAL and synchronous=FULL', () => {
    const l = Ledger.open(join(dir, 'ledger.db'));
    expect(l.schemaVersion()).toBe(MIGRATIONS.length);
    expect(l.db.pragma('journal_mode', { simple: true })).toBe('wal');
    expect(l.db.pragma('synchronous', { simple: true })).toBe(2);
    l.close();
  });

  it('reopens idempotently, keeping data, and applies only new migrations', () => {
    const path = join(dir, 'ledger.db');
    const a = Ledger.open(path);
    a.lanes.insert(lane(ID));
    a.close();
    const b = Ledger.open(path);
    expect(b.schemaVersion()).toBe(MIGRATIONS.length);
    expect(b.lanes.get(ID)).toEqual(lane(ID));
    b.close();
    const extra = [
      ...MIGRATIONS,
      {
        version: MIGRATIONS.length + 1,
        name: 'test-extra',
        sql: 'CREATE TABLE extra (x INTEGER) STRICT;',
      },
    ];
    const c = Ledger.open(path, { migrations: extra });
    expect(c.schemaVersion()).toBe(extra.length);
    expect(c.lanes.get(ID)?.laneId).toBe(ID);
    c.close();
  });

  it('refuses a ledger written by a newer agent', () => {
    const path = join(dir, 'ledger.db');
    const extra = [
      ...MIGRATIONS,
      { version: MIGRATIONS.length + 1, name: 'future', sql: 'SELECT 1;' },
    ];
    Ledger.open(path, { migrations: extra }).close();
    expect(() => Ledger.open(path)).toThrow(LaunchplaneError);
  });

  it('a failed transaction leaves nothing behind', () => {
    const l = Ledger.open(':memory:');
    expect(() =>
      l.transaction(() => {
        l.lanes.insert(lane(ID));
        l.replay.remember({
          jti: 'a1b2c3d4-0000-4000-8000-000000000000',
          seq: 1,
          forgetAfter: 100,
          result: undefined,
        });
        throw new Error('boom');
      }),
    ).toThrow('boom');
    expect(l.lanes.get(ID)).toBeUndefined();
    expect(l.replay.lastSeq()).toBeUndefined();
    l.close();
  });

  it('replay store: refuses a seen jti and a non-increasing seq, keeps seq after pruning', () => {
    const l = Ledger.open(':memory:');
    const jti = 'a1b2c3d4-0000-4000-8000-000000000001';
    l.replay.remember({ jti, seq: 5, forgetAfter: 100, result: undefined });
    l.replay.setResult(jti, 'signed.result.jws');
    expect(l.replay.get(jti)).toEqual({
      jti,
      seq: 5,
      forgetAfter: 100,
      result: 'signed.result.jws',
    });
    expect(() => l.replay.remember({ jti, seq: 6, forgetAfter: 100, result: undefined })).toThrow(
      expect.objectContaining({ code: 'LP_REPLAYED' }),
    );
    expect(() =>
      l.replay.remember({
        jti: 'a1b2c3d4-0000-4000-8000-000000000002',
        seq: 5,
        forgetAfter: 100,
        result: undefined,
      }),
    ).toThrow(expect.objectContaining({ code: 'LP_SEQ_REGRESSION' }));
    expect(l.replay.prune(99)).toBe(0);
    expect(l.replay.prune(100)).toBe(1);
    expect(l.replay.get(jti)).toBeUndefined();
    expect(l.replay.lastSeq()).toBe(5);
    l.close();
  });

  it('outbox: seq grows, ack deletes up to seq, numbers never repeat after a reopen', () => {
    const path = join(dir, 'ledger.db');
    const l = Ledger.open(path);
    expect(l.outbox.append(1, (s) => `jws-${s}`)).toBe(1);
    expect(l.outbox.append(1, (s) => `jws-${s}`)).toBe(2);
    expect(l.outbox.append(1, (s) => `jws-${s}`)).toBe(3);
    expect(l.outbox.ack(2)).toBe(2);
    expect(l.outbox.pending()).toEqual([{ seq: 3, jws: 'jws-3' }]);
    l.outbox.ack(3);
    l.close();
    const again = Ledger.open(path);
    expect(again.outbox.append(1, (s) => `jws-${s}`)).toBe(4);
    again.close();
  });

  it('audit chain verifies, and an edited, deleted or reordered row is detected', () => {
    const l = Ledger.open(':memory:');
    const entry = (action: string): Omit<AuditRecord, 'seq' | 'prevHash' | 'hash'> => ({
      at: 10,
      actor: 'coordinator',
      hostId: 'host-a',
      action,
      params: { force: false },
      dryRun: false,
      outcome: 'ok',
    });
    for (const a of ['lane.create', 'lane.stop', 'lane.remove']) l.audit.append(entry(a));
    expect(l.audit.verify()).toEqual({ ok: true });
    const row = l.db.prepare('SELECT record FROM audit WHERE seq = 2').get() as { record: string };
    const edited = JSON.parse(row.record) as AuditRecord;
    edited.params = { force: true };
    l.db.prepare('UPDATE audit SET record = ? WHERE seq = 2').run(JSON.stringify(edited));
    expect(l.audit.verify()).toEqual({ ok: false, index: 1, reason: 'hash-mismatch' });
    l.db.prepare('UPDATE audit SET record = ? WHERE seq = 2').run(row.record);
    expect(l.audit.verify()).toEqual({ ok: true });
    l.db.prepare('DELETE FROM audit WHERE seq = 2').run();
    expect(l.audit.verify()).toMatchObject({ ok: false, index: 1 });
    l.close();
  });

  it('journal: an operation is open from begin until end', () => {
    const l = Ledger.open(':memory:');
    l.journal.record(ID, 'create', 'begin', 1);
    l.journal.record(ID, 'create', 'layout', 1);
    expect(l.journal.openOperation(ID)).toEqual({
      op: 'create',
      lastStep: 'layout',
      steps: ['begin', 'layout'],
    });
    expect(l.journal.lanesWithOpenOperation()).toEqual([ID]);
    l.journal.record(ID, 'create', 'end', 1);
    expect(l.journal.openOperation(ID)).toBeUndefined();
    l.journal.record(ID, 'remove', 'begin', 2);
    expect(l.journal.openOperation(ID)?.op).toBe('remove');
    l.close();
  });

  it('lanes: active() and countActive() skip removed lanes', () => {
    const l = Ledger.open(':memory:');
    l.lanes.insert(lane(ID, 'online'));
    l.lanes.insert(lane('01jdx0000000000000000000ab', 'removed'));
    expect(l.lanes.active().map((x) => x.laneId)).toEqual([ID]);
    expect(l.lanes.countActive()).toBe(1);
    expect(l.lanes.all()).toHaveLength(2);
    expect(() => l.lanes.insert(lane(ID))).toThrow();
    l.close();
  });
});
