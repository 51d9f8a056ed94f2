/**
 * `launchplane plan [--json]` (viewer): the control plan — every action with its reason, every
 * lane the policy wants but cannot have with the guardrail that blocks it, the runners that are
 * not ours (never touched) and, for pools that follow demand, their demand and target and the
 * queued jobs no pool matches.
 */
import type { ApiClient } from '../api-client/api-client.js';
import type { ControlPlan } from './control-views.js';
import { oneLine, printJson, renderTable, type CliIo } from './output.js';

/** Prints the plan; returns the exit status. */
export async function planCommand(
  io: CliIo,
  client: ApiClient,
  opts: { json: boolean },
): Promise<number> {
  const plan = (await client.get('/v1/plan')) as ControlPlan;
  if (opts.json) {
    printJson(io, plan);
    return 0;
  }
  io.stdout(renderPlan(plan));
  return 0;
}

/** The human form of a plan. */
export function renderPlan(plan: ControlPlan): string {
  const out: string[] = [];
  const s = plan.summary;
  out.push(
    `policy ${plan.policyDigest ?? '(none)'}: ${s.desired} lane(s) desired, ${s.observed} recorded; ` +
      `${s.creates} create, ${s.reclaims > 0 ? `${s.reclaims} reclaim, ` : ''}${s.removes} remove, ${s.restarts} restart, ${s.repairs} repair, ` +
      `${s.blocked} blocked, ${s.unmanaged} unmanaged runner(s)\n`,
  );
  if (plan.scaling !== undefined) out.push(renderScaling(plan.scaling));
  if (plan.actions.length === 0) out.push('\nno actions: observed state matches the policy\n');
  else {
    out.push('\nactions:\n');
    out.push(
      renderTable(
        ['ID', 'HOST', 'POOL', 'REASON'],
        plan.actions.map((a) => [
          a.id,
          a.hostId,
          a.pool,
          a.kind === 'repair-labels'
            ? `${a.reason} (missing ${a.missing.join(',') || '-'}; extra ${a.extra.join(',') || '-'})`
            : a.reason,
        ]),
      ),
    );
  }
  if (plan.blocked.length > 0) {
    out.push('\nblocked:\n');
    out.push(
      renderTable(
        ['HOST', 'POOL', 'LANES', 'GUARDRAIL', 'WHY'],
        plan.blocked.map((b) => [b.hostId, b.pool, String(b.count), b.guardrail, b.message]),
      ),
    );
  }
  if (plan.unmanaged.length > 0) {
    out.push('\nunmanaged runners (never touched):\n');
    out.push(
      renderTable(
        ['RUNNER', 'NAME', 'SCOPE', 'STATUS', 'WHY'],
        plan.unmanaged.map((u) => [String(u.runnerId), u.name, u.scope, u.status, u.reason]),
      ),
    );
  }
  if (plan.ignoredCapabilities.length > 0) {
    out.push('\nignored host capabilities (never put on a lane):\n');
    out.push(
      renderTable(
        ['HOST', 'CAPABILITY', 'WHY'],
        plan.ignoredCapabilities.map((c) => [
          c.hostId,
          c.capability,
          c.reason === 'reserved'
            ? 'uses a prefix reserved for Launchplane'
            : `not granted by the policy (hosts.${c.hostId}.capabilities)`,
        ]),
      ),
    );
  }
  if (plan.degraded.length > 0) {
    out.push('\nwarnings:\n');
    for (const d of plan.degraded) out.push(`  ${oneLine(d)}\n`);
  }
  return out.join('');
}

/**
 * The demand section: one line per pool that follows demand
 * (`pool build: 3 queued jobs + minIdle 1 → target 4 (max 6)`), then the jobs no pool matches.
 */
export function renderScaling(scaling: NonNullable<ControlPlan['scaling']>): string {
  const out: string[] = ['\ndemand:\n'];
  for (const p of scaling.pools) {
    const changes = [
      ...(p.creates > 0 ? [`${p.creates} create`] : []),
      ...(p.reclaims > 0 ? [`${p.reclaims} reclaim`] : []),
      ...(p.removes > 0 ? [`${p.removes} remove`] : []),
      ...(p.blocked > 0 ? [`${p.blocked} blocked`] : []),
      ...(p.capped > 0 ? [`${p.capped} job(s) wait at max`] : []),
    ];
    const jobs =
      p.waitingJobs.length === 0
        ? ''
        : ` [jobs ${p.waitingJobs.slice(0, 10).join(', ')}${p.waitingJobs.length > 10 ? ', …' : ''}]`;
    out.push(
      `  pool ${p.pool}: ${oneLine(p.reason)}${changes.length === 0 ? '' : `; ${changes.join(', ')}`}${jobs}\n`,
    );
  }
  if (scaling.unmatchedTotal > 0) {
    out.push(`\nqueued jobs no pool matches (${scaling.unmatchedTotal}):\n`);
    out.push(
      renderTable(
        ['JOB', 'REPOSITORY', 'LABELS', 'WHY'],
        scaling.unmatched.map((j) => [
          String(j.jobId),
          j.repository,
          j.labels.join(',') || '-',
          j.reason === 'github-default-label'
            ? 'asks for a GitHub default label (self-hosted, Linux, X64 …) no lane carries'
            : j.message,
        ]),
      ),
    );
  }
  return out.join('');
}
