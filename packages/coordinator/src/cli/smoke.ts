/**
 * `launchplane smoke --host H --repository R [--backend B] [--image I] [--workflow FILE --ref REF]
 * [--timeout 15m] [--dry-run] [--json]` (operator). The coordinator runs the smoke (it holds the
 * GitHub credentials); the command starts it and follows it to its end, with progress on stderr
 * when that is a terminal. Exit 0 when it passed (or, dry run, would run), 2 for bad usage, 1
 * otherwise: the error line and its hint name the clean-up command when the smoke left a lane
 * behind.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { LaunchplaneError, exitCodeFor } from '@launchplane/shared';
import type { ApiClient } from '../api-client/api-client.js';
import type { SmokeJob } from '../control/control-service.js';
import type { SmokeReport } from '../control/smoke.js';
import { parseDurationSec } from './duration.js';
import { oneLine, printJson, type CliIo } from './output.js';

export interface SmokeCommandOptions {
  host: string;
  repository: string;
  backend?: string | undefined;
  image?: string | undefined;
  workflow?: string | undefined;
  ref?: string | undefined;
  /** How long the workflow's job may take (`15m`). */
  timeout?: string | undefined;
  dryRun: boolean;
  json: boolean;
  progress: boolean;
  pollMs?: number;
}

/** Runs the smoke; returns the exit status. */
export async function smokeCommand(
  io: CliIo,
  client: ApiClient,
  opts: SmokeCommandOptions,
): Promise<number> {
  if ((opts.workflow === undefined) !== (opts.ref === undefined)) {
    throw new LaunchplaneError('LP_USAGE', '--workflow and --ref go together', {
      recovery: 'Pass both (--workflow launchplane-smoke.yml --ref main), or neither',
    });
  }
  if (opts.backend !== undefined && opts.backend !== 'systemd' && opts.backend !== 'docker') {
    throw new LaunchplaneError('LP_USAGE', `--backend "${opts.backend}" is not systemd or docker`);
  }
  const timeoutSec = opts.timeout === undefined ? undefined : parseDurationSec(opts.timeout);
  if (timeoutSec !== undefined && timeoutSec < 1) {
    throw new LaunchplaneError('LP_USAGE', `--timeout "${opts.timeout ?? ''}" must be at least 1s`);
  }
  const body = {
    hostId: opts.host,
    repository: opts.repository,
    ...(opts.backend === undefined ? {} : { backend: opts.backend }),
    ...(opts.image === undefined ? {} : { image: opts.image }),
    ...(opts.workflow === undefined ? {} : { workflow: opts.workflow }),
    ...(opts.ref === undefined ? {} : { ref: opts.ref }),
    ...(timeoutSec === undefined ? {} : { workflowTimeoutSec: timeoutSec }),
    dryRun: opts.dryRun,
  };
  if (opts.dryRun) {
    const answer = (await client.post('/v1/smoke', body)) as { report: SmokeReport };
    return show(io, answer.report, opts);
  }
  const started = (await client.post('/v1/smoke', body)) as { job: SmokeJob };
  const path = `/v1/smoke/${encodeURIComponent(started.job.smokeId)}`;
  if (opts.progress) io.stderr(`smoke ${started.job.smokeId} started on host ${opts.host}\n`);
  let last: string | undefined;
  for (;;) {
    const { job } = (await client.get(path)) as { job: SmokeJob };
    if (opts.progress && job.progress !== undefined && job.progress !== last) {
      last = job.progress;
      io.stderr(`${oneLine(job.progress)}\n`);
    }
    if (!job.running && job.report !== undefined) return show(io, job.report, opts);
    await sleep(opts.pollMs ?? 2000);
  }
}

function seconds(ms: number): string {
  return `${(ms / 1000).toFixed(1)} s`;
}

function show(io: CliIo, r: SmokeReport, opts: { json: boolean }): number {
  if (opts.json) printJson(io, r);
  else {
    const what = [
      r.backend ?? '-',
      ...(r.image === undefined ? [] : [`image ${r.image}`]),
      ...(r.laneId === undefined ? [] : [`lane ${r.laneId}`]),
    ].join(', ');
    io.stdout(
      `smoke ${r.smokeId}: ${r.outcome} on host ${r.hostId} for ${r.repository} (${what}) in ${seconds(r.durationMs)}\n`,
    );
    for (const s of r.steps) {
      io.stdout(
        `  ${(r.dryRun ? 'plan' : s.ok ? 'ok' : 'FAILED').padEnd(6)} ${s.name.padEnd(16)} ${r.dryRun ? '' : seconds(s.durationMs)}\n`,
      );
      for (const d of s.detail) io.stdout(`           ${oneLine(d)}\n`);
    }
    if (r.workflow?.jobId !== undefined) {
      io.stdout(
        `workflow: run ${r.workflow.runId ?? '-'}, job ${r.workflow.jobId} ${r.workflow.status ?? '-'} (${r.workflow.conclusion ?? '-'}) on runner ${r.workflow.runnerName ?? '-'}\n`,
      );
    }
    if (r.comparison !== undefined && r.comparison.differences.length === 0) {
      io.stdout(
        `nothing else changed: ${r.comparison.runnersAfter} other runner(s) and ${r.comparison.lanesAfter} other lane(s) as before\n`,
      );
    }
    if (r.cleanup !== undefined) io.stdout(`cleanup: ${r.cleanup}\n`);
  }
  if (r.ok) return 0;
  io.stderr(`error ${r.error?.code ?? 'LP_INTERNAL'}: ${oneLine(r.error?.message ?? r.outcome)}\n`);
  if (r.error?.recovery !== undefined) io.stderr(`hint: ${oneLine(r.error.recovery)}\n`);
  // 2 when the coordinator found the request itself wanting (two backends and no --backend).
  return r.error === undefined ? 1 : exitCodeFor(r.error.code);
}
