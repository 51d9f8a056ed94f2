/**
 * `CoordinatorStore` on SQLite (better-sqlite3, WAL, synchronous=FULL), with the unit of work of
 * ports/store.ts.
 *
 * One connection. better-sqlite3 is synchronous while the port is async, so a transaction holds
 * the connection from BEGIN IMMEDIATE to COMMIT across its awaits, and every call on the outer
 * store waits (first come, first served) until no transaction holds it: no statement from
 * outside lands inside someone else's open transaction. When nothing holds it, a call runs at
 * once. A transaction's statements run through its own handle (`SqliteTx`), at the moment they
 * are called, without waiting; the outer store called from inside the transaction refuses
 * instead of waiting forever, and the handle refuses once the transaction ended
 * (`adapters/unit-of-work.ts`). BEGIN IMMEDIATE takes SQLite's write lock up front, so a
 * transaction is serializable and never fails half-way for a lock another process took.
 *
 * Every statement is prepared once, when the store opens ({@link SqliteStatements}); the list
 * queries build their SQL from the filters given and keep one prepared statement per distinct
 * text. List values and limits are bound parameters (a list as a JSON array read through
 * `json_each`), so the texts are a few dozen at most, whatever the values.
 */
import { closeSync, constants, fchmodSync, fstatSync, openSync } from 'node:fs';
import Database from 'better-sqlite3';
import type { Database as Db, Statement } from 'better-sqlite3';
import { LaunchplaneError } from '@launchplane/shared';
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
  StoreData,
  StoreTx,
} from '../../ports/store.js';
import { TxContexts, TxLife } from '../unit-of-work.js';
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

/** `fn()`, run now, as a promise: its value, or a rejection with what it threw. */
const settle = <T>(fn: () => T | Promise<T>): Promise<T> =>
  new Promise<T>((resolve) => resolve(fn()));

/** `WHERE a AND b …`, or nothing. */
const whereClause = (where: readonly string[]): string =>
  where.length > 0 ? `WHERE ${where.join(' AND ')}` : '';

/** The connection's statements, each prepared once. */
class SqliteStatements {
  readonly begin: Statement;
  readonly commit: Statement;
  readonly rollback: Statement;
  readonly getMeta: Statement;
  readonly setMeta: Statement;
  readonly putHost: Statement;
  readonly getHost: Statement;
  readonly listHosts: Statement;
  readonly putOperatorToken: Statement;
  readonly getOperatorToken: Statement;
  readonly listOperatorTokens: Statement;
  readonly putEnrollmentToken: Statement;
  readonly getEnrollmentToken: Statement;
  readonly addPolicyVersion: Statement;
  readonly currentPolicy: Statement;
  readonly putLane: Statement;
  readonly getLane: Statement;
  readonly nextCommandSeq: Statement;
  readonly putCommand: Statement;
  readonly getCommand: Statement;
  readonly putAgentEvent: Statement;
  readonly appendAudit: Statement;
  readonly updateAudit: Statement;
  readonly getJob: Statement;
  readonly putJob: Statement;
  readonly recordDelivery: Statement;
  /** Both retention deletes, as one transaction (a savepoint inside an open one). */
  readonly prune: (p: JobPruning) => { jobs: number; deliveries: number };
  readonly #db: Db;
  /** The list queries' statements by SQL text. */
  readonly #built = new Map<string, Statement>();

  constructor(db: Db) {
    this.#db = db;
    const p = (sql: string): Statement => db.prepare(sql);
    this.begin = p('BEGIN IMMEDIATE');
    this.commit = p('COMMIT');
    this.rollback = p('ROLLBACK');
    this.getMeta = p('SELECT value FROM meta WHERE key = ?');
    this.setMeta = p(
      'INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value',
    );
    this.putHost = p(
      `INSERT INTO hosts (host_id, public_key, fingerprint, enrolled_at, revoked_at, last_seen_at,
         agent_version, opt_in, capabilities)
       VALUES (@hostId, @publicKey, @fingerprint, @enrolledAt, @revokedAt, @lastSeenAt,
         @agentVersion, @optIn, @capabilities)
       ON CONFLICT (host_id) DO UPDATE SET public_key = excluded.public_key,
         fingerprint = excluded.fingerprint, enrolled_at = excluded.enrolled_at,
         revoked_at = excluded.revoked_at, last_seen_at = excluded.last_seen_at,
         agent_version = excluded.agent_version, opt_in = excluded.opt_in,
         capabilities = excluded.capabilities`,
    );
    this.getHost = p('SELECT * FROM hosts WHERE host_id = ?');
    this.listHosts = p('SELECT * FROM hosts ORDER BY host_id');
    this.putOperatorToken = p(
      `INSERT INTO operator_tokens (id, name, role, hash, created_at, revoked_at)
       VALUES (@id, @name, @role, @hash, @createdAt, @revokedAt)
       ON CONFLICT (id) DO UPDATE SET name = excluded.name, role = excluded.role,
         hash = excluded.hash, created_at = excluded.created_at, revoked_at = excluded.revoked_at`,
    );
    this.getOperatorToken = p('SELECT * FROM operator_tokens WHERE id = ?');
    this.listOperatorTokens = p('SELECT * FROM operator_tokens ORDER BY created_at, id');
    this.putEnrollmentToken = p(
      `INSERT INTO enrollment_tokens (id, host_id, hash, created_at, expires_at, used_at, created_by)
       VALUES (@id, @hostId, @hash, @createdAt, @expiresAt, @usedAt, @createdBy)
       ON CONFLICT (id) DO UPDATE SET host_id = excluded.host_id, hash = excluded.hash,
         created_at = excluded.created_at, expires_at = excluded.expires_at,
         used_at = excluded.used_at, created_by = excluded.created_by`,
    );
    this.getEnrollmentToken = p('SELECT * FROM enrollment_tokens WHERE id = ?');
    this.addPolicyVersion = p(
      'INSERT INTO policy_versions (digest, text, created_at, actor) VALUES (@digest, @text, @createdAt, @actor)',
    );
    this.currentPolicy = p('SELECT * FROM policy_versions ORDER BY version DESC LIMIT 1');
    this.putLane = p(
      `INSERT INTO lanes (lane_id, host_id, pool, state, purpose, record)
       VALUES (?, ?, ?, ?, ?, ?)
       ON CONFLICT (lane_id) DO UPDATE SET host_id = excluded.host_id, pool = excluded.pool,
         state = excluded.state, purpose = excluded.purpose, record = excluded.record`,
    );
    this.getLane = p('SELECT record FROM lanes WHERE lane_id = ?');
    this.nextCommandSeq = p(
      `INSERT INTO command_seq (host_id, last_seq) VALUES (?, 1)
       ON CONFLICT (host_id) DO UPDATE SET last_seq = last_seq + 1 RETURNING last_seq`,
    );
    this.putCommand = p(
      `INSERT INTO commands (jti, host_id, seq, record) VALUES (?, ?, ?, ?)
       ON CONFLICT (jti) DO UPDATE SET record = excluded.record`,
    );
    this.getCommand = p('SELECT record FROM commands WHERE jti = ?');
    this.putAgentEvent = p(
      'INSERT OR IGNORE INTO agent_events (host_id, seq, payload, received_at) VALUES (?, ?, ?, ?)',
    );
    this.appendAudit = p('INSERT INTO audit (at, host_id, lane_id, record) VALUES (?, ?, ?, ?)');
    this.updateAudit = p(
      'UPDATE audit SET at = ?, host_id = ?, lane_id = ?, record = ? WHERE seq = ?',
    );
    this.getJob = p('SELECT record FROM jobs WHERE job_id = ?');
    this.putJob = p(
      `INSERT INTO jobs (job_id, repository, owner, status, queued_at, started_at,
         completed_at, seen_at, record)
       VALUES (@id, @repository, @owner, @status, @queuedAt, @startedAt, @completedAt,
         @seenAt, @record)
       ON CONFLICT (job_id) DO UPDATE SET repository = excluded.repository,
         owner = excluded.owner, status = excluded.status, queued_at = excluded.queued_at,
         started_at = excluded.started_at, completed_at = excluded.completed_at,
         seen_at = excluded.seen_at, record = excluded.record`,
    );
    this.recordDelivery = p(
      'INSERT OR IGNORE INTO webhook_deliveries (delivery_id, received_at) VALUES (?, ?)',
    );
    const pruneJobs = p(
      "DELETE FROM jobs WHERE (status = 'completed' AND completed_at < ?) OR seen_at < ?",
    );
    const pruneDeliveries = p('DELETE FROM webhook_deliveries WHERE received_at < ?');
    const prune = db.transaction((r: JobPruning) => ({
      jobs: pruneJobs.run(r.completedBefore, r.seenBefore).changes,
      deliveries: pruneDeliveries.run(r.deliveriesBefore).changes,
    }));
    this.prune = (r) => prune.immediate(r);
  }

  /** The statement of a list query's SQL text, prepared the first time that text is seen. */
  built(sql: string): Statement {
    let stmt = this.#built.get(sql);
    if (stmt === undefined) {
      stmt = this.#db.prepare(sql);
      this.#built.set(sql, stmt);
    }
    return stmt;
  }

  /** How many list-query statements are kept. */
  get builtCount(): number {
    return this.#built.size;
  }
}

/**
 * The data methods, written once for the outer store and for a transaction's handle; each runs
 * its statements through {@link run}, which is where the two differ.
 */
abstract class SqliteData implements StoreData {
  protected readonly sql: SqliteStatements;
  protected readonly auditPageSize: number;

  protected constructor(sql: SqliteStatements, auditPageSize: number) {
    this.sql = sql;
    this.auditPageSize = auditPageSize;
  }

  /** Runs synchronous statements under this side's rule; never throws, rejects instead. */
  protected abstract run<T>(fn: () => T): Promise<T>;

  getMeta(key: string): Promise<string | undefined> {
    return this.run(() => {
      const row = this.sql.getMeta.get(key) as Row | undefined;
      return row === undefined ? undefined : String(row.value);
    });
  }

  setMeta(key: string, value: string): Promise<void> {
    return this.run(() => {
      this.sql.setMeta.run(key, value);
    });
  }

  putHost(host: HostRecord): Promise<void> {
    return this.run(() => {
      this.sql.putHost.run({
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
      const row = this.sql.getHost.get(hostId) as Row | undefined;
      return row === undefined ? undefined : hostFromRow(row);
    });
  }

  listHosts(): Promise<HostRecord[]> {
    return this.run(() => (this.sql.listHosts.all() as Row[]).map(hostFromRow));
  }

  putOperatorToken(token: OperatorTokenRecord): Promise<void> {
    return this.run(() => {
      this.sql.putOperatorToken.run({ ...token, revokedAt: nul(token.revokedAt) });
    });
  }

  getOperatorToken(id: string): Promise<OperatorTokenRecord | undefined> {
    return this.run(() => {
      const row = this.sql.getOperatorToken.get(id) as Row | undefined;
      return row === undefined ? undefined : operatorTokenFromRow(row);
    });
  }

  listOperatorTokens(): Promise<OperatorTokenRecord[]> {
    return this.run(() => (this.sql.listOperatorTokens.all() as Row[]).map(operatorTokenFromRow));
  }

  putEnrollmentToken(token: EnrollmentTokenRecord): Promise<void> {
    return this.run(() => {
      this.sql.putEnrollmentToken.run({ ...token, usedAt: nul(token.usedAt) });
    });
  }

  getEnrollmentToken(id: string): Promise<EnrollmentTokenRecord | undefined> {
    return this.run(() => {
      const row = this.sql.getEnrollmentToken.get(id) as Row | undefined;
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
      const info = this.sql.addPolicyVersion.run(policy);
      return { version: Number(info.lastInsertRowid), ...policy };
    });
  }

  currentPolicy(): Promise<PolicyVersionRecord | undefined> {
    return this.run(() => {
      const row = this.sql.currentPolicy.get() as Row | undefined;
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
      this.sql.putLane.run(
        lane.laneId,
        lane.hostId,
        lane.pool,
        lane.state,
        lane.purpose,
        JSON.stringify(lane),
      );
    });
  }

  getLane(laneId: string): Promise<LaneRecord | undefined> {
    return this.run(() => {
      const row = this.sql.getLane.get(laneId) as Row | undefined;
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
      const sql = `SELECT record FROM lanes ${whereClause(where)} ORDER BY host_id, lane_id`;
      return (this.sql.built(sql).all(...args) as Row[]).map((r) => laneFromJson(String(r.record)));
    });
  }

  nextCommandSeq(hostId: string): Promise<number> {
    return this.run(() => num((this.sql.nextCommandSeq.get(hostId) as Row).last_seq));
  }

  putCommand(command: CommandRecord): Promise<void> {
    return this.run(() => {
      this.sql.putCommand.run(command.jti, command.hostId, command.seq, JSON.stringify(command));
    });
  }

  getCommand(jti: string): Promise<CommandRecord | undefined> {
    return this.run(() => {
      const row = this.sql.getCommand.get(jti) as Row | undefined;
      return row === undefined ? undefined : commandFromJson(String(row.record));
    });
  }

  putAgentEvent(
    hostId: string,
    seq: number,
    payload: unknown,
    receivedAt: number,
  ): Promise<boolean> {
    return this.run(
      () =>
        this.sql.putAgentEvent.run(hostId, seq, JSON.stringify(payload), receivedAt).changes === 1,
    );
  }

  appendAudit(record: NewAuditRecord): Promise<AuditRecord> {
    return this.run(() => {
      const info = this.sql.appendAudit.run(
        record.at,
        nul(record.hostId),
        nul(record.laneId),
        JSON.stringify(record),
      );
      return { seq: Number(info.lastInsertRowid), ...record };
    });
  }

  updateAudit(seq: number, record: NewAuditRecord): Promise<void> {
    return this.run(() => {
      this.sql.updateAudit.run(
        record.at,
        nul(record.hostId),
        nul(record.laneId),
        JSON.stringify(record),
        seq,
      );
    });
  }

  getJob(jobId: number): Promise<JobRecord | undefined> {
    return this.run(() => {
      const row = this.sql.getJob.get(jobId) as Row | undefined;
      return row === undefined ? undefined : (JSON.parse(String(row.record)) as JobRecord);
    });
  }

  putJob(job: JobRecord): Promise<void> {
    return this.run(() => {
      const repository = job.repository.toLowerCase();
      this.sql.putJob.run({
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
      // One parameter per list (a JSON array), so the SQL text does not vary with its length.
      const inList = (column: string, values: readonly string[]): string => {
        args.push(JSON.stringify(values));
        return `${column} IN (SELECT value FROM json_each(?))`;
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
      args.push(Math.max(1, Math.min(query.limit ?? 10_000, 100_000)));
      const sql = `SELECT record FROM jobs ${whereClause(where)} ORDER BY queued_at, job_id LIMIT ?`;
      return (this.sql.built(sql).all(...args) as Row[]).map(
        (r) => JSON.parse(String(r.record)) as JobRecord,
      );
    });
  }

  recordDelivery(deliveryId: string, receivedAt: number): Promise<boolean> {
    return this.run(() => this.sql.recordDelivery.run(deliveryId, receivedAt).changes === 1);
  }

  pruneJobs(p: JobPruning): Promise<{ jobs: number; deliveries: number }> {
    return this.run(() => this.sql.prune(p));
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
      args.push(Math.max(1, Math.min(query.limit ?? this.auditPageSize, 100_000)));
      const order = query.afterSeq === undefined ? 'DESC' : 'ASC';
      const sql = `SELECT seq, record FROM audit ${whereClause(where)} ORDER BY seq ${order} LIMIT ?`;
      const rows = (this.sql.built(sql).all(...args) as Row[]).map((r) => ({
        seq: num(r.seq),
        ...(JSON.parse(String(r.record)) as NewAuditRecord),
      }));
      return order === 'DESC' ? rows.reverse() : rows;
    });
  }
}

/**
 * The handle of one open transaction: its statements run on the connection the transaction
 * holds, at once. Refuses once the transaction ended.
 */
class SqliteTx extends SqliteData implements StoreTx {
  readonly #life: TxLife;

  constructor(sql: SqliteStatements, auditPageSize: number, life: TxLife) {
    super(sql, auditPageSize);
    this.#life = life;
  }

  protected run<T>(fn: () => T): Promise<T> {
    return settle(() => {
      this.#life.assertOpen();
      return fn();
    });
  }
}

/** The SQLite implementation of {@link CoordinatorStore}. */
export class SqliteCoordinatorStore extends SqliteData implements CoordinatorStore {
  readonly #db: Db;
  readonly #contexts = new TxContexts();
  /** Whether a transaction holds the connection (from its BEGIN to its COMMIT or ROLLBACK). */
  #held = false;
  /** Calls waiting for the connection, oldest first; each runs synchronously when its turn comes. */
  readonly #waiting: (() => void)[] = [];
  #closed = false;

  private constructor(db: Db, auditPageSize: number) {
    super(new SqliteStatements(db), auditPageSize);
    this.#db = db;
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
      return new SqliteCoordinatorStore(db, opts.auditPageSize ?? 1000);
    } catch (err) {
      db.close();
      throw err;
    }
  }

  /** The schema version of the open database. */
  schemaVersion(): number {
    return this.#db.pragma('user_version', { simple: true }) as number;
  }

  /** How many list-query statements are prepared (bounded by the filters' combinations). */
  builtStatementCount(): number {
    return this.sql.builtCount;
  }

  /**
   * Runs `fn` synchronously once no transaction holds the connection and every call that came
   * before ran; at once when that is now. Refuses a call from inside one of this store's open
   * transactions, which would otherwise wait for itself.
   */
  #whenFree<T>(fn: () => T): Promise<T> {
    const guarded = (): T => {
      if (this.#closed) {
        throw new LaunchplaneError('LP_INTERNAL', 'The coordinator store is closed');
      }
      return fn();
    };
    return settle(() => {
      this.#contexts.assertOutside();
      if (!this.#held && this.#waiting.length === 0) return guarded();
      return new Promise<T>((resolve, reject) => {
        this.#waiting.push(() => {
          settle(guarded).then(resolve, reject);
        });
      });
    });
  }

  /** Lets the waiting calls run, in order, until one of them is a transaction that holds. */
  #release(): void {
    this.#held = false;
    for (let next = this.#waiting.shift(); next !== undefined; next = this.#waiting.shift()) {
      next();
      if (this.#held) return;
    }
  }

  protected run<T>(fn: () => T): Promise<T> {
    return this.#whenFree(fn);
  }

  /**
   * Runs `fn` in one BEGIN IMMEDIATE transaction on the store's connection, with a handle that
   * is valid until it ends. Calls on this store from inside `fn` reject (LP_INTERNAL).
   */
  async transaction<T>(fn: (tx: StoreTx) => Promise<T>): Promise<T> {
    const life = await this.#whenFree(() => {
      this.sql.begin.run();
      this.#held = true;
      return new TxLife();
    });
    try {
      const value = await this.#contexts.run(life, () =>
        fn(new SqliteTx(this.sql, this.auditPageSize, life)),
      );
      life.end();
      this.sql.commit.run();
      return value;
    } catch (err) {
      life.end();
      if (this.#db.inTransaction) this.sql.rollback.run();
      throw err;
    } finally {
      this.#release();
    }
  }

  close(): Promise<void> {
    return this.#whenFree(() => {
      this.#closed = true;
      this.#db.close();
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
