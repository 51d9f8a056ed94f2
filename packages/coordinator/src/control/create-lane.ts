/**
 * The create saga (docs/design/architecture.md "Create"):
 * guardrails re-checked → lane recorded `pending` → a JIT
 * config (ephemeral) or a registration token (persistent) from GitHub → signed `lane.create` →
 * poll GitHub until the runner is `online` → `online`. On failure or deadline it undoes what it
 * made — the agent removes the lane (force: nothing runs on a lane that never came online), the
 * registration is deleted by its recorded runner id — and marks the lane `failed` with a recovery
 * hint. Nothing half-made stays. The runner id is only ever GitHub's: the JIT answer, or the one
 * runner GitHub lists with the lane's name and identity labels; a host's report never sets it.
 */
import {
  DEFAULT_RUNNER_GROUP_ID,
  type Backend,
  LaunchplaneError,
  REDACTED,
  grantedCapabilities,
  laneLabels,
  newLaneId,
  ownEntry,
  recordedRunnerMismatch,
  runnerName,
  toLaunchplaneError,
  type LaneCreateCommand,
  type Pool,
  type RunnerConfig,
  type Scope,
} from '@launchplane/shared';
import { checkLaneGuardrails, errorCodeForGuardrail, freeCapacity } from '../domain/guardrails.js';
import { customLabelsOf, poolScope } from '../domain/plan.js';
import type { GitHubRunner, RunnerGroup } from '../ports/github-runners.js';
import type { LaneRecord } from '../ports/store.js';
import { redactCommand, type ActionReport } from './action-report.js';
import { nowSec } from '@launchplane/shared';
import { requireCurrentPolicy } from './stored-policy.js';
import type { ControlDeps } from './control-deps.js';
import { deleteLaneRunner, findLaneRunnerByName, setLaneRunnerLabels } from './runner-guard.js';
import {
  Deadline,
  auditReport,
  errorBody,
  hostViewOf,
  isGoneOnHost,
  moveLane,
  pollUntil,
  runSaga,
  sendOk,
  updateLane,
  type SagaStep,
} from './saga-support.js';

/** What to create. */
export interface CreateLaneRequest {
  hostId: string;
  pool: string;
  actor: string;
  dryRun: boolean;
  /** The plan action this carries out, for the audit. */
  actionId?: string;
  signal?: AbortSignal;
  /**
   * Takes the new lane's lock before its record exists, so no other saga (an operator's remove
   * of a lane still `pending`) can act on it while it is being made; returns the release.
   */
  lockLane?: (laneId: string) => () => void;
  /** Called with each step's name as it begins (a dry run: as it is described). */
  onStep?: (name: string) => void;
  /**
   * Called once the lane is recorded (`pending`), when its host's capacity checks can see it. The
   * next create on the same host may start from here: its checks then count this lane.
   */
  onRecorded?: () => void;
}

/** States that hold a pool's slot on a host (as the planner counts them). */
const SLOT_STATES = new Set<LaneRecord['state']>([
  'pending',
  'provisioning',
  'starting',
  'online',
  'busy',
  'draining',
  'drained',
  'unhealthy',
  'restarting',
  'failed',
]);

/** Runs the create saga. Never throws for a refusal or failure: the report says what happened. */
export async function createLane(deps: ControlDeps, req: CreateLaneRequest): Promise<ActionReport> {
  const report: ActionReport = {
    kind: 'create',
    ...(req.actionId === undefined ? {} : { actionId: req.actionId }),
    hostId: req.hostId,
    pool: req.pool,
    dryRun: req.dryRun,
    forced: false,
    ok: false,
    outcome: 'refused',
    steps: [],
    commands: [],
  };
  let pool: Pool;
  let capabilities: readonly string[];
  let group: RunnerGroup | undefined;
  try {
    let ignored: string[];
    ({ pool, capabilities, ignored } = await checkCreate(deps, req));
    report.steps.push(...ignored);
    group = await resolveRunnerGroup(deps, req.pool, pool);
  } catch (err) {
    report.error = errorBody(err);
    await auditReport(deps, report, { actor: req.actor });
    return report;
  }
  const spec: LaneSpec = {
    hostId: req.hostId,
    pool: req.pool,
    purpose: 'pool',
    scope: poolScope(pool),
    backend: pool.backend,
    ephemeral: pool.ephemeral,
    ...(pool.docker === undefined ? {} : { docker: pool.docker }),
    group,
    labels: (laneId) =>
      laneLabels({
        coordinatorId: deps.coordinatorId,
        laneId,
        pool: req.pool,
        poolLabels: pool.labels,
        capabilities,
      }),
  };
  return makeLane(deps, spec, req, report);
}

/**
 * A lane to make, once its guardrails passed: what the create saga needs whether the lane serves
 * a policy pool or a smoke run.
 */
export interface LaneSpec {
  hostId: string;
  pool: string;
  purpose: LaneRecord['purpose'];
  scope: Scope;
  backend: Backend;
  ephemeral: boolean;
  docker?: LaneCreateCommand['docker'];
  /** Undefined for the default runner group. */
  group: RunnerGroup | undefined;
  /** The lane's canonical labels, which name its id. */
  labels: (laneId: string) => string[];
  /** Extra audit parameters (a smoke's id). */
  auditParams?: Record<string, unknown>;
}

/** What the create saga's steps work on and learn on the way. */
interface CreateCtx {
  deps: ControlDeps;
  spec: LaneSpec;
  req: Pick<CreateLaneRequest, 'actor' | 'dryRun' | 'signal'>;
  report: ActionReport;
  laneId: string;
  name: string;
  labels: string[];
  base: Omit<LaneCreateCommand, 'runner'>;
  /** The lane's record once `record` stored it. */
  lane: LaneRecord | undefined;
  /** The runner config for the host: from GitHub, or (dry run) with its secret `[redacted]`. */
  runner: RunnerConfig | undefined;
  /** The deadline to come online, from the moment the lane is recorded. */
  deadline: Deadline | undefined;
  /** The registration token handed to the host (secret; kept to drop it if the create fails). */
  registrationToken?: string;
}

/** The create saga, step by step; a dry run is this list described. */
const CREATE_STEPS: readonly [SagaStep<CreateCtx>, ...SagaStep<CreateCtx>[]] = [
  {
    name: 'record',
    describe: (c) => `record lane "${c.laneId}" (pending)`,
    run: async (c) => {
      const now = nowSec(c.deps.clock);
      c.lane = {
        laneId: c.laneId,
        hostId: c.spec.hostId,
        pool: c.spec.pool,
        purpose: c.spec.purpose,
        scope: c.spec.scope,
        backend: c.spec.backend,
        ephemeral: c.spec.ephemeral,
        runnerName: c.name,
        runnerId: undefined,
        labels: c.labels,
        state: 'pending',
        recovery: undefined,
        lastError: undefined,
        createdAt: now,
        updatedAt: now,
      };
      await c.deps.store.putLane(c.lane);
      c.report.steps.push(`recorded lane "${c.laneId}" (pending)`);
      c.deadline = new Deadline(c.deps, c.deps.options.createOnlineSec * 1000);
    },
  },
  {
    name: 'runner-config',
    describe: ({ spec, name }) =>
      spec.ephemeral
        ? `generate a JIT config for runner "${name}"${groupText(spec.group)}`
        : `create a registration token for ${scopeKeyOf(spec.scope)}${groupText(spec.group)}`,
    run: async (c) => {
      const { deps, spec } = c;
      const group = spec.group;
      if (spec.ephemeral) {
        const jit = await deps.github.generateJitConfig(spec.scope, {
          name: c.name,
          labels: c.labels,
          runnerGroupId: group?.id ?? DEFAULT_RUNNER_GROUP_ID,
        });
        // Recorded before anything else: from here on the registration is ours to clean up.
        c.lane = await moveLane(deps, recorded(c), 'provision', { runnerId: jit.runner.id });
        c.runner = { jitConfig: jit.encodedJitConfig };
        c.report.steps.push(
          `generated a JIT config (runner id ${jit.runner.id})${groupText(group)}`,
        );
      } else {
        const token = await deps.registrationTokens.get(spec.scope);
        c.registrationToken = token.token;
        c.lane = await moveLane(deps, recorded(c), 'provision');
        c.runner = registrationConfig(deps, spec.scope, token.token, group);
        c.report.steps.push(`created a registration token${groupText(group)}`);
      }
    },
  },
  {
    name: 'send',
    describe: (c) => `send lane.create to host "${c.spec.hostId}"`,
    sends: (c) => redactCommand(createCommand(c)),
    run: async (c) => {
      await sendOk(c.deps, c.spec.hostId, createCommand(c), c.req.actor);
      c.lane = await moveLane(c.deps, recorded(c), 'start');
      c.report.steps.push(`host "${c.spec.hostId}" started the lane`);
    },
  },
  {
    name: 'wait-online',
    describe: (c) =>
      `wait up to ${c.deps.options.createOnlineSec} s for runner "${c.name}" to be online on GitHub`,
    run: async (c) => {
      const lane = recorded(c);
      const deadline = c.deadline ?? new Deadline(c.deps, c.deps.options.createOnlineSec * 1000);
      const online = await waitOnline(c.deps, lane, deadline, c.req.signal);
      await enforceCanonicalLabels(c.deps, lane, online, c.report, c.req.actor);
      c.lane = await moveLane(c.deps, lane, 'came-online', { runnerId: online.id });
      c.report.steps.push(`runner "${c.name}" (id ${online.id}) is online`);
    },
  },
];

/**
 * The create saga from the lane's id on (its guardrails were checked by the caller): records the
 * lane, gets its runner config from GitHub, has its host start it and waits for it online, or
 * rolls back. A dry run reports the steps and changes nothing. `report` is filled and audited.
 */
export async function makeLane(
  deps: ControlDeps,
  spec: LaneSpec,
  req: Pick<
    CreateLaneRequest,
    'actor' | 'dryRun' | 'signal' | 'lockLane' | 'onStep' | 'onRecorded'
  >,
  report: ActionReport,
): Promise<ActionReport> {
  const laneId = newLaneId(deps.clock.nowMs());
  const name = runnerName(spec.hostId, spec.pool, laneId);
  const labels = spec.labels(laneId);
  const ctx: CreateCtx = {
    deps,
    spec,
    req,
    report,
    laneId,
    name,
    labels,
    base: {
      type: 'lane.create',
      laneId,
      dryRun: req.dryRun,
      name,
      scope: spec.scope,
      pool: spec.pool,
      labels,
      backend: spec.backend,
      ephemeral: spec.ephemeral,
      ...(spec.docker === undefined ? {} : { docker: spec.docker }),
    },
    lane: undefined,
    runner: spec.ephemeral
      ? { jitConfig: REDACTED }
      : registrationConfig(deps, spec.scope, REDACTED, spec.group),
    deadline: undefined,
  };
  report.laneId = laneId;
  const auditParams = { name, labels, ...spec.auditParams };
  const run = { dryRun: req.dryRun, report, ...(req.onStep ? { onStep: req.onStep } : {}) };

  if (req.dryRun) {
    await runSaga(CREATE_STEPS, ctx, run);
    report.ok = true;
    report.outcome = 'would-create';
    await auditReport(deps, report, { actor: req.actor, params: auditParams });
    return report;
  }

  const release = req.lockLane?.(laneId);
  try {
    const [record, ...rest] = CREATE_STEPS;
    const done = await runSaga([record], ctx, run);
    // The lane is recorded: the host's next create may start (its checks count this lane).
    req.onRecorded?.();
    try {
      await runSaga(rest, ctx, run, done);
      report.ok = true;
      report.outcome = 'created';
    } catch (err) {
      // The scope's shared token may be what failed: the next create asks GitHub for a new one.
      if (ctx.registrationToken !== undefined) {
        deps.registrationTokens.forget(spec.scope, ctx.registrationToken);
      }
      const cause = toLaunchplaneError(err);
      ctx.lane = await rollback(deps, recorded(ctx), cause, report, req.actor);
      report.outcome = cause.code === 'LP_TIMEOUT' ? 'timeout' : 'failed';
      report.error = ctx.lane.lastError ?? cause.toJSON();
    }
    if (ctx.lane !== undefined) report.lane = ctx.lane;
    await auditReport(deps, report, { actor: req.actor, params: auditParams });
    return report;
  } finally {
    release?.();
  }
}

/** The lane's record; only asked for after the `record` step stored it. */
function recorded(c: CreateCtx): LaneRecord {
  if (c.lane === undefined) throw new LaunchplaneError('LP_INTERNAL', 'Lane is not recorded yet');
  return c.lane;
}

/** The `lane.create` command for the host, with the runner config as the context has it. */
function createCommand(c: CreateCtx): LaneCreateCommand {
  const runnerId = c.lane?.runnerId;
  return {
    ...c.base,
    ...(runnerId === undefined ? {} : { runnerId }),
    runner: c.runner ?? { jitConfig: REDACTED },
  };
}

/** The guardrails of a create, checked against the store and the live session right now. */
async function checkCreate(
  deps: ControlDeps,
  req: CreateLaneRequest,
): Promise<{ pool: Pool; capabilities: readonly string[]; ignored: string[] }> {
  const policy = await requireCurrentPolicy(deps.store, 'create a lane');
  const pool = ownEntry(policy.pools, req.pool);
  if (pool === undefined) {
    throw new LaunchplaneError(
      'LP_NOT_FOUND',
      `Cannot create a lane: pool "${req.pool}" is not in the policy`,
    );
  }
  const host = await hostViewOf(deps, req.hostId);
  const block = checkLaneGuardrails(policy, { poolName: req.pool, pool, host });
  if (block !== undefined) {
    throw new LaunchplaneError(
      errorCodeForGuardrail(block.guardrail),
      `Cannot create a lane of pool "${req.pool}" on host "${req.hostId}": ${block.message}`,
      { details: { guardrail: block.guardrail } },
    );
  }
  const onHost = await deps.store.listLanes({ hostId: req.hostId });
  if (freeCapacity(host, onHost.length) < 1) {
    throw new LaunchplaneError(
      'LP_CAPACITY',
      `Cannot create a lane on host "${req.hostId}": it opts in to at most ${host.optIn?.maxLanes ?? 0} lane(s) and holds ${onHost.length}`,
      { details: { guardrail: 'capacity' } },
    );
  }
  const desired = ownEntry(pool.lanes, req.hostId) ?? 0;
  const holding = onHost.filter((l) => l.pool === req.pool && SLOT_STATES.has(l.state)).length;
  if (holding >= desired) {
    throw new LaunchplaneError(
      'LP_CONFLICT',
      `Cannot create a lane of pool "${req.pool}" on host "${req.hostId}": it wants ${desired} and ${holding} exist`,
      { recovery: 'Run "launchplane plan" to see the current plan' },
    );
  }
  // Only what the policy grants this host becomes a label; the host's word alone never does.
  const { granted, ignored } = grantedCapabilities(policy, req.hostId, host.capabilities);
  return { pool, capabilities: granted, ignored: ignored.map((i) => i.message) };
}

/**
 * The runner group a pool's lanes join, resolved on GitHub (`GET /orgs/{org}/actions/
 * runner-groups`): by `runnerGroup` name, matched as config.sh does (exact, else without regard
 * to case), or by a `runnerGroupId` other than the default. Undefined for the default group, which
 * needs neither a lookup nor a `--runnergroup`. An unknown group is refused before anything is
 * made.
 */
async function resolveRunnerGroup(
  deps: ControlDeps,
  poolName: string,
  pool: Pool,
): Promise<RunnerGroup | undefined> {
  const byName = pool.runnerGroup;
  const byId = pool.runnerGroupId;
  if (byName === undefined && (byId === undefined || byId === DEFAULT_RUNNER_GROUP_ID)) {
    return undefined;
  }
  const org = pool.organization;
  const what = byName === undefined ? `runner group ${byId}` : `runner group "${byName}"`;
  if (org === undefined) {
    // The policy schema refuses this; a stored policy from before is refused here too.
    throw new LaunchplaneError(
      'LP_POLICY_INVALID',
      `Cannot create a lane of pool "${poolName}": a repository pool can only use the default runner group, not ${what}`,
      { recovery: `Remove the runner group from pool "${poolName}" in the policy` },
    );
  }
  const groups = await deps.github.listRunnerGroups(org);
  const found =
    byName === undefined
      ? groups.find((g) => g.id === byId)
      : (groups.find((g) => g.name === byName) ??
        onlyOne(groups.filter((g) => g.name.toLowerCase() === byName.toLowerCase())));
  if (found === undefined) {
    throw new LaunchplaneError(
      'LP_NOT_FOUND',
      `Cannot create a lane of pool "${poolName}": organization "${org}" has no ${what}`,
      {
        recovery: `Create the runner group in organization "${org}" on GitHub, or change pool "${poolName}"'s ${byName === undefined ? 'runnerGroupId' : 'runnerGroup'} in the policy`,
      },
    );
  }
  return found;
}

function onlyOne<T>(list: readonly T[]): T | undefined {
  return list.length === 1 ? list[0] : undefined;
}

/** A persistent lane's runner config: `config.sh --url`, the token, and its group when named. */
function registrationConfig(
  deps: ControlDeps,
  scope: Scope,
  registrationToken: string,
  group: RunnerGroup | undefined,
): RunnerConfig {
  return {
    url: scopeUrl(deps.githubWebUrl, scope),
    registrationToken,
    ...(group === undefined ? {} : { runnerGroup: group.name }),
  };
}

function groupText(group: RunnerGroup | undefined): string {
  return group === undefined ? '' : ` in runner group "${group.name}" (id ${group.id})`;
}

/**
 * A persistent lane's host registers the runner itself (config.sh), so the labels GitHub shows
 * are the host's doing: anything but the lane's canonical set (a reserved `lp-pool-*` of another
 * pool, `lp-draining`, a capability not granted) is set back before the lane counts as made.
 */
async function enforceCanonicalLabels(
  deps: ControlDeps,
  lane: LaneRecord,
  runner: GitHubRunner,
  report: ActionReport,
  actor: string,
): Promise<void> {
  const custom = customLabelsOf(runner.labels);
  const extra = custom.filter((l) => !lane.labels.includes(l)).sort();
  const missing = lane.labels.filter((l) => !custom.includes(l)).sort();
  if (extra.length === 0 && missing.length === 0) return;
  await setLaneRunnerLabels(deps, lane, runner.id, lane.labels, actor);
  report.steps.push(
    `runner ${runner.id} registered with labels it was not given (extra ${extra.join(',') || '-'}; missing ${missing.join(',') || '-'}): set back to its canonical set`,
  );
}

/** Polls GitHub with capped exponential backoff until the lane's runner is online. */
async function waitOnline(
  deps: ControlDeps,
  lane: LaneRecord,
  deadline: Deadline,
  signal: AbortSignal | undefined,
): Promise<GitHubRunner> {
  let recorded = lane;
  const online = await pollUntil(
    deps,
    deadline,
    async () => {
      const runner = await findRunner(deps, recorded);
      if (runner !== undefined && recorded.runnerId === undefined) {
        // A persistent runner's id becomes known only once config.sh registered it.
        recorded = await updateLane(deps, recorded, { runnerId: runner.id });
      }
      return runner?.status === 'online' ? runner : undefined;
    },
    signal,
  );
  if (online === undefined) {
    throw new LaunchplaneError(
      'LP_TIMEOUT',
      `Lane "${lane.laneId}" did not come online on GitHub within ${deps.options.createOnlineSec} s`,
    );
  }
  return online;
}

/**
 * The lane's runner on GitHub, by what GitHub shows: under the recorded id (a JIT lane's, from
 * GitHub's JIT answer) with the lane's name and identity labels, or for a persistent lane not yet
 * identified, by its unique name together with its identity labels.
 */
export async function findRunner(
  deps: ControlDeps,
  lane: LaneRecord,
): Promise<GitHubRunner | undefined> {
  if (lane.runnerId !== undefined) {
    const r = await deps.github.getRunner(lane.scope, lane.runnerId);
    if (r === undefined) return undefined;
    const identity = {
      coordinatorId: deps.coordinatorId,
      laneId: lane.laneId,
      runnerName: lane.runnerName,
      runnerId: lane.runnerId,
    };
    return recordedRunnerMismatch(r, identity) === undefined ? r : undefined;
  }
  return findLaneRunnerByName(deps, lane);
}

/** Undoes a failed create as far as it can and marks the lane `failed` with what is left. */
async function rollback(
  deps: ControlDeps,
  laneIn: LaneRecord,
  cause: LaunchplaneError,
  report: ActionReport,
  actor: string,
): Promise<LaneRecord> {
  let lane = laneIn;
  const left: string[] = [];
  report.steps.push(`failed: ${cause.message}; rolling back`);
  const remove = { type: 'lane.remove' as const, laneId: lane.laneId, dryRun: false, force: true };
  report.commands.push(remove);
  try {
    await sendOk(deps, lane.hostId, remove, actor);
    report.steps.push(`host "${lane.hostId}" removed the lane`);
  } catch (err) {
    if (isGoneOnHost(err)) {
      report.steps.push(`host "${lane.hostId}" has no such lane`);
    } else {
      left.push(
        `the lane may still exist on host "${lane.hostId}" (${toLaunchplaneError(err).code})`,
      );
    }
  }
  if (lane.runnerId === undefined && !lane.ephemeral) {
    try {
      const found = await findRunner(deps, lane);
      if (found !== undefined) lane = await updateLane(deps, lane, { runnerId: found.id });
    } catch (err) {
      left.push(
        `GitHub could not be searched for runner "${lane.runnerName}" (${toLaunchplaneError(err).code})`,
      );
    }
  }
  if (lane.runnerId !== undefined) {
    try {
      const done = await deleteLaneRunner(deps, lane, lane.runnerId, actor);
      report.steps.push(
        done === 'deleted'
          ? `deleted GitHub runner ${lane.runnerId}`
          : `GitHub runner ${lane.runnerId} was already gone`,
      );
    } catch (err) {
      const e = toLaunchplaneError(err);
      if (e.code === 'LP_NOT_FOUND')
        report.steps.push(`GitHub runner ${lane.runnerId} was already gone`);
      else if (e.code === 'LP_NOT_OWNED')
        left.push(`GitHub runner ${lane.runnerId} is not provably this lane's and was left alone`);
      else left.push(`GitHub runner ${lane.runnerId} is still registered (${e.code})`);
    }
  }
  const recovery =
    left.length === 0
      ? `Creation failed and was rolled back. Fix the cause, then run "launchplane lane remove ${lane.laneId}" to free the slot; the next apply creates a new lane`
      : `Creation failed and cleanup is incomplete: ${left.join('; ')}. Check host "${lane.hostId}" and GitHub, then run "launchplane lane remove ${lane.laneId}"`;
  return moveLane(deps, lane, 'fail', {
    recovery,
    lastError: { code: cause.code, message: cause.message, recovery },
  });
}

/** `config.sh --url`: the repository's or organization's page on GitHub. */
export function scopeUrl(webUrl: string, scope: Scope): string {
  const base = webUrl.replace(/\/+$/, '');
  return 'repository' in scope ? `${base}/${scope.repository}` : `${base}/${scope.organization}`;
}

function scopeKeyOf(scope: Scope): string {
  return 'repository' in scope
    ? `repository "${scope.repository}"`
    : `organization "${scope.organization}"`;
}
