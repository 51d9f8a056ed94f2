/**
 * What one executed (or dry-run) action reports: the same shape for the API, the CLI and the
 * reconciler's log. Commands in it are redacted: a report never carries a secret.
 */
import type { Command, ErrorBody } from '@launchplane/shared';
import type { LaneRecord } from '../ports/store.js';

export type ActionKind = 'create' | 'drain' | 'restart' | 'remove' | 'repair-labels';

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

export const REDACTED = '[redacted]';

/** A command as it may be shown: runner secrets replaced. */
export function redactCommand(cmd: Command): Command {
  if (cmd.type !== 'lane.create') return cmd;
  const runner =
    'jitConfig' in cmd.runner
      ? { jitConfig: REDACTED }
      : { url: cmd.runner.url, registrationToken: REDACTED };
  return { ...cmd, runner };
}
