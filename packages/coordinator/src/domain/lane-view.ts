/**
 * One lane as the planner sees it — the coordinator's record, its agent's report and its GitHub
 * runner — and the small rules about lane states that the planner's parts share. Pure.
 */
import type { LaneReport, LaneState } from '@launchplane/shared';
import type { GitHubRunner } from '../ports/github-runners.js';
import type { LaneRecord } from '../ports/store.js';

export interface LaneView {
  record: LaneRecord;
  report: LaneReport | undefined;
  runner: GitHubRunner | undefined;
  /** The lane's scope could be listed on GitHub. */
  observable: boolean;
}

/** States in which a lane holds one of its pool's slots on its host. */
export function holdsSlot(state: LaneState): boolean {
  return state !== 'removed' && state !== 'completed' && state !== 'stopping';
}

/** States a saga is in the middle of; the planner leaves such lanes to it. */
export function inFlight(state: LaneState): boolean {
  return (
    state === 'pending' ||
    state === 'provisioning' ||
    state === 'starting' ||
    state === 'restarting' ||
    state === 'stopping'
  );
}

/** Whether the lane's record, its agent or GitHub says it runs a job. */
export function saysBusy(v: Pick<LaneView, 'record' | 'report' | 'runner'>): boolean {
  return (
    v.record.state === 'busy' ||
    v.report?.state === 'busy' ||
    v.report?.local?.busy === true ||
    v.runner?.busy === true
  );
}

/** Which lanes go first when a pool shrinks: dead ones, then idle ones, newest first; busy last. */
export function removalOrder(a: LaneView, b: LaneView): number {
  return (
    rank(a) - rank(b) ||
    b.record.createdAt - a.record.createdAt ||
    cmp(b.record.laneId, a.record.laneId)
  );
}

function rank(v: LaneView): number {
  if (v.record.state === 'failed') return 0;
  if (v.record.state === 'unhealthy' || v.report?.state === 'unhealthy') return 1;
  if (saysBusy(v)) return 4;
  if (inFlight(v.record.state)) return 2;
  return 3;
}

function cmp(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
