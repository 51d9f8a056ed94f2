/**
 * `launchplane apply [--dry-run] [--wait] [--json]` (operator): carries out the current plan.
 * `--dry-run` walks every guardrail and lists what would be sent; without `--wait` the apply
 * starts and the command returns; with it, the command follows the apply until every action
 * reported, with progress on stderr when that is a terminal.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { LaunchplaneError } from '@launchplane/shared';
import type { ApiClient } from '../api-client/api-client.js';
import { renderPlan } from './plan.js';
import { reportRows, type ApplyAnswer, type ApplyJob, type ControlPlan } from './control-views.js';
import { oneLine, printJson, renderTable, type CliIo } from './output.js';

export interface ApplyOptions {
  dryRun: boolean;
  wait: boolean;
  json: boolean;
  /** Show progress on stderr (it is a terminal). */
  progress: boolean;
  /** Between status polls (default 2 s). */
  pollMs?: number;
}

/** Runs `apply`; returns the exit status. */
export async function applyCommand(
  io: CliIo,
  client: ApiClient,
  opts: ApplyOptions,
): Promise<number> {
  if (opts.dryRun) {
    const r = (await client.post('/v1/apply', { dryRun: true })) as ApplyAnswer;
    return finish(io, r, opts);
  }
  const started = (await client.post('/v1/apply', { dryRun: false, wait: false })) as {
    plan: ControlPlan;
    jobId: number;
  };
  if (!opts.wait) {
    if (opts.json) printJson(io, { plan: started.plan, dryRun: false, started: true });
    else {
      io.stdout(renderPlan(started.plan));
      io.stdout(
        `\napply started (${started.plan.actions.length} action(s)); follow it with "launchplane audit --follow"\n`,
      );
    }
    return 0;
  }
  let job: ApplyJob;
  let shown = -1;
  for (;;) {
    job = ((await client.get('/v1/apply')) as { job: ApplyJob }).job;
    if (job.id !== started.jobId) {
      throw new LaunchplaneError(
        'LP_CONFLICT',
        `Apply ${started.jobId} can no longer be followed: the coordinator now runs apply ${job.id}`,
        { recovery: 'See what each apply did with "launchplane audit"' },
      );
    }
    if (opts.progress && job.reports.length !== shown) {
      shown = job.reports.length;
      io.stderr(`apply: ${job.reports.length}/${job.total} action(s) done\n`);
    }
    if (!job.running) break;
    await sleep(opts.pollMs ?? 2000);
  }
  return finish(
    io,
    { plan: job.plan, dryRun: false, ok: job.reports.every((r) => r.ok), reports: job.reports },
    opts,
  );
}

function finish(io: CliIo, r: ApplyAnswer, opts: ApplyOptions): number {
  if (opts.json) printJson(io, r);
  else if (r.reports.length === 0) io.stdout('nothing to do: observed state matches the policy\n');
  else {
    io.stdout(renderTable(['ACTION', 'OUTCOME', 'LANE', 'DETAIL'], reportRows(r.reports)));
    if (r.dryRun) io.stdout('\ndry run: nothing was sent or changed\n');
  }
  const failed = r.reports.filter((x) => !x.ok);
  for (const f of failed) {
    io.stderr(
      `error ${f.error?.code ?? 'LP_INTERNAL'}: ${f.actionId ?? f.kind}: ${oneLine(f.error?.message ?? f.outcome)}\n`,
    );
    if (f.error?.recovery !== undefined) io.stderr(`hint: ${oneLine(f.error.recovery)}\n`);
  }
  return failed.length === 0 ? 0 : 1;
}
