/**
 * The coordinator's durable state, behind one interface. SQLite implements it now
 * (`adapters/sqlite`); PostgreSQL can implement the same interface later, so every method is
 * async and nothing here assumes SQLite.
 *
 * Unit of work (docs/design/architecture.md "The store"):
 *
 * - `store.transaction(fn)` runs `fn` in one transaction that owns its connection: SQLite's one
 *   connection under BEGIN IMMEDIATE, or a connection taken from a PostgreSQL pool under
 *   BEGIN ISOLATION LEVEL SERIALIZABLE. `fn` gets a {@link StoreTx} bound to that connection: the
 *   data methods only, no `transaction` (no nesting: nothing needs it) and no `close`. It commits
 *   when `fn` resolves and rolls back when it rejects.
 * - Inside `fn`'s async context the outer store refuses every call with LP_INTERNAL instead of
 *   waiting for the transaction that is waiting for it (a deadlock), or writing on another
 *   connection outside it. A `tx` used after its transaction ended refuses too (LP_INTERNAL):
 *   it never writes outside a transaction.
 * - A transaction is serializable: every call site reads, decides and writes in it (a revoke
 *   must win over a hello, an enrollment token is used once, a job merges with what is stored),
 *   so it must see no write of another transaction commit in between. An adapter that gets
 *   serialization failures (PostgreSQL SQLSTATE 40001, 40P01) may run `fn` again on a fresh
 *   transaction, so `fn` does nothing outside `tx` but compute and log.
 * - A call on the outer store is a transaction of its own (autocommit) and never runs inside
 *   another caller's open transaction.
 *
 * `adapters/store-contract.test-helper.ts` holds these rules as tests every adapter runs.
 */
import type {
  AuditRecord,
  Backend,
  LaneState,
  OptIn,
  PublicJwk,
  ResultPayload,
  Scope,
  ErrorBody,
} from '@launchplane/shared';
import type { DemandJob } from '../domain/demand.js';

export type Role = 'viewer' | 'operator' | 'admin';

export interface HostRecord {
  hostId: string;
  publicKey: PublicJwk;
  fingerprint: string;
  enrolledAt: number;
  revokedAt: number | undefined;
  lastSeenAt: number | undefined;
  agentVersion: string | undefined;
  /** From the host's last inventory. */
  optIn: OptIn | undefined;
  capabilities: string[];
}

export interface OperatorTokenRecord {
  /** Public id (also the token's prefix); used as the audit actor. */
  id: string;
  name: string;
  role: Role;
  /** SHA-256 hex of the secret part; the secret itself is never stored. */
  hash: string;
  createdAt: number;
  revokedAt: number | undefined;
}

export interface EnrollmentTokenRecord {
  id: string;
  hostId: string;
  hash: string;
  createdAt: number;
  expiresAt: number;
  usedAt: number | undefined;
  createdBy: string;
}

export interface PolicyVersionRecord {
  version: number;
  /** `sha256:<hex>` over the canonical JSON of the parsed policy. */
  digest: string;
  text: string;
  createdAt: number;
  actor: string;
}

/**
 * Why a lane exists: `pool` lanes carry out the policy's pools; `smoke` lanes are the disposable
 * lanes of `launchplane smoke` (pool `lp-smoke`), which the planner and the reconciler never act
 * on (they only count them against their host's `maxLanes`).
 */
export type LanePurpose = 'pool' | 'smoke';

/** The coordinator's record of a lane. */
export interface LaneRecord {
  laneId: string;
  hostId: string;
  pool: string;
  purpose: LanePurpose;
  scope: Scope;
  backend: Backend;
  ephemeral: boolean;
  runnerName: string;
  /** Recorded as soon as GitHub assigns it; ownership of a runner is proven by this id. */
  runnerId: number | undefined;
  /** The canonical label set the lane should carry on GitHub. */
  labels: string[];
  state: LaneState;
  recovery: string | undefined;
  lastError: ErrorBody | undefined;
  createdAt: number;
  updatedAt: number;
}

export interface CommandRecord {
  jti: string;
  hostId: string;
  seq: number;
  type: string;
  laneId: string;
  dryRun: boolean;
  actor: string;
  sentAt: number;
  expiresAt: number;
  result: ResultPayload | undefined;
  completedAt: number | undefined;
}

export interface AuditQuery {
  hostId?: string;
  laneId?: string;
  /** Unix seconds. */
  since?: number;
  /** Only records with seq greater than this (for `--follow`). */
  afterSeq?: number;
  limit?: number;
}

/** An audit record before the store numbers it. */
export type NewAuditRecord = Omit<AuditRecord, 'seq'>;

/**
 * A GitHub Actions job as the job store keeps it: what the planner reads ({@link DemandJob}) and
 * what `launchplane jobs` and `why` show. Repository names are lowercased, as GitHub compares
 * them.
 */
export interface JobRecord extends DemandJob {
  /** The job's name in its workflow, when GitHub said. */
  name?: string;
  workflowName?: string;
  /** GitHub's web page of the job. */
  htmlUrl?: string;
  runnerGroupName?: string;
  /** `success`, `failure`, `cancelled`, … once completed. */
  conclusion?: string;
  /** Seconds from queued to in progress, once a runner took it (its queue wait). */
  waitSec?: number;
  /** Unix seconds GitHub last told the coordinator about this job (a delivery or a poll). */
  seenAt: number;
  /** Where that last word came from. */
  source: 'webhook' | 'poll';
}

/** Which jobs {@link JobStore.listJobs} returns; every given filter narrows the list. */
export interface JobQuery {
  statuses?: readonly DemandJob['status'][];
  /** Jobs of these repositories (`owner/name`, any case). With `owners`: of either. */
  repositories?: readonly string[];
  /** Jobs of every repository of these owners. */
  owners?: readonly string[];
  /** Completed jobs only when they completed at or after this (Unix seconds). */
  completedSince?: number;
  /** Only jobs a runner started at or after this (Unix seconds). */
  startedSince?: number;
  /** Most jobs returned, oldest queued first. Default 10 000. */
  limit?: number;
}

/** What {@link JobStore.pruneJobs} removes. */
export interface JobPruning {
  /** Completed jobs that completed before this (Unix seconds). */
  completedBefore: number;
  /** Any job GitHub said nothing about since before this. */
  seenBefore: number;
  /** Delivery ids received before this. */
  deliveriesBefore: number;
}

/** The job store: jobs and the webhook deliveries already taken. */
export interface JobStore {
  getJob(jobId: number): Promise<JobRecord | undefined>;
  /** Writes a job as given; merging with what is stored is the caller's (in one transaction). */
  putJob(job: JobRecord): Promise<void>;
  listJobs(query?: JobQuery): Promise<JobRecord[]>;
  /** Records a delivery id; false when it was recorded before (a duplicate or a replay). */
  recordDelivery(deliveryId: string, receivedAt: number): Promise<boolean>;
  /** Removes what retention lets go; returns how many jobs and delivery ids went. */
  pruneJobs(pruning: JobPruning): Promise<{ jobs: number; deliveries: number }>;
}

/**
 * Every data method of the store. The outer {@link CoordinatorStore} has them (each call its own
 * transaction), and so has the handle a transaction's function gets ({@link StoreTx}). Code that
 * only reads and writes takes this type, so it runs the same on either.
 */
export interface StoreData extends JobStore {
  getMeta(key: string): Promise<string | undefined>;
  setMeta(key: string, value: string): Promise<void>;

  putHost(host: HostRecord): Promise<void>;
  getHost(hostId: string): Promise<HostRecord | undefined>;
  listHosts(): Promise<HostRecord[]>;

  putOperatorToken(token: OperatorTokenRecord): Promise<void>;
  getOperatorToken(id: string): Promise<OperatorTokenRecord | undefined>;
  listOperatorTokens(): Promise<OperatorTokenRecord[]>;

  putEnrollmentToken(token: EnrollmentTokenRecord): Promise<void>;
  getEnrollmentToken(id: string): Promise<EnrollmentTokenRecord | undefined>;

  addPolicyVersion(policy: Omit<PolicyVersionRecord, 'version'>): Promise<PolicyVersionRecord>;
  currentPolicy(): Promise<PolicyVersionRecord | undefined>;

  putLane(lane: LaneRecord): Promise<void>;
  getLane(laneId: string): Promise<LaneRecord | undefined>;
  listLanes(filter?: {
    hostId?: string;
    pool?: string;
    purpose?: LanePurpose;
    includeRemoved?: boolean;
  }): Promise<LaneRecord[]>;

  /** The next command sequence number for a host (strictly increasing, survives restarts). */
  nextCommandSeq(hostId: string): Promise<number>;
  putCommand(command: CommandRecord): Promise<void>;
  getCommand(jti: string): Promise<CommandRecord | undefined>;

  /** Stores an agent event once; returns false when (hostId, seq) was already stored. */
  putAgentEvent(
    hostId: string,
    seq: number,
    payload: unknown,
    receivedAt: number,
  ): Promise<boolean>;

  /**
   * Numbers and stores a record. Numbers grow in commit order, so a reader following with
   * `afterSeq` never skips one that commits later under a smaller number (SQLite has one writer;
   * PostgreSQL needs the audit insert serialized, as a sequence alone does not give this).
   */
  appendAudit(record: NewAuditRecord): Promise<AuditRecord>;
  /**
   * Rewrites one record in place. Only for records that aggregate repeated events (a count per
   * source address and minute, see `server/audit-tally.ts`); every other record is append-only.
   */
  updateAudit(seq: number, record: NewAuditRecord): Promise<void>;
  listAudit(query: AuditQuery): Promise<AuditRecord[]>;
}

/**
 * The handle of one open transaction: the data methods, bound to the transaction's connection.
 * Valid until the transaction ends; a call after that rejects with LP_INTERNAL.
 */
export type StoreTx = StoreData;

export interface CoordinatorStore extends StoreData {
  /**
   * Runs `fn` in one serializable transaction; everything it does through `tx` commits or rolls
   * back together. Use only `tx` inside `fn`: the outer store rejects every call made from
   * `fn`'s async context (LP_INTERNAL), `transaction` included. `fn` may run more than once on a
   * database that retries serialization failures, so it acts on nothing but `tx` (and logs).
   */
  transaction<T>(fn: (tx: StoreTx) => Promise<T>): Promise<T>;

  /** Closes the store once the calls and transactions already started are done. */
  close(): Promise<void>;
}
