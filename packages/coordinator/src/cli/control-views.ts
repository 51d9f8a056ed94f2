/**
 * The shapes the control API answers with, as the CLI reads them (the server's types, without
 * importing server code into the CLI's printing paths).
 */
import type { ControlPlan, ErrorBody } from '@launchplane/shared';
import type { ActionReport } from '../control/action-report.js';
import type { ApplyJob, LaneJob, LaneListing, RunnerListing } from '../control/control-service.js';

export type { ActionReport, ApplyJob, ControlPlan, ErrorBody, LaneJob, LaneListing, RunnerListing };

/** `POST /v1/apply` with `wait` or `dryRun`. */
export interface ApplyAnswer {
  plan: ControlPlan;
  dryRun: boolean;
  ok: boolean;
  reports: ActionReport[];
}

/** One line per report: what happened to which lane, with the error when there is one. */
export function reportRows(reports: readonly ActionReport[]): string[][] {
  return reports.map((r) => [
    r.actionId ?? r.kind,
    r.outcome,
    r.laneId ?? '-',
    r.error === undefined ? (r.steps.at(-1) ?? '') : `${r.error.code}: ${r.error.message}`,
  ]);
}
