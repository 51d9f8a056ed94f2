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
  backoffDelayMs,
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
  isTransientGitHubError,
  moveLane,
  sendOk,
  updateLane,
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

/**
 * The create saga from the lane's id on (its guardrails were checked by the caller): records the
 * lane, gets its runner config from GitHub, has its host start it and waits for it online, or
 * rolls back. A dry run reports the steps and changes nothing. `report` is filled and audited.
 */
export async function makeLane(
  deps: ControlDeps,
  spec: LaneSpec,
  req: Pick<CreateLaneRequest, 'actor' | 'dryRun' | 'signal' | 'lockLane' | 'onRecorded'>,
  report: ActionReport,
): Promise<ActionReport> {
  const { group, scope } = spec;
  const laneId = newLaneId(deps.clock.nowMs());
  const name = runnerName(spec.hostId, spec.pool, laneId);
  const labels = spec.labels(laneId);
  const base: Omit<LaneCreateCommand, 'runner'> = {
    type: 'lane.create',
    laneId,
    dryRun: req.dryRun,
    name,
    scope,
    pool: spec.pool,
    labels,
    backend: spec.backend,
    ephemeral: spec.ephemeral,
    ...(spec.docker === undefined ? {} : { docker: spec.docker }),
  };
  report.laneId = laneId;
  const auditParams = { name, labels, ...spec.auditParams };

  if (req.dryRun) {
    const runner: RunnerConfig = spec.ephemeral
      ? { jitConfig: REDACTED }
      : registrationConfig(deps, scope, REDACTED, group);
    report.commands.push(redactCommand({ ...base, runner }));
    report.steps.push(
      `record lane "${laneId}" (pending)`,
      spec.ephemeral
        ? `generate a JIT config for runner "${name}"${groupText(group)}`
        : `create a registration token for ${scopeKeyOf(scope)}${groupText(group)}`,
      `send lane.create to host "${spec.hostId}"`,
      `wait up to ${deps.options.createOnlineSec} s for runner "${name}" to be online on GitHub`,
    );
    report.ok = true;
    report.outcome = 'would-create';
    await auditReport(deps, report, { actor: req.actor, params: auditParams });
    return report;
  }

  const release = req.lockLane?.(laneId);
  try {
    const now = nowSec(deps.clock);
    let lane: LaneRecord = {
      laneId,
      hostId: spec.hostId,
      pool: spec.pool,
      purpose: spec.purpose,
      scope,
      backend: spec.backend,
      ephemeral: spec.ephemeral,
      runnerName: name,
      runnerId: undefined,
      labels,
      state: 'pending',
      recovery: undefined,
      lastError: undefined,
      createdAt: now,
      updatedAt: now,
    };
    await deps.store.putLane(lane);
    req.onRecorded?.();
    report.steps.push(`recorded lane "${laneId}" (pending)`);
    const deadline = new Deadline(deps, deps.options.createOnlineSec * 1000);

    try {
      let runner: RunnerConfig;
      if (spec.ephemeral) {
        const jit = await deps.github.generateJitConfig(scope, {
          name,
          labels,
          runnerGroupId: group?.id ?? DEFAULT_RUNNER_GROUP_ID,
        });
        // Recorded before anything else: from here on the registration is ours to clean up.
        lane = await moveLane(deps, lane, 'provision', { runnerId: jit.runner.id });
        runner = { jitConfig: jit.encodedJitConfig };
        report.steps.push(`generated a JIT config (runner id ${jit.runner.id})${groupText(group)}`);
      } else {
        const token = await deps.github.createRegistrationToken(scope);
        lane = await moveLane(deps, lane, 'provision');
        runner = registrationConfig(deps, scope, token.token, group);
        report.steps.push(`created a registration token${groupText(group)}`);
      }
      const cmd: LaneCreateCommand = {
        ...base,
        ...(lane.runnerId === undefined ? {} : { runnerId: lane.runnerId }),
        runner,
      };
      report.commands.push(redactCommand(cmd));
      await sendOk(deps, spec.hostId, cmd, req.actor);
      lane = await moveLane(deps, lane, 'start');
      report.steps.push(`host "${spec.hostId}" started the lane`);

      const online = await waitOnline(deps, lane, deadline, req.signal);
      await enforceCanonicalLabels(deps, lane, online, report, req.actor);
      lane = await moveLane(deps, lane, 'came-online', { runnerId: online.id });
      report.steps.push(`runner "${name}" (id ${online.id}) is online`);
      report.ok = true;
      report.outcome = 'created';
      report.lane = lane;
      await auditReport(deps, report, { actor: req.actor, params: auditParams });
      return report;
    } catch (err) {
      const cause = toLaunchplaneError(err);
      lane = await rollback(deps, lane, cause, report, req.actor);
      report.outcome = cause.code === 'LP_TIMEOUT' ? 'timeout' : 'failed';
      report.error = lane.lastError ?? cause.toJSON();
      report.lane = lane;
      await auditReport(deps, report, { actor: req.actor, params: auditParams });
      return report;
    }
  } finally {
    release?.();
  }
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
  for (let attempt = 0; ; attempt++) {
    try {
      const runner = await findRunner(deps, recorded);
      if (runner !== undefined && recorded.runnerId === undefined) {
        // A persistent runner's id becomes known only once config.sh registered it.
        recorded = await updateLane(deps, recorded, { runnerId: runner.id });
      }
      if (runner?.status === 'online') return runner;
    } catch (err) {
      if (!isTransientGitHubError(err)) throw err;
    }
    if (deadline.passed()) {
      throw new LaunchplaneError(
        'LP_TIMEOUT',
        `Lane "${lane.laneId}" did not come online on GitHub within ${deps.options.createOnlineSec} s`,
      );
    }
    await deadline.sleep(
      backoffDelayMs(attempt, { baseMs: deps.options.pollBaseMs, capMs: deps.options.pollCapMs }),
      signal,
    );
  }
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
