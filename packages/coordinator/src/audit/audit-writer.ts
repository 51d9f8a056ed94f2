/**
 * One place that writes the coordinator's own audit records, so every caller fills the same
 * fields, and parameters, message and recovery are redacted (shared's `redactAuditEntry`) before
 * they are stored.
 */
import { redactAuditEntry } from '@launchplane/shared';
import type { AuditOutcome, AuditRecord, ErrorCode } from '@launchplane/shared';
import type { NewAuditRecord, StoreData } from '../ports/store.js';

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
export function writeAudit(store: StoreData, now: number, entry: AuditEntry): Promise<AuditRecord> {
  return store.appendAudit(auditRecordOf(now, entry));
}

/** The redacted record {@link writeAudit} stores for `entry` at `now`. */
export function auditRecordOf(now: number, entry: AuditEntry): NewAuditRecord {
  const clean = redactAuditEntry({
    params: entry.params ?? {},
    message: entry.message,
    recovery: entry.recovery,
  });
  return {
    at: now,
    actor: entry.actor.slice(0, 128),
    action: entry.action.slice(0, 64),
    params: clean.params,
    dryRun: entry.dryRun ?? false,
    outcome: entry.outcome,
    ...(entry.hostId === undefined ? {} : { hostId: entry.hostId }),
    ...(entry.laneId === undefined ? {} : { laneId: entry.laneId }),
    ...(entry.code === undefined ? {} : { code: entry.code }),
    ...(clean.message === undefined ? {} : { message: clean.message.slice(0, 4096) }),
    ...(clean.recovery === undefined ? {} : { recovery: clean.recovery.slice(0, 4096) }),
  };
}
