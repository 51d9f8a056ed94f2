/**
 * The data dir's layout and the migration of a host installed before `private/` existed: every
 * secret moves, the modes are fixed, the ledger keeps everything it committed (even what was still
 * in its write-ahead log), lane dirs are not touched, and readers find the files either way.
 */
import { copyFile, chmod, mkdir, mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { readLanes } from '../cli/local-ledger.js';
import { ensureHostKey, hostKeyPath, loadHostKey } from '../keys/host-key.js';
import { Ledger } from '../ledger/ledger.js';
import { dataPaths, locateDataFile, migrateDataDir, unreachableAncestor } from './data-dir.js';
import { acquirePidLock } from './pid-lock.js';
import { readStatusFile, writeStatusFile } from './status-file.js';

let root: string;
let data: string;
beforeEach(async () => {
  root = await mkdtemp(join(tmpdir(), 'lp-datadir-'));
  data = join(root, 'data');
});
afterEach(async () => {
  await rm(root, { recursive: true, force: true });
});

/** A data dir as hosts had it before `private/`: everything in `<dataDir>`, mode 0700. */
async function legacyLayout(): Promise<{ fingerprint: string; laneDir: string }> {
  // Made in the new layout, then moved back to where older agents kept it.
  const key = await ensureHostKey(join(root, 'made'), 'host-a');
  await mkdir(data, { mode: 0o700 });
  await chmod(data, 0o700);
  for (const f of ['host.key', 'host.json']) {
    await copyFile(join(root, 'made', 'private', f), join(data, f));
  }
  await chmod(join(data, 'host.key'), 0o600);
  await writeFile(join(data, 'coordinator.jwk'), '{"kty":"OKP"}\n', { mode: 0o644 });
  await writeFile(join(data, 'status.json'), '{}\n', { mode: 0o644 });
  await writeFile(join(data, 'agent.pid'), `${2 ** 22 + 17}\n`);
  // A ledger whose last commit is still only in its write-ahead log (the old daemon was killed).
  const source = join(root, 'live.db');
  const live = new Database(source);
  live.pragma('journal_mode = WAL');
  live.pragma('wal_autocheckpoint = 0');
  live.exec('CREATE TABLE t (v TEXT)');
  live.prepare('INSERT INTO t VALUES (?)').run('committed-in-wal');
  for (const suffix of ['', '-wal', '-shm']) {
    await copyFile(`${source}${suffix}`, join(data, `ledger.db${suffix}`));
  }
  live.close();
  // A running lane's dir, owned by its user.
  const laneDir = join(data, 'lanes', '01hzzzzzzzzzzzzzzzzzzzzzzz');
  await mkdir(join(laneDir, '_work'), { recursive: true });
  await writeFile(join(laneDir, '.credentials'), 'lane secret', { mode: 0o600 });
  return { fingerprint: key.fingerprint, laneDir };
}

describe('migrateDataDir()', () => {
  it('moves every secret into private/, fixes the modes and leaves lane dirs alone', async () => {
    const { fingerprint, laneDir } = await legacyLayout();
    const laneBefore = await stat(join(laneDir, '.credentials'));
    // Readers that may run before the migration find the legacy files.
    expect(hostKeyPath(data)).toBe(join(data, 'host.key'));
    expect((await loadHostKey(data)).fingerprint).toBe(fingerprint);

    const lock = await acquirePidLock(data, 'start the agent');
    const result = await migrateDataDir(data);
    await lock.release();

    expect(result.moved.sort()).toEqual(
      ['coordinator.jwk', 'host.json', 'host.key', 'ledger.db', 'status.json'].map((f) =>
        join(data, f),
      ),
    );
    const p = dataPaths(data);
    for (const f of [p.hostKey, p.hostId, p.coordinatorKey, p.ledger, p.status]) {
      expect((await stat(f)).isFile()).toBe(true);
    }
    for (const f of [
      'host.key',
      'host.json',
      'coordinator.jwk',
      'ledger.db',
      'ledger.db-wal',
      'ledger.db-shm',
      'status.json',
      'agent.pid',
    ]) {
      await expect(stat(join(data, f))).rejects.toMatchObject({ code: 'ENOENT' });
    }
    expect((await stat(data)).mode & 0o777).toBe(0o755);
    expect((await stat(p.private)).mode & 0o777).toBe(0o700);
    expect((await stat(p.lanes)).mode & 0o777).toBe(0o755);
    expect((await stat(p.hostKey)).mode & 0o777).toBe(0o600);
    // The key is the same key, now read from private/.
    expect(hostKeyPath(data)).toBe(p.hostKey);
    expect((await loadHostKey(data)).fingerprint).toBe(fingerprint);
    // What was only in the write-ahead log survived the move.
    const db = new Database(p.ledger, { readonly: true });
    expect(db.prepare('SELECT v FROM t').all()).toEqual([{ v: 'committed-in-wal' }]);
    db.close();
    // The running lane's dir is as it was.
    const laneAfter = await stat(join(laneDir, '.credentials'));
    expect({ ino: laneAfter.ino, mtime: laneAfter.mtimeMs }).toEqual({
      ino: laneBefore.ino,
      mtime: laneBefore.mtimeMs,
    });
    expect(await readFile(join(laneDir, '.credentials'), 'utf8')).toBe('lane secret');
  });

  it('finishes an interrupted migration, and running it again changes nothing', async () => {
    await legacyLayout();
    await mkdir(join(data, 'private'), { mode: 0o700 });
    // A first run moved the keys and was killed before the ledger.
    for (const f of ['host.key', 'host.json']) {
      await copyFile(join(data, f), join(data, 'private', f));
      await rm(join(data, f));
    }
    const again = await migrateDataDir(data);
    expect(again.moved).toContain(join(data, 'ledger.db'));
    expect(await migrateDataDir(data)).toEqual({ moved: [], dropped: [] });
  });

  it('drops a legacy copy equal to the one in private/, and refuses two different ones', async () => {
    await legacyLayout();
    await mkdir(join(data, 'private'), { mode: 0o700 });
    await copyFile(join(data, 'host.json'), join(data, 'private', 'host.json'));
    await writeFile(join(data, 'private', 'host.key'), 'another key', { mode: 0o600 });
    const e = await migrateDataDir(data).catch((x: unknown) => x);
    expect(e).toMatchObject({ code: 'LP_CONFLICT' });
    expect((e as Error).message).toContain(join(data, 'host.key'));
    // Nothing was lost: both keys are still there.
    expect(await readFile(join(data, 'private', 'host.key'), 'utf8')).toBe('another key');
    expect((await stat(join(data, 'host.key'))).isFile()).toBe(true);
  });

  it('the read-only commands find the ledger and the status file in either layout', async () => {
    await mkdir(data, { mode: 0o700 });
    const legacyLedger = Ledger.open(join(data, 'ledger.db'));
    legacyLedger.close();
    expect(locateDataFile(data, 'ledger')).toBe(join(data, 'ledger.db'));
    expect(readLanes(data)).toEqual([]);
    await writeFile(join(data, 'status.json'), 'garbled');
    expect(await readStatusFile(data)).toBeUndefined();
    await migrateDataDir(data);
    expect(locateDataFile(data, 'ledger')).toBe(join(data, 'private', 'ledger.db'));
    expect(readLanes(data)).toEqual([]);
    const status = {
      pid: process.pid,
      agentVersion: 'x',
      startedAt: 1,
      updatedAt: 2,
      stopped: false,
      session: { state: 'idle', url: 'ws://x', coordinatorId: 'c', attempt: 0 },
      backends: {
        systemd: { optedIn: false, available: false },
        docker: { optedIn: false, available: false },
      },
      lanes: 0,
    };
    await writeStatusFile(data, status);
    expect((await stat(join(data, 'private', 'status.json'))).mode & 0o777).toBe(0o600);
    expect(await readStatusFile(data)).toMatchObject({ pid: process.pid });
  });
});

describe('unreachableAncestor()', () => {
  it('names the first directory above the lanes dir that others may not list and pass', async () => {
    await chmod(root, 0o755);
    const lanes = join(data, 'lanes');
    await mkdir(lanes, { recursive: true, mode: 0o755 });
    await chmod(data, 0o755);
    expect(await unreachableAncestor(lanes)).toBeUndefined();
    // Traversable but not listable is not enough: the runner lists every directory above it.
    await chmod(data, 0o711);
    expect(await unreachableAncestor(lanes)).toEqual({ dir: data, mode: 0o711 });
    await chmod(data, 0o755);
    await chmod(root, 0o700);
    expect(await unreachableAncestor(lanes)).toEqual({ dir: root, mode: 0o700 });
  });
});
