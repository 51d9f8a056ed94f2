/**
 * The steps of each lane operation, declared once (shared `runSteps`): how a step reads, the
 * journal entry written before it, the crash point after it, and what it does. A dry run is the
 * same list described, so it names exactly the steps a real run takes. The journal entries keep
 * their names and order: crash recovery (`lane-recovery.ts`) reads them. What a step does is done
 * by {@link LaneActions} (the lane service); the guardrails run before the first step.
 */
import { canTransition } from '@launchplane/shared';
import type { LaneCreateCommand, LaneEvent, Step } from '@launchplane/shared';
import type { LaneRecord } from '../ledger/lane-record.js';
import type { LaneBackend, ObjectObservation } from './lane-backend.js';
import { laneUserName, type SystemdRunAs, type UserIds } from './lane-users.js';
import { configArgs } from './run-config.js';

/** Called after each step of an operation; tests use it to crash the process there. */
export type CrashPoint = (step: CrashPointName) => void;

/** The name of a step in {@link CRASH_POINTS}. */
export type CrashPointName = (typeof CRASH_POINTS)[number];

/**
 * Every step after which {@link CrashPoint} is called: the ledger row of the step is committed and
 * its side effect done, the next step not begun. `launchplane-agent run` can be told to SIGKILL
 * itself at one of them (`LAUNCHPLANE_AGENT_CRASH_AT`) to test crash recovery on a real host.
 */
export const CRASH_POINTS = [
  'create:record',
  'create:layout',
  'create:configure',
  'create:install',
  'create:start',
  'stop:record',
  'stop:stop',
  'restart:record',
  'restart:restart',
  'remove:record',
  'remove:stop',
  'remove:uninstall',
  'remove:delete-dir',
] as const;

/** What every step of a lane operation works on: the lane (in a dry run, moved in memory only). */
export interface OpCtx {
  lane: LaneRecord;
  backend: LaneBackend;
  dry: boolean;
}

/** A create's context: what its steps learn on the way. */
export interface CreateCtx extends OpCtx {
  cmd: LaneCreateCommand;
  runAs: SystemdRunAs | undefined;
  /** The user a systemd lane runs as (`layout`). */
  owner: (UserIds & { name?: string }) | undefined;
  /** The host user a docker lane's container runs as (`install`). */
  runsAs: UserIds | undefined;
  /** The unit or container may exist: a rollback must look for it. */
  installed: boolean;
}

/** A step of a lane operation; its journal entry is written under the operation. */
export type LaneStep<C extends OpCtx = OpCtx> = Step<C, string, CrashPointName>;

/** What the steps do: the lane service's side effects. */
export interface LaneActions {
  /** Applies a transition: saved, or in a dry run only on the in-memory lane. */
  move(lane: LaneRecord, event: LaneEvent, dry: boolean): void;
  save(lane: LaneRecord): void;
  /** Whether the lane's object runs now. */
  running(ctx: OpCtx): Promise<boolean>;
  /** Calls the lane's backend; its failure becomes a coded backend error about `what`. */
  call(ctx: OpCtx, what: string, fn: (backend: LaneBackend) => Promise<unknown>): Promise<void>;
  /** A create's first ledger change: the lane `pending` and its `begin` entry, with `onAccept`. */
  record(lane: LaneRecord): void;
  layout(ctx: CreateCtx): Promise<void>;
  configure(ctx: CreateCtx): Promise<void>;
  install(ctx: CreateCtx): Promise<void>;
  /** Deletes the lane's directory and the user the agent made for it. */
  discardLaneFiles(lane: LaneRecord): Promise<void>;
}

const kindOf = (ctx: OpCtx): string => (ctx.backend.kind === 'systemd' ? 'unit' : 'container');

/**
 * A create: record → lay out → configure (persistent) → install → start. A docker lane's container
 * is made before config.sh runs, which runs as the user the image runs as. Record and lay out come
 * first for both: the steps after them touch only the lane's own directory, unit or container.
 */
export function createSteps(
  a: LaneActions,
  ctx: CreateCtx,
  template: string,
): [LaneStep<CreateCtx>, LaneStep<CreateCtx>, ...LaneStep<CreateCtx>[]] {
  const { lane, cmd } = ctx;
  const record: LaneStep<CreateCtx> = {
    name: 'record',
    describe: () => `record lane "${lane.laneId}" as pending in the ledger`,
    run: () => a.record(lane),
    crashPoint: 'create:record',
  };
  const layout: LaneStep<CreateCtx> = {
    name: 'layout',
    enter: () => a.move(lane, 'provision', ctx.dry),
    describe: ({ runAs }) => [
      ...(runAs?.kind === 'lane-users'
        ? [
            `make user "${laneUserName(lane.laneId)}" for the lane (uid from ${runAs.firstUid}-${runAs.lastUid})`,
          ]
        : []),
      `copy runner template "${template}" to "${lane.laneDir}" with job hooks`,
    ],
    journal: 'layout',
    run: () => a.layout(ctx),
    crashPoint: 'create:layout',
  };
  const configure: LaneStep<CreateCtx> = {
    name: 'configure',
    when: () => 'registrationToken' in cmd.runner,
    describe: () => configureLine(lane, cmd.runner),
    journal: 'configure',
    run: () => a.configure(ctx),
    crashPoint: 'create:configure',
  };
  const install: LaneStep<CreateCtx> = {
    name: 'install',
    describe: ({ runAs }) =>
      ctx.backend.kind === 'systemd'
        ? `write unit "${lane.objectName}" (X-Launchplane-Lane=${lane.laneId}${userStep(lane, runAs)})`
        : [
            `create container "${lane.objectName}" from image "${lane.docker?.image ?? ''}" with labels dev.launchplane.lane=${lane.laneId}`,
            `hand "${lane.laneDir}" to the user the image runs as (root only if allowed)`,
          ],
    journal: 'install',
    run: () => a.install(ctx),
    crashPoint: 'create:install',
  };
  const start: LaneStep<CreateCtx> = {
    name: 'start',
    enter: () => a.move(lane, 'start', ctx.dry),
    describe: () => `start ${kindOf(ctx)} "${lane.objectName}"`,
    journal: 'start',
    run: () => a.call(ctx, 'start', (b) => b.start(lane)),
    crashPoint: 'create:start',
  };
  return ctx.backend.kind === 'systemd'
    ? [record, layout, configure, install, start]
    : [record, layout, install, configure, start];
}

/** A start: (from rest) `restarting` → start the object unless it runs → `online`. */
export function startSteps(
  a: LaneActions,
  ctx: OpCtx,
  obs: ObjectObservation,
  fromRest: boolean,
): LaneStep[] {
  const { lane } = ctx;
  return [
    { ...recordRestart(a, ctx), when: () => fromRest },
    {
      name: 'already-running',
      when: () => obs.running,
      describe: () => `${lane.objectName} already runs`,
    },
    {
      name: 'start',
      when: () => !obs.running,
      describe: () => `start "${lane.objectName}"`,
      journal: 'start',
      run: () => a.call(ctx, 'start', (b) => b.start(lane)),
    },
    cameOnline(a, ctx, false),
  ];
}

/** A stop: `draining` → stop the object if it runs → `drained`. */
export function stopSteps(a: LaneActions, ctx: OpCtx, obs: ObjectObservation): LaneStep[] {
  const { lane } = ctx;
  const running = obs.exists && obs.running;
  return [
    {
      name: 'record',
      enter: () => {
        if (canTransition(lane.state, 'drain')) a.move(lane, 'drain', ctx.dry);
      },
      describe: () => `record the stop of lane "${lane.laneId}" in the ledger`,
      crashPoint: 'stop:record',
    },
    {
      name: 'not-running',
      when: () => !running,
      describe: () => `"${lane.objectName}" is not running`,
    },
    {
      name: 'stop',
      when: () => running,
      describe: () => `stop "${lane.objectName}"`,
      journal: 'stop',
      run: () => a.call(ctx, 'stop', (b) => b.stop(lane)),
      crashPoint: 'stop:stop',
    },
    {
      name: 'drained',
      when: () => lane.state === 'draining',
      enter: () => a.move(lane, 'drain-complete', ctx.dry),
      describe: () => `mark lane "${lane.laneId}" drained`,
    },
  ];
}

/** A restart: `restarting`, failures cleared → restart the object → `online` once it runs. */
export function restartSteps(a: LaneActions, ctx: OpCtx, obs: ObjectObservation): LaneStep[] {
  const { lane } = ctx;
  return [
    { ...recordRestart(a, ctx), crashPoint: 'restart:record' },
    {
      name: 'restart',
      describe: () => `restart "${lane.objectName}"`,
      journal: 'restart',
      run: async () => {
        await a.call(ctx, 'restart', (b) => (obs.running ? b.restart(lane) : b.start(lane)));
        lane.restarts += 1;
      },
      crashPoint: 'restart:restart',
    },
    cameOnline(a, ctx, true),
  ];
}

/**
 * A remove: `stopping` → stop and delete the object if it carries the lane's marker (else leave
 * it) → delete the dir and lane user → `removed`.
 */
export function removeSteps(
  a: LaneActions,
  ctx: OpCtx,
  obs: ObjectObservation,
  force: boolean,
): LaneStep[] {
  const { lane } = ctx;
  const kind = kindOf(ctx);
  const ours = obs.exists && obs.owned;
  return [
    {
      name: 'record',
      enter: () => {
        if (lane.state !== 'stopping') a.move(lane, 'stop', ctx.dry);
      },
      describe: () => `record lane "${lane.laneId}" as stopping in the ledger`,
      crashPoint: 'remove:record',
    },
    {
      name: 'stop',
      when: () => ours,
      describe: () => `stop ${kind} "${lane.objectName}"${force ? ' (forced)' : ''}`,
      journal: 'stop',
      run: () => a.call(ctx, 'stop', (b) => b.stop(lane)),
      crashPoint: 'remove:stop',
    },
    {
      name: 'uninstall',
      when: () => ours,
      describe: () => `delete ${kind} "${lane.objectName}"`,
      journal: 'uninstall',
      run: () => a.call(ctx, 'delete', (b) => b.uninstall(lane)),
      crashPoint: 'remove:uninstall',
    },
    {
      name: 'leave-object',
      when: () => obs.exists && !obs.owned,
      describe: () =>
        `leave ${kind} "${lane.objectName}" alone: it does not carry this lane's marker`,
    },
    {
      name: 'object-gone',
      when: () => !obs.exists,
      describe: () => `${kind} "${lane.objectName}" is already gone`,
    },
    {
      name: 'delete-dir',
      describe: () => [
        `delete directory "${lane.laneDir}"`,
        ...(lane.backend === 'systemd'
          ? [`delete user "${laneUserName(lane.laneId)}" if the agent made it for this lane`]
          : []),
      ],
      journal: 'delete-dir',
      run: () => a.discardLaneFiles(lane),
      crashPoint: 'remove:delete-dir',
    },
    {
      name: 'removed',
      enter: () => a.move(lane, 'stop-complete', ctx.dry),
      describe: () => `mark lane "${lane.laneId}" removed in the ledger`,
    },
  ];
}

/** The first step of a start from rest and of a restart: failures forgotten, `restarting`. */
function recordRestart(a: LaneActions, ctx: OpCtx): LaneStep {
  const { lane } = ctx;
  return {
    name: 'record',
    enter: () => {
      lane.failures = [];
      lane.nextRestartAtMs = undefined;
      lane.recovery = undefined;
      a.move(lane, 'restart', ctx.dry);
    },
    describe: () => `record lane "${lane.laneId}" as restarting in the ledger, failures cleared`,
  };
}

/**
 * The last step of a start or restart: a `restarting` lane whose object now runs is `online`;
 * otherwise the lane is saved as it is when `saveOtherwise` (a restart counted).
 */
function cameOnline(a: LaneActions, ctx: OpCtx, saveOtherwise: boolean): LaneStep {
  const { lane } = ctx;
  return {
    name: 'came-online',
    when: () => lane.state === 'restarting',
    describe: () => `mark lane "${lane.laneId}" online if "${lane.objectName}" then runs`,
    run: async () => {
      if (await a.running(ctx)) a.move(lane, 'came-online', false);
      else if (saveOtherwise) a.save(lane);
    },
  };
}

/** The `User=` a systemd lane's unit gets, for the steps of an operation. */
function userStep(lane: LaneRecord, runAs: SystemdRunAs | undefined): string {
  if (runAs?.kind === 'lane-users') return `, User=${laneUserName(lane.laneId)}`;
  if (runAs?.kind === 'shared') return `, User=${runAs.account.name}`;
  return '';
}

/** How a create's config.sh step reads: its arguments (the token is in its environment only). */
function configureLine(lane: LaneRecord, runner: LaneCreateCommand['runner']): string {
  if (!('registrationToken' in runner)) return 'register nothing: the JIT config is the runner';
  const args = configArgs({
    url: runner.url,
    name: lane.name,
    labels: lane.labels,
    runnerGroup: runner.runnerGroup,
  });
  return `run ${args.join(' ')} in "${lane.laneDir}" as the lane's user (token in its environment only)`;
}
