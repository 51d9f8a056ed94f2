/**
 * What one executed (or dry-run) action reports: the same shape for the API, the CLI and the
 * reconciler's log. Commands in it are redacted: a report never carries a secret.
 */
import { redactDeep } from '@launchplane/shared';
import type { Command, ErrorBody } from '@launchplane/shared';
import type { LaneRecord } from '../ports/store.js';

export type ActionKind = 'create' | 'drain' | 'restart' | 'remove' | 'repair-labels' | 'reclaim';

export interface ActionReport {
  kind: ActionKind;
  /** The plan's action id, when the action came from a plan. */
  actionId?: string;
  /** Empty when the lane named was not found. */
  hostId: string;
  pool?: string;
  laneId?: string;
  dryRun: boolean;
  /** The wait for idle was skipped on an operator's `--force`. */
  forced: boolean;
  ok: boolean;
  /** One word: `created`, `would-create`, `drained`, `removed`, `refused`, `failed`, `timeout`… */
  outcome: string;
  /** What was done, or for a dry run what would be done, in order. */
  steps: string[];
  /** Agent commands sent (or that a dry run would send), secrets replaced by `[redacted]`. */
  commands: Command[];
  lane?: LaneRecord;
  error?: ErrorBody;
}

/**
 * A command as it may be shown: every secret in it replaced by `[redacted]` (shared's
 * `redactDeep`), everything else kept, so the report still says which URL and runner group.
 */
export function redactCommand(cmd: Command): Command {
  return redactDeep(cmd) as Command;
}
