/**
 * Read access to the local ledger for CLI commands that must work with or without a running
 * daemon (`lanes`, `audit`, `status`). These never build an `AgentCore`: that would run crash
 * recovery beside the daemon's own.
 */
import { existsSync } from 'node:fs';
import type { AuditRecord, LaneReport } from '@launchplane/shared';
import { locateDataFile } from '../config/data-dir.js';
import { laneReport } from '../ledger/lane-record.js';
import { Ledger } from '../ledger/ledger.js';
import type { AuditVerdict } from '../ledger/audit-log.js';

/** The ledger path in `dataDir` (in `private/`, or where a host not migrated yet keeps it). */
export function ledgerPath(dataDir: string): string {
  return locateDataFile(dataDir, 'ledger');
}

/** Runs `fn` on the ledger; resolves to `empty` when the host has no ledger yet. */
export function withLedger<T>(dataDir: string, empty: T, fn: (ledger: Ledger) => T): T {
  const path = ledgerPath(dataDir);
  if (!existsSync(path)) return empty;
  const ledger = Ledger.open(path);
  try {
    return fn(ledger);
  } finally {
    ledger.close();
  }
}

/** Owned lanes (not removed), as reports. */
export function readLanes(dataDir: string): LaneReport[] {
  return withLedger(dataDir, [], (l) => l.lanes.active().map((lane) => laneReport(lane)));
}

/** The audit log and, when asked, the verdict on its hash chain. */
export function readAudit(
  dataDir: string,
  verify: boolean,
): { records: AuditRecord[]; verdict: AuditVerdict | undefined } {
  return withLedger(dataDir, { records: [], verdict: verify ? { ok: true } : undefined }, (l) => ({
    records: l.audit.all(),
    verdict: verify ? l.audit.verify() : undefined,
  }));
}
