/**
 * `launchplane lane drain|restart|remove LANE [--dry-run] [--force] [--timeout 15m] [--wait]`
 * (operator). The coordinator runs the saga; without `--wait` the command returns once it
 * started (refusals still come back at once); with `--wait` it follows the saga to its end,
 * with progress on stderr when that is a terminal.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { LaunchplaneError } from '@launchplane/shared';
import type { ApiClient } from '../api-client/api-client.js';
import type { ActionReport, LaneJob } from './control-views.js';
import { parseDurationSec } from './duration.js';
import { jsonText, oneLine, printJson, type CliIo } from './output.js';

export type LaneMode = 'drain' | 'restart' | 'remove';

export interface LaneActionOptions {
  dryRun: boolean;
  force: boolean;
  /** A duration (`15m`); the coordinator's drain timeout when absent. */
  timeout?: string | undefined;
  wait: boolean;
  json: boolean;
  progress: boolean;
  pollMs?: number;
}

/** Runs a lane action; returns the exit status. */
export async function laneActionCommand(
  io: CliIo,
  client: ApiClient,
  mode: LaneMode,
  laneId: string,
  opts: LaneActionOptions,
): Promise<number> {
  const timeoutSec = opts.timeout === undefined ? undefined : parseDurationSec(opts.timeout);
  if (timeoutSec !== undefined && timeoutSec < 1) {
    throw new LaunchplaneError('LP_USAGE', `--timeout "${opts.timeout ?? ''}" must be at least 1s`);
  }
  const path = `/v1/lanes/${encodeURIComponent(laneId)}/${mode}`;
  const body = {
    dryRun: opts.dryRun,
    force: opts.force,
    ...(timeoutSec === undefined ? {} : { timeoutSec }),
  };
  if (opts.dryRun) {
    const r = (await client.post(path, { ...body, wait: true })) as { report: ActionReport };
    return show(io, r.report, opts);
  }
  const started = (await client.post(path, { ...body, wait: false })) as { job: LaneJob };
  if (!opts.wait) {
    if (opts.json) printJson(io, { job: started.job });
    else
      io.stdout(
        `${mode} of lane ${laneId} started; follow it with "launchplane audit --lane ${laneId} --follow"\n`,
      );
    return 0;
  }
  let last: string | undefined;
  for (;;) {
    const { job } = (await client.get(`/v1/lanes/${encodeURIComponent(laneId)}/job`)) as {
      job: LaneJob;
    };
    if (opts.progress && job.progress !== undefined && job.progress !== last) {
      last = job.progress;
      io.stderr(`${oneLine(job.progress)}\n`);
    }
    if (!job.running && job.report !== undefined) return show(io, job.report, opts);
    await sleep(opts.pollMs ?? 2000);
  }
}

function show(io: CliIo, r: ActionReport, opts: { json: boolean }): number {
  if (opts.json) printJson(io, r);
  else {
    io.stdout(
      `${r.outcome}: lane ${r.laneId ?? '-'} on host ${r.hostId || '-'}${r.forced ? ' (forced)' : ''}\n`,
    );
    for (const s of r.steps) io.stdout(`  ${oneLine(s)}\n`);
    if (r.dryRun && r.commands.length > 0) {
      io.stdout('commands that would be sent:\n');
      for (const c of r.commands) io.stdout(`  ${jsonText(c)}\n`);
    }
  }
  if (r.ok) return 0;
  io.stderr(`error ${r.error?.code ?? 'LP_INTERNAL'}: ${oneLine(r.error?.message ?? r.outcome)}\n`);
  if (r.error?.recovery !== undefined) io.stderr(`hint: ${oneLine(r.error.recovery)}\n`);
  return 1;
}
