/**
 * One place that writes the coordinator's own audit records, so every caller fills the same
 * fields and parameters are redacted before they are stored.
 */
import type { AuditOutcome, AuditRecord, ErrorCode } from '@launchplane/shared';
import type { CoordinatorStore, NewAuditRecord } from '../ports/store.js';

const SECRET_KEYS = new Set([
  'token',
  'jitConfig',
  'encodedJitConfig',
  'registrationToken',
  'secret',
  'authorization',
  'privateKey',
  'proof',
]);

/** Replaces the value of every secret-named member (at any depth) with `[redacted]`. */
export function redact(value: unknown, depth = 0): unknown {
  if (depth > 16) return '[redacted]';
  if (Array.isArray(value)) return value.map((v) => redact(v, depth + 1));
  if (typeof value === 'object' && value !== null) {
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(value)) {
      out[k] = SECRET_KEYS.has(k) ? '[redacted]' : redact(v, depth + 1);
    }
    return out;
  }
  return value;
}

/** What a caller says about one audited act. */
export interface AuditEntry {
  actor: string;
  action: string;
  outcome: AuditOutcome;
  hostId?: string | undefined;
  laneId?: string | undefined;
  params?: Record<string, unknown>;
  dryRun?: boolean;
  code?: ErrorCode | undefined;
  message?: string | undefined;
  recovery?: string | undefined;
}

/** Appends one redacted audit record at `now` (Unix seconds). */
export function writeAudit(
  store: CoordinatorStore,
  now: number,
  entry: AuditEntry,
): Promise<AuditRecord> {
  return store.appendAudit(auditRecordOf(now, entry));
}

/** The redacted record {@link writeAudit} stores for `entry` at `now`. */
export function auditRecordOf(now: number, entry: AuditEntry): NewAuditRecord {
  return {
    at: now,
    actor: entry.actor.slice(0, 128),
    action: entry.action.slice(0, 64),
    params: redact(entry.params ?? {}) as Record<string, unknown>,
    dryRun: entry.dryRun ?? false,
    outcome: entry.outcome,
    ...(entry.hostId === undefined ? {} : { hostId: entry.hostId }),
    ...(entry.laneId === undefined ? {} : { laneId: entry.laneId }),
    ...(entry.code === undefined ? {} : { code: entry.code }),
    ...(entry.message === undefined ? {} : { message: entry.message.slice(0, 4096) }),
    ...(entry.recovery === undefined ? {} : { recovery: entry.recovery.slice(0, 4096) }),
  };
}
