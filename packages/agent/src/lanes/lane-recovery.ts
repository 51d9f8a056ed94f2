/**
 * Crash recovery at start-up: every lane with an interrupted operation (open journal entry) or in a
 * transitional state is reconciled against what systemd or Docker really show, following
 * {@link decideRecovery}. Owned objects are cleaned only when their marker or labels match;
 * nothing is orphaned, nothing is duplicated, every decision is audited.
 */
import { isActive, isTransitional, transition } from '@launchplane/shared';
import type { LaneEvent } from '@launchplane/shared';
import { decideRecovery, type RecoveryAction } from '../domain/recovery-decision.js';
import { errorBodyOf } from '../errors.js';
import type { Ledger } from '../ledger/ledger.js';
import type { LaneRecord } from '../ledger/lane-record.js';
import type { Recorder } from '../ledger/recorder.js';
import type { Logger } from '../ports/logger.js';
import type { LaneService } from './lane-service.js';
import { exists } from './lane-layout.js';

/** Dependencies of {@link recoverLanes}. */
export interface RecoveryDeps {
  ledger: Ledger;
  lanes: LaneService;
  recorder: Recorder;
  logger: Logger;
}

/** One lane's recovery, for logs and tests. */
export interface RecoveredLane {
  laneId: string;
  action: RecoveryAction;
  from: string;
  to: string;
}

/** Reconciles every lane that needs it; returns what was done. */
export async function recoverLanes(deps: RecoveryDeps): Promise<RecoveredLane[]> {
  const { ledger, lanes, logger } = deps;
  const done: RecoveredLane[] = [];
  for (const lane of ledger.lanes.active()) {
    const open = ledger.journal.openOperation(lane.laneId);
    if (open === undefined && !isTransitional(lane.state) && !isActive(lane.state)) continue;
    let backend;
    try {
      backend = lanes.backendOf(lane.backend);
    } catch {
      logger.warn(
        { laneId: lane.laneId, backend: lane.backend },
        'Cannot recover lane: backend unavailable',
      );
      continue;
    }
    const from = lane.state;
    try {
      const obs = await backend.observe(lane);
      const action = decideRecovery(
        { state: lane.state, op: open?.op },
        {
          objectExists: obs.exists,
          objectOwned: obs.owned,
          dirExists: await exists(lane.laneDir),
        },
      );
      if (action === 'none') {
        if (open !== undefined) lanes.journal(lane, open.op, 'end');
        continue;
      }
      const touch = obs.exists && obs.owned;
      const op = open?.op ?? 'create';
      lanes.journal(lane, op, `recover:${action}`);
      let message: string;
      switch (action) {
        case 'forget':
          move(lane, ['stop', 'stop-complete']);
          message = 'was interrupted before anything was made; record retired';
          break;
        case 'rollback-removed':
          if (touch) await backend.uninstall(lane);
          await lanes.discardLaneFiles(lane);
          move(lane, ['stop', 'stop-complete']);
          message =
            'was interrupted while being created; what was made is cleaned up and the record retired';
          break;
        case 'rollback-failed':
          if (touch) await backend.uninstall(lane);
          await lanes.discardLaneFiles(lane);
          move(lane, ['fail']);
          lane.recovery = `Creating lane "${lane.laneId}" was interrupted by an agent restart; its unit or container and directory were cleaned up. Remove the lane (and its runner on GitHub, if registered) and create it again`;
          message = 'was interrupted while being created; cleaned up and marked failed';
          break;
        case 'finish-start':
          await backend.start(lane);
          message = 'was being started; started again';
          break;
        case 'finish-stop':
          if (touch) await backend.stop(lane);
          if (lane.state === 'draining') move(lane, ['drain-complete']);
          message = 'was being stopped; stop finished';
          break;
        case 'finish-remove':
          if (touch) {
            await backend.stop(lane);
            await backend.uninstall(lane);
          }
          await lanes.discardLaneFiles(lane);
          move(lane, lane.state === 'stopping' ? ['stop-complete'] : ['stop', 'stop-complete']);
          message = 'was being removed; removal finished';
          break;
        case 'mark-vanished':
          move(lane, ['fail']);
          lane.recovery = `The unit or container of lane "${lane.laneId}" vanished while the agent was down; remove the lane and let the coordinator create a new one`;
          message = 'lost its unit or container; marked failed';
          break;
      }
      lanes.save(lane);
      lanes.journal(lane, op, 'end');
      deps.recorder.audit({
        actor: 'agent',
        laneId: lane.laneId,
        action: 'lane.recover',
        params: {
          action,
          from,
          to: lane.state,
          ...(open === undefined ? {} : { op: open.op, lastStep: open.lastStep }),
        },
        dryRun: false,
        outcome: lane.state === 'failed' ? 'failed' : 'ok',
        message: `Lane "${lane.laneId}" ${message}`,
        ...(lane.recovery === undefined ? {} : { recovery: lane.recovery }),
      });
      done.push({ laneId: lane.laneId, action, from, to: lane.state });
    } catch (error) {
      const body = errorBodyOf(error);
      logger.error({ laneId: lane.laneId, error: body }, 'Recovery of lane failed');
      deps.recorder.audit({
        actor: 'agent',
        laneId: lane.laneId,
        action: 'lane.recover',
        params: { from },
        dryRun: false,
        outcome: 'failed',
        code: body.code,
        message: body.message,
        recovery:
          'The agent retries at its next start; or remove the lane locally (launchplane-agent lane remove --local)',
      });
    }
  }
  return done;
}

function move(lane: LaneRecord, events: readonly LaneEvent[]): void {
  for (const e of events) lane.state = transition(lane.state, e);
}
