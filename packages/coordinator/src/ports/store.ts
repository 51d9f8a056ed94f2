/**
 * The coordinator's durable state, behind one interface. SQLite implements it now; PostgreSQL can
 * implement the same interface later (so every method is async, and `transaction` takes an async
 * function that receives the transactional store).
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

export interface CoordinatorStore extends JobStore {
  /** Runs `fn` atomically; everything it does through `tx` commits or rolls back together. */
  transaction<T>(fn: (tx: CoordinatorStore) => Promise<T>): Promise<T>;

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

  appendAudit(record: NewAuditRecord): Promise<AuditRecord>;
  /**
   * Rewrites one record in place. Only for records that aggregate repeated events (a count per
   * source address and minute, see `server/audit-tally.ts`); every other record is append-only.
   */
  updateAudit(seq: number, record: NewAuditRecord): Promise<void>;
  listAudit(query: AuditQuery): Promise<AuditRecord[]>;

  close(): Promise<void>;
}
