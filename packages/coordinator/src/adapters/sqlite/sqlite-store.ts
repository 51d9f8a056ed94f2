/**
 * `CoordinatorStore` on SQLite (better-sqlite3, WAL, synchronous=FULL). better-sqlite3 is
 * synchronous while the port is async, so transactions are serialized: a transaction holds a
 * lock from BEGIN to COMMIT across its awaits, and every other call waits for that lock, so no
 * statement from outside can land inside someone else's open transaction.
 */
import { closeSync, constants, fchmodSync, fstatSync, openSync } from 'node:fs';
import Database from 'better-sqlite3';
import type { Database as Db } from 'better-sqlite3';
import type { AuditRecord } from '@launchplane/shared';
import type {
  AuditQuery,
  CommandRecord,
  CoordinatorStore,
  EnrollmentTokenRecord,
  HostRecord,
  JobPruning,
  JobQuery,
  JobRecord,
  LaneRecord,
  NewAuditRecord,
  OperatorTokenRecord,
  PolicyVersionRecord,
  Role,
} from '../../ports/store.js';
import { migrate } from './migrations.js';

/** Options of {@link SqliteCoordinatorStore.open}. */
export interface SqliteStoreOptions {
  /** How long a statement waits for another process's lock, in ms. Default 5000. */
  busyTimeoutMs?: number;
  /** Default page size of `listAudit` when the query has no limit. Default 1000. */
  auditPageSize?: number;
}

type Row = Record<string, string | number | null>;

const orUndef = <T>(v: T | null | undefined): T | undefined => (v === null ? undefined : v);
const num = (v: unknown): number => Number(v);
const optNum = (v: unknown): number | undefined =>
  v === null || v === undefined ? undefined : Number(v);
const optStr = (v: string | number | null | undefined): string | undefined =>
  v === null || v === undefined ? undefined : String(v);
const nul = <T>(v: T | undefined): T | null => (v === undefined ? null : v);

/** The statements, shared by the store and its transaction views. */
abstract class SqliteStoreBase implements CoordinatorStore {
  protected readonly db: Db;
  protected readonly auditPageSize: number;

  protected constructor(db: Db, auditPageSize: number) {
    this.db = db;
    this.auditPageSize = auditPageSize;
  }

  /** Runs a synchronous statement under this view's locking rule. */
  protected abstract run<T>(fn: () => T): Promise<T>;
  abstract transaction<T>(fn: (tx: CoordinatorStore) => Promise<T>): Promise<T>;
  abstract close(): Promise<void>;

  getMeta(key: string): Promise<string | undefined> {
    return this.run(() => {
      const row = this.db.prepare('SELECT value FROM meta WHERE key = ?').get(key) as
        Row | undefined;
      return row === undefined ? undefined : String(row.value);
    });
  }

  setMeta(key: string, value: string): Promise<void> {
    return this.run(() => {
      this.db
        .prepare(
          'INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value',
        )
        .run(key, value);
    });
  }

  putHost(host: HostRecord): Promise<void> {
    return this.run(() => {
      this.db
        .prepare(
          `INSERT INTO hosts (host_id, public_key, fingerprint, enrolled_at, revoked_at, last_seen_at,
             agent_version, opt_in, capabilities)
           VALUES (@hostId, @publicKey, @fingerprint, @enrolledAt, @revokedAt, @lastSeenAt,
             @agentVersion, @optIn, @capabilities)
           ON CONFLICT (host_id) DO UPDATE SET public_key = excluded.public_key,
             fingerprint = excluded.fingerprint, enrolled_at = excluded.enrolled_at,
             revoked_at = excluded.revoked_at, last_seen_at = excluded.last_seen_at,
             agent_version = excluded.agent_version, opt_in = excluded.opt_in,
             capabilities = excluded.capabilities`,
        )
        .run({
          hostId: host.hostId,
          publicKey: JSON.stringify(host.publicKey),
          fingerprint: host.fingerprint,
          enrolledAt: host.enrolledAt,
          revokedAt: nul(host.revokedAt),
          lastSeenAt: nul(host.lastSeenAt),
          agentVersion: nul(host.agentVersion),
          optIn: host.optIn === undefined ? null : JSON.stringify(host.optIn),
          capabilities: JSON.stringify(host.capabilities),
        });
    });
  }

  getHost(hostId: string): Promise<HostRecord | undefined> {
    return this.run(() => {
      const row = this.db.prepare('SELECT * FROM hosts WHERE host_id = ?').get(hostId) as
        Row | undefined;
      return row === undefined ? undefined : hostFromRow(row);
    });
  }

  listHosts(): Promise<HostRecord[]> {
    return this.run(() =>
      (this.db.prepare('SELECT * FROM hosts ORDER BY host_id').all() as Row[]).map(hostFromRow),
    );
  }

  putOperatorToken(token: OperatorTokenRecord): Promise<void> {
    return this.run(() => {
      this.db
        .prepare(
          `INSERT INTO operator_tokens (id, name, role, hash, created_at, revoked_at)
           VALUES (@id, @name, @role, @hash, @createdAt, @revokedAt)
           ON CONFLICT (id) DO UPDATE SET name = excluded.name, role = excluded.role,
             hash = excluded.hash, created_at = excluded.created_at, revoked_at = excluded.revoked_at`,
        )
        .run({ ...token, revokedAt: nul(token.revokedAt) });
    });
  }

  getOperatorToken(id: string): Promise<OperatorTokenRecord | undefined> {
    return this.run(() => {
      const row = this.db.prepare('SELECT * FROM operator_tokens WHERE id = ?').get(id) as
        Row | undefined;
      return row === undefined ? undefined : operatorTokenFromRow(row);
    });
  }

  listOperatorTokens(): Promise<OperatorTokenRecord[]> {
    return this.run(() =>
      (this.db.prepare('SELECT * FROM operator_tokens ORDER BY created_at, id').all() as Row[]).map(
        operatorTokenFromRow,
      ),
    );
  }

  putEnrollmentToken(token: EnrollmentTokenRecord): Promise<void> {
    return this.run(() => {
      this.db
        .prepare(
          `INSERT INTO enrollment_tokens (id, host_id, hash, created_at, expires_at, used_at, created_by)
           VALUES (@id, @hostId, @hash, @createdAt, @expiresAt, @usedAt, @createdBy)
           ON CONFLICT (id) DO UPDATE SET host_id = excluded.host_id, hash = excluded.hash,
             created_at = excluded.created_at, expires_at = excluded.expires_at,
             used_at = excluded.used_at, created_by = excluded.created_by`,
        )
        .run({ ...token, usedAt: nul(token.usedAt) });
    });
  }

  getEnrollmentToken(id: string): Promise<EnrollmentTokenRecord | undefined> {
    return this.run(() => {
      const row = this.db.prepare('SELECT * FROM enrollment_tokens WHERE id = ?').get(id) as
        Row | undefined;
      if (row === undefined) return undefined;
      return {
        id: String(row.id),
        hostId: String(row.host_id),
        hash: String(row.hash),
        createdAt: num(row.created_at),
        expiresAt: num(row.expires_at),
        usedAt: optNum(row.used_at),
        createdBy: String(row.created_by),
      };
    });
  }

  addPolicyVersion(policy: Omit<PolicyVersionRecord, 'version'>): Promise<PolicyVersionRecord> {
    return this.run(() => {
      const info = this.db
        .prepare(
          'INSERT INTO policy_versions (digest, text, created_at, actor) VALUES (@digest, @text, @createdAt, @actor)',
        )
        .run(policy);
      return { version: Number(info.lastInsertRowid), ...policy };
    });
  }

  currentPolicy(): Promise<PolicyVersionRecord | undefined> {
    return this.run(() => {
      const row = this.db
        .prepare('SELECT * FROM policy_versions ORDER BY version DESC LIMIT 1')
        .get() as Row | undefined;
      if (row === undefined) return undefined;
      return {
        version: num(row.version),
        digest: String(row.digest),
        text: String(row.text),
        createdAt: num(row.created_at),
        actor: String(row.actor),
      };
    });
  }

  putLane(lane: LaneRecord): Promise<void> {
    return this.run(() => {
      this.db
        .prepare(
          `INSERT INTO lanes (lane_id, host_id, pool, state, purpose, record)
           VALUES (?, ?, ?, ?, ?, ?)
           ON CONFLICT (lane_id) DO UPDATE SET host_id = excluded.host_id, pool = excluded.pool,
             state = excluded.state, purpose = excluded.purpose, record = excluded.record`,
        )
        .run(lane.laneId, lane.hostId, lane.pool, lane.state, lane.purpose, JSON.stringify(lane));
    });
  }

  getLane(laneId: string): Promise<LaneRecord | undefined> {
    return this.run(() => {
      const row = this.db.prepare('SELECT record FROM lanes WHERE lane_id = ?').get(laneId) as
        Row | undefined;
      return row === undefined ? undefined : laneFromJson(String(row.record));
    });
  }

  listLanes(
    filter: {
      hostId?: string;
      pool?: string;
      purpose?: LaneRecord['purpose'];
      includeRemoved?: boolean;
    } = {},
  ): Promise<LaneRecord[]> {
    return this.run(() => {
      const where: string[] = [];
      const args: unknown[] = [];
      if (filter.purpose !== undefined) {
        where.push('purpose = ?');
        args.push(filter.purpose);
      }
      if (filter.hostId !== undefined) {
        where.push('host_id = ?');
        args.push(filter.hostId);
      }
      if (filter.pool !== undefined) {
        where.push('pool = ?');
        args.push(filter.pool);
      }
      if (filter.includeRemoved !== true) where.push("state <> 'removed'");
      const sql = `SELECT record FROM lanes ${where.length > 0 ? `WHERE ${where.join(' AND ')}` : ''} ORDER BY host_id, lane_id`;
      return (this.db.prepare(sql).all(...args) as Row[]).map((r) =>
        laneFromJson(String(r.record)),
      );
    });
  }

  nextCommandSeq(hostId: string): Promise<number> {
    return this.run(() => {
      const row = this.db
        .prepare(
          `INSERT INTO command_seq (host_id, last_seq) VALUES (?, 1)
           ON CONFLICT (host_id) DO UPDATE SET last_seq = last_seq + 1 RETURNING last_seq`,
        )
        .get(hostId) as Row;
      return num(row.last_seq);
    });
  }

  putCommand(command: CommandRecord): Promise<void> {
    return this.run(() => {
      this.db
        .prepare(
          `INSERT INTO commands (jti, host_id, seq, record) VALUES (?, ?, ?, ?)
           ON CONFLICT (jti) DO UPDATE SET record = excluded.record`,
        )
        .run(command.jti, command.hostId, command.seq, JSON.stringify(command));
    });
  }

  getCommand(jti: string): Promise<CommandRecord | undefined> {
    return this.run(() => {
      const row = this.db.prepare('SELECT record FROM commands WHERE jti = ?').get(jti) as
        Row | undefined;
      return row === undefined ? undefined : commandFromJson(String(row.record));
    });
  }

  putAgentEvent(
    hostId: string,
    seq: number,
    payload: unknown,
    receivedAt: number,
  ): Promise<boolean> {
    return this.run(() => {
      const info = this.db
        .prepare(
          'INSERT OR IGNORE INTO agent_events (host_id, seq, payload, received_at) VALUES (?, ?, ?, ?)',
        )
        .run(hostId, seq, JSON.stringify(payload), receivedAt);
      return info.changes === 1;
    });
  }

  appendAudit(record: NewAuditRecord): Promise<AuditRecord> {
    return this.run(() => {
      const info = this.db
        .prepare('INSERT INTO audit (at, host_id, lane_id, record) VALUES (?, ?, ?, ?)')
        .run(record.at, nul(record.hostId), nul(record.laneId), JSON.stringify(record));
      return { seq: Number(info.lastInsertRowid), ...record };
    });
  }

  updateAudit(seq: number, record: NewAuditRecord): Promise<void> {
    return this.run(() => {
      this.db
        .prepare('UPDATE audit SET at = ?, host_id = ?, lane_id = ?, record = ? WHERE seq = ?')
        .run(record.at, nul(record.hostId), nul(record.laneId), JSON.stringify(record), seq);
    });
  }

  getJob(jobId: number): Promise<JobRecord | undefined> {
    return this.run(() => {
      const row = this.db.prepare('SELECT record FROM jobs WHERE job_id = ?').get(jobId) as
        Row | undefined;
      return row === undefined ? undefined : (JSON.parse(String(row.record)) as JobRecord);
    });
  }

  putJob(job: JobRecord): Promise<void> {
    return this.run(() => {
      const repository = job.repository.toLowerCase();
      this.db
        .prepare(
          `INSERT INTO jobs (job_id, repository, owner, status, queued_at, started_at,
             completed_at, seen_at, record)
           VALUES (@id, @repository, @owner, @status, @queuedAt, @startedAt, @completedAt,
             @seenAt, @record)
           ON CONFLICT (job_id) DO UPDATE SET repository = excluded.repository,
             owner = excluded.owner, status = excluded.status, queued_at = excluded.queued_at,
             started_at = excluded.started_at, completed_at = excluded.completed_at,
             seen_at = excluded.seen_at, record = excluded.record`,
        )
        .run({
          id: job.id,
          repository,
          owner: repository.split('/')[0] ?? '',
          status: job.status,
          queuedAt: job.queuedAt,
          // The time a runner took it: GitHub shows the queue time as started_at until then.
          startedAt: job.status === 'queued' ? null : nul(job.startedAt),
          completedAt: nul(job.completedAt),
          seenAt: job.seenAt,
          record: JSON.stringify({ ...job, repository }),
        });
    });
  }

  listJobs(query: JobQuery = {}): Promise<JobRecord[]> {
    return this.run(() => {
      const where: string[] = [];
      const args: unknown[] = [];
      const inList = (column: string, values: readonly string[]): string => {
        args.push(...values);
        return `${column} IN (${values.map(() => '?').join(', ')})`;
      };
      if (query.statuses !== undefined) {
        if (query.statuses.length === 0) return [];
        where.push(inList('status', query.statuses));
      }
      if (query.repositories !== undefined || query.owners !== undefined) {
        const repos = (query.repositories ?? []).map((r) => r.toLowerCase());
        const owners = (query.owners ?? []).map((o) => o.toLowerCase());
        const either = [
          ...(repos.length > 0 ? [inList('repository', repos)] : []),
          ...(owners.length > 0 ? [inList('owner', owners)] : []),
        ];
        if (either.length === 0) return [];
        where.push(`(${either.join(' OR ')})`);
      }
      if (query.completedSince !== undefined) {
        where.push("(status <> 'completed' OR completed_at >= ?)");
        args.push(query.completedSince);
      }
      if (query.startedSince !== undefined) {
        where.push('started_at >= ?');
        args.push(query.startedSince);
      }
      const limit = Math.max(1, Math.min(query.limit ?? 10_000, 100_000));
      const sql = `SELECT record FROM jobs ${where.length > 0 ? `WHERE ${where.join(' AND ')}` : ''} ORDER BY queued_at, job_id LIMIT ${limit}`;
      return (this.db.prepare(sql).all(...args) as Row[]).map(
        (r) => JSON.parse(String(r.record)) as JobRecord,
      );
    });
  }

  recordDelivery(deliveryId: string, receivedAt: number): Promise<boolean> {
    return this.run(() => {
      const info = this.db
        .prepare(
          'INSERT OR IGNORE INTO webhook_deliveries (delivery_id, received_at) VALUES (?, ?)',
        )
        .run(deliveryId, receivedAt);
      return info.changes === 1;
    });
  }

  pruneJobs(p: JobPruning): Promise<{ jobs: number; deliveries: number }> {
    return this.run(() => {
      const jobs = this.db
        .prepare(
          "DELETE FROM jobs WHERE (status = 'completed' AND completed_at < ?) OR seen_at < ?",
        )
        .run(p.completedBefore, p.seenBefore).changes;
      const deliveries = this.db
        .prepare('DELETE FROM webhook_deliveries WHERE received_at < ?')
        .run(p.deliveriesBefore).changes;
      return { jobs, deliveries };
    });
  }

  /**
   * Records in ascending `seq`. With `afterSeq`, the first `limit` records after it (for
   * following); without, the latest `limit` records.
   */
  listAudit(query: AuditQuery): Promise<AuditRecord[]> {
    return this.run(() => {
      const where: string[] = [];
      const args: unknown[] = [];
      if (query.hostId !== undefined) {
        where.push('host_id = ?');
        args.push(query.hostId);
      }
      if (query.laneId !== undefined) {
        where.push('lane_id = ?');
        args.push(query.laneId);
      }
      if (query.since !== undefined) {
        where.push('at >= ?');
        args.push(query.since);
      }
      if (query.afterSeq !== undefined) {
        where.push('seq > ?');
        args.push(query.afterSeq);
      }
      const limit = Math.max(1, Math.min(query.limit ?? this.auditPageSize, 100_000));
      const order = query.afterSeq === undefined ? 'DESC' : 'ASC';
      const sql = `SELECT seq, record FROM audit ${where.length > 0 ? `WHERE ${where.join(' AND ')}` : ''} ORDER BY seq ${order} LIMIT ${limit}`;
      const rows = (this.db.prepare(sql).all(...args) as Row[]).map((r) => ({
        seq: num(r.seq),
        ...(JSON.parse(String(r.record)) as NewAuditRecord),
      }));
      return order === 'DESC' ? rows.reverse() : rows;
    });
  }
}

/** A store view inside an open transaction: statements run directly, nesting uses savepoints. */
class SqliteTransactionView extends SqliteStoreBase {
  #depth = 0;

  constructor(db: Db, auditPageSize: number) {
    super(db, auditPageSize);
  }

  protected run<T>(fn: () => T): Promise<T> {
    return Promise.resolve().then(fn);
  }

  async transaction<T>(fn: (tx: CoordinatorStore) => Promise<T>): Promise<T> {
    const name = `sp${++this.#depth}`;
    this.db.exec(`SAVEPOINT ${name}`);
    try {
      const value = await fn(this);
      this.db.exec(`RELEASE ${name}`);
      return value;
    } catch (err) {
      this.db.exec(`ROLLBACK TO ${name}`);
      this.db.exec(`RELEASE ${name}`);
      throw err;
    } finally {
      this.#depth--;
    }
  }

  close(): Promise<void> {
    return Promise.reject(new Error('Cannot close the store from inside a transaction'));
  }
}

/** The SQLite implementation of {@link CoordinatorStore}. */
export class SqliteCoordinatorStore extends SqliteStoreBase {
  /** Settles when the current holder (a transaction, or one statement) is done. */
  #tail: Promise<unknown> = Promise.resolve();
  #closed = false;

  private constructor(db: Db, auditPageSize: number) {
    super(db, auditPageSize);
  }

  /**
   * Opens (creating if needed) the database at `path` — a file, or `:memory:` — and applies
   * migrations.
   */
  static open(path: string, opts: SqliteStoreOptions = {}): SqliteCoordinatorStore {
    const onDisk = path !== ':memory:' && path !== '';
    // The database holds token hashes and host keys: owner-only whatever the umask. SQLite gives
    // its -wal and -shm files the mode of the database file, so that file is made first.
    if (onDisk) restrictToOwner(path, true);
    const db = new Database(path);
    try {
      db.pragma(`busy_timeout = ${opts.busyTimeoutMs ?? 5000}`);
      if (onDisk) db.pragma('journal_mode = WAL');
      db.pragma('synchronous = FULL');
      db.pragma('foreign_keys = ON');
      migrate(db);
      // Files left by an older version (or made by hand) may be more open: close them too.
      if (onDisk) for (const suffix of DATABASE_SIDE_FILES) restrictToOwner(path + suffix, false);
    } catch (err) {
      db.close();
      throw err;
    }
    return new SqliteCoordinatorStore(db, opts.auditPageSize ?? 1000);
  }

  /** The schema version of the open database. */
  schemaVersion(): number {
    return this.db.pragma('user_version', { simple: true }) as number;
  }

  #exclusive<T>(fn: () => Promise<T>): Promise<T> {
    const next = this.#tail.then(() => {
      if (this.#closed) throw new Error('The coordinator store is closed');
      return fn();
    });
    this.#tail = next.catch(() => undefined);
    return next;
  }

  protected run<T>(fn: () => T): Promise<T> {
    return this.#exclusive(() => Promise.resolve().then(fn));
  }

  /**
   * Runs `fn` in one IMMEDIATE transaction. Use only `tx` inside `fn`: calling the outer store
   * from inside waits for this very transaction and never returns.
   */
  transaction<T>(fn: (tx: CoordinatorStore) => Promise<T>): Promise<T> {
    return this.#exclusive(async () => {
      this.db.exec('BEGIN IMMEDIATE');
      try {
        const value = await fn(new SqliteTransactionView(this.db, this.auditPageSize));
        this.db.exec('COMMIT');
        return value;
      } catch (err) {
        if (this.db.inTransaction) this.db.exec('ROLLBACK');
        throw err;
      }
    });
  }

  close(): Promise<void> {
    return this.#exclusive(() => {
      this.#closed = true;
      this.db.close();
      return Promise.resolve();
    });
  }
}

/** Files SQLite keeps beside the database. */
const DATABASE_SIDE_FILES = ['-wal', '-shm', '-journal'];

/**
 * Makes `file` mode 0600: created so when `create` and missing, else changed when it exists
 * with any other mode. The descriptor is opened without following a symlink.
 */
function restrictToOwner(file: string, create: boolean): void {
  let fd: number;
  try {
    fd = openSync(
      file,
      constants.O_RDWR | constants.O_NOFOLLOW | (create ? constants.O_CREAT : 0),
      0o600,
    );
  } catch (err) {
    if (!create && (err as NodeJS.ErrnoException).code === 'ENOENT') return;
    throw err;
  }
  try {
    if ((fstatSync(fd).mode & 0o777) !== 0o600) fchmodSync(fd, 0o600);
  } finally {
    closeSync(fd);
  }
}

function hostFromRow(row: Row): HostRecord {
  return {
    hostId: String(row.host_id),
    publicKey: JSON.parse(String(row.public_key)) as HostRecord['publicKey'],
    fingerprint: String(row.fingerprint),
    enrolledAt: num(row.enrolled_at),
    revokedAt: optNum(row.revoked_at),
    lastSeenAt: optNum(row.last_seen_at),
    agentVersion: optStr(row.agent_version),
    optIn:
      row.opt_in === null ? undefined : (JSON.parse(String(row.opt_in)) as HostRecord['optIn']),
    capabilities: JSON.parse(String(row.capabilities)) as string[],
  };
}

function operatorTokenFromRow(row: Row): OperatorTokenRecord {
  return {
    id: String(row.id),
    name: String(row.name),
    role: String(row.role) as Role,
    hash: String(row.hash),
    createdAt: num(row.created_at),
    revokedAt: optNum(row.revoked_at),
  };
}

// JSON drops `undefined` members; the records' optional-but-present fields come back explicit.
function laneFromJson(text: string): LaneRecord {
  const r = JSON.parse(text) as LaneRecord;
  return {
    ...r,
    purpose: r.purpose ?? 'pool',
    runnerId: orUndef(r.runnerId),
    recovery: orUndef(r.recovery),
    lastError: orUndef(r.lastError),
  };
}

function commandFromJson(text: string): CommandRecord {
  const r = JSON.parse(text) as CommandRecord;
  return { ...r, result: orUndef(r.result), completedAt: orUndef(r.completedAt) };
}
