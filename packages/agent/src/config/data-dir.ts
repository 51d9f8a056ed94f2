/**
 * The agent's data directory, every path in it, and its one-time migration.
 *
 * ```
 * <dataDir>/                 0755  root   (lane users pass through it and may list it)
 *   private/                 0700  root   every secret and every file only the agent reads
 *     host.key  host.json  coordinator.jwk  ledger.db(-wal,-shm)  status.json  agent.pid
 *   lanes/                   0755  root
 *     <laneId>/              0700  the lane's user (a lane user, the shared user, or the
 *                                  container's user)
 *   trash/                   0700  root   removed lane dirs, moved here in one rename and then
 *                                         deleted (see `lanes/lane-trash.ts`)
 * ```
 *
 * `<dataDir>` and `lanes/` must be listable, not only traversable, by every lane user: the
 * runner's `Runner.Listener` lists its own directory and each directory above it when it starts
 * and stops with "Permission to read the directory contents is required for '<dir>' and each
 * directory up the hierarchy" otherwise (actions/runner `src/Runner.Sdk/Util/IOUtil.cs`,
 * `ValidateExecutePermission`, called from `src/Runner.Listener/Program.cs`). Listing shows only
 * `private`, `lanes` and lane ids; the secrets are behind `private/` (0700) and each lane's own
 * 0700 directory.
 *
 * Hosts installed before this layout kept everything in `<dataDir>` itself (mode 0700).
 * {@link migrateDataDir} moves those files into `private/` (under the pid lock); readers that may
 * run beside an older daemon use {@link locateDataFile}, which finds a file in either place.
 */
import { existsSync } from 'node:fs';
import { chmod, lstat, mkdir, readFile, rename, rm, stat } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import Database from 'better-sqlite3';
import { LaunchplaneError, isLaneId } from '@launchplane/shared';

/** Mode of `<dataDir>` and `<dataDir>/lanes`. */
export const DATA_DIR_MODE = 0o755;
/** Mode of `<dataDir>/private`. */
export const PRIVATE_DIR_MODE = 0o700;
/** Mode of each lane directory. */
export const LANE_DIR_MODE = 0o700;

/** The files the agent keeps in `private/`, by their name (the same as before the migration). */
export const PRIVATE_FILES = {
  hostKey: 'host.key',
  hostId: 'host.json',
  coordinatorKey: 'coordinator.jwk',
  ledger: 'ledger.db',
  status: 'status.json',
  pid: 'agent.pid',
} as const;

/** A name in {@link PRIVATE_FILES}. */
export type PrivateFile = keyof typeof PRIVATE_FILES;

/** Every path of a data directory. */
export interface DataPaths {
  root: string;
  private: string;
  lanes: string;
  /** Removed lane dirs on their way out (0700 root; see `lanes/lane-trash.ts`). */
  trash: string;
  hostKey: string;
  hostId: string;
  coordinatorKey: string;
  ledger: string;
  status: string;
  pid: string;
}

/** The paths of the current layout. */
export function dataPaths(dataDir: string): DataPaths {
  const priv = join(dataDir, 'private');
  return {
    root: dataDir,
    private: priv,
    lanes: join(dataDir, 'lanes'),
    trash: join(dataDir, 'trash'),
    hostKey: join(priv, PRIVATE_FILES.hostKey),
    hostId: join(priv, PRIVATE_FILES.hostId),
    coordinatorKey: join(priv, PRIVATE_FILES.coordinatorKey),
    ledger: join(priv, PRIVATE_FILES.ledger),
    status: join(priv, PRIVATE_FILES.status),
    pid: join(priv, PRIVATE_FILES.pid),
  };
}

/** Where a private file lived before the migration (`<dataDir>/<name>`). */
export function legacyPath(dataDir: string, file: PrivateFile): string {
  return join(dataDir, PRIVATE_FILES[file]);
}

/** The directory of a lane under `dataDir`; LP_INVALID_MESSAGE for a non-canonical lane id. */
export function laneDirOf(dataDir: string, laneId: string): string {
  if (!isLaneId(laneId)) {
    throw new LaunchplaneError(
      'LP_INVALID_MESSAGE',
      `Invalid lane id ${JSON.stringify(laneId.slice(0, 64))}`,
    );
  }
  return join(dataDir, 'lanes', laneId);
}

/**
 * Where a private file is to be read: in `private/` when it is there, else where an unmigrated
 * host keeps it, else (neither exists) its place in `private/`. For readers that may run before
 * the migration or beside an older daemon (`status`, `lanes`, `audit`, `doctor`, loading keys).
 */
export function locateDataFile(dataDir: string, file: PrivateFile): string {
  const current = join(dataDir, 'private', PRIVATE_FILES[file]);
  if (existsSync(current)) return current;
  const legacy = legacyPath(dataDir, file);
  return existsSync(legacy) ? legacy : current;
}

/**
 * Creates the layout (missing directories) and sets the modes of `<dataDir>`, `private/` and
 * `lanes/` explicitly, whatever the umask (the agent's unit runs with `UMask=0077`).
 */
export async function ensureDataDir(dataDir: string): Promise<DataPaths> {
  const p = dataPaths(dataDir);
  await mkdir(p.root, { recursive: true, mode: DATA_DIR_MODE });
  await mkdir(p.private, { recursive: true, mode: PRIVATE_DIR_MODE });
  await mkdir(p.lanes, { recursive: true, mode: DATA_DIR_MODE });
  await mkdir(p.trash, { recursive: true, mode: PRIVATE_DIR_MODE });
  await refuseSymlink(p.private);
  await refuseSymlink(p.lanes);
  await refuseSymlink(p.trash);
  await chmod(p.root, DATA_DIR_MODE);
  await chmod(p.private, PRIVATE_DIR_MODE);
  await chmod(p.lanes, DATA_DIR_MODE);
  await chmod(p.trash, PRIVATE_DIR_MODE);
  return p;
}

async function refuseSymlink(path: string): Promise<void> {
  const st = await lstat(path);
  if (!st.isDirectory()) {
    throw new LaunchplaneError('LP_CONFIG_INVALID', `"${path}" is not a directory`, {
      recovery: 'Move it away; the agent makes the directory itself',
    });
  }
}

/** What {@link migrateDataDir} did. */
export interface MigrationResult {
  /** Legacy paths moved into `private/`. */
  moved: string[];
  /** Legacy copies dropped because `private/` already held the same file. */
  dropped: string[];
}

// Moved last: a reader finds the ledger in one place or the other, never half of it.
const MIGRATION_ORDER: readonly PrivateFile[] = [
  'hostKey',
  'hostId',
  'coordinatorKey',
  'status',
  'pid',
  'ledger',
];

/**
 * Moves a legacy layout's files into `private/` and fixes the modes (see the module comment).
 * Each file moves with one `rename(2)`, so a crash leaves it in one place or the other and the
 * next call finishes the job. The caller must hold the pid lock: no daemon may have the ledger
 * open. The ledger's write-ahead log is folded into the database first, so the database moves as
 * one file. A file present in both places is dropped from the old place when both copies are
 * equal (or it is only the status or pid file); two different copies are `LP_CONFLICT`, and
 * nothing is moved past that file.
 */
export async function migrateDataDir(dataDir: string): Promise<MigrationResult> {
  const p = await ensureDataDir(dataDir);
  const result: MigrationResult = { moved: [], dropped: [] };
  for (const file of MIGRATION_ORDER) {
    const from = legacyPath(dataDir, file);
    const to = join(p.private, PRIVATE_FILES[file]);
    if (!(await isFile(from))) continue;
    if (file === 'ledger') await foldWal(from);
    if (await isFile(to)) {
      if (file === 'status' || file === 'pid' || (await sameContent(from, to))) {
        await rm(from, { force: true });
        result.dropped.push(from);
        continue;
      }
      throw new LaunchplaneError(
        'LP_CONFLICT',
        `Cannot migrate "${from}": "${to}" exists with other content`,
        {
          recovery: `Keep the right one in "${p.private}" and move the other out of "${dataDir}", then start the agent again`,
          details: { from, to },
        },
      );
    }
    if (file === 'ledger') {
      // Whatever the fold could not remove travels with the database.
      for (const suffix of ['-wal', '-shm']) {
        if (await isFile(`${from}${suffix}`)) await rename(`${from}${suffix}`, `${to}${suffix}`);
      }
    }
    await rename(from, to);
    result.moved.push(from);
  }
  for (const suffix of ['-wal', '-shm']) {
    const stray = `${legacyPath(dataDir, 'ledger')}${suffix}`;
    // A log without its database (moved by an earlier, interrupted run) holds nothing to keep:
    // the fold above emptied it before the database moved.
    if ((await isFile(stray)) && !(await isFile(legacyPath(dataDir, 'ledger')))) {
      await rm(stray, { force: true });
      result.dropped.push(stray);
    }
  }
  return result;
}

/** Folds a ledger's write-ahead log into the database and lets SQLite remove the log files. */
async function foldWal(ledger: string): Promise<void> {
  if (!(await isFile(`${ledger}-wal`))) return;
  const db = new Database(ledger);
  try {
    db.pragma('wal_checkpoint(TRUNCATE)');
  } finally {
    db.close();
  }
}

async function isFile(path: string): Promise<boolean> {
  try {
    return (await lstat(path)).isFile();
  } catch {
    return false;
  }
}

async function sameContent(a: string, b: string): Promise<boolean> {
  const [x, y] = await Promise.all([readFile(a), readFile(b)]);
  return x.equals(y);
}

/** A directory a lane user cannot list or pass through, and why. */
export interface UnreachableDir {
  dir: string;
  mode: number;
}

/**
 * The first directory from `/` down to `lanesDir` (itself included) that others may not read and
 * traverse (`o+rx`), or undefined when a non-root lane user can reach its lane directory and the
 * runner may list every directory above it (see the module comment).
 */
export async function unreachableAncestor(lanesDir: string): Promise<UnreachableDir | undefined> {
  const chain: string[] = [];
  for (let d = lanesDir; ; d = dirname(d)) {
    chain.unshift(d);
    if (dirname(d) === d) break;
  }
  for (const dir of chain) {
    let mode: number;
    try {
      mode = (await stat(dir)).mode & 0o7777;
    } catch {
      return undefined; // not made yet: ensureDataDir makes it with the right mode
    }
    if ((mode & 0o005) !== 0o005) return { dir, mode };
  }
  return undefined;
}

/** LP_CONFIG_INVALID naming the directory lane users cannot reach. */
export function unreachableError(u: UnreachableDir): LaunchplaneError {
  return new LaunchplaneError(
    'LP_CONFIG_INVALID',
    `Lane users cannot reach their lane directories: "${u.dir}" has mode ${u.mode.toString(8).padStart(4, '0')}, and the runner needs to list it and pass through it`,
    {
      recovery: `Run \`chmod o+rx ${u.dir}\`, or set dataDir in the agent config to a directory every user may pass through`,
      details: { dir: u.dir },
    },
  );
}
