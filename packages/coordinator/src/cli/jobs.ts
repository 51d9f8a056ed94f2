/**
 * `launchplane jobs [--json]` (viewer): queued and running jobs with their wait, pool and lane.
 * `launchplane why JOB_ID|JOB_URL [--json]` (viewer): why a job is still queued, one reason.
 */
import { LaunchplaneError } from '@launchplane/shared';
import type { ApiClient } from '../api-client/api-client.js';
import type { JobExplanation, JobListing } from '../control/demand-views.js';
import { oneLine, printJson, renderTable, type CliIo } from './output.js';

/** `90s`, `12m 5s`, `3h 4m`. */
export function formatWait(sec: number): string {
  if (sec < 60) return `${sec}s`;
  if (sec < 3600) return `${Math.floor(sec / 60)}m ${sec % 60}s`;
  return `${Math.floor(sec / 3600)}h ${Math.floor((sec % 3600) / 60)}m`;
}

/** Lists jobs; returns the exit status. */
export async function jobsCommand(
  io: CliIo,
  client: ApiClient,
  opts: { json: boolean },
): Promise<number> {
  const r = (await client.get('/v1/jobs')) as { jobs: JobListing[]; generatedAt: number };
  if (opts.json) {
    printJson(io, r);
    return 0;
  }
  if (r.jobs.length === 0) {
    io.stdout('no queued or running jobs\n');
    return 0;
  }
  io.stdout(
    renderTable(
      ['JOB', 'REPOSITORY', 'NAME', 'STATUS', 'WAIT', 'LABELS', 'POOL', 'LANE / RUNNER'],
      r.jobs.map((j) => [
        String(j.jobId),
        j.repository,
        j.name ?? '',
        j.status === 'in_progress' ? 'running' : j.status,
        formatWait(j.waitSec),
        j.labels.join(','),
        j.pool ?? '(none)',
        j.lane !== null
          ? `${j.lane.hostId} ${j.lane.laneId}`
          : j.runnerName !== null
            ? `${j.runnerName} (not a lane)`
            : '',
      ]),
    ),
  );
  return 0;
}

/** A job id, or the id in a job URL `…/owner/repo/actions/runs/RUN/job/JOB`. */
export function parseJobRef(text: string): number {
  const m =
    /^(?:https?:\/\/[^/\s]+\/[^/\s]+\/[^/\s]+\/actions\/runs\/[0-9]+\/job\/)?([1-9][0-9]{0,15})\/?$/.exec(
      text.trim(),
    );
  const id = m === null ? Number.NaN : Number(m[1]);
  if (!Number.isSafeInteger(id)) {
    throw new LaunchplaneError(
      'LP_USAGE',
      `"${oneLine(text).slice(0, 200)}" is not a job id or a job URL`,
      {
        recovery:
          'Give the job id, or its URL: https://github.com/OWNER/REPO/actions/runs/RUN/job/JOB',
      },
    );
  }
  return id;
}

/** Explains one job; returns the exit status. */
export async function whyCommand(
  io: CliIo,
  client: ApiClient,
  job: string,
  opts: { json: boolean },
): Promise<number> {
  const id = parseJobRef(job);
  const e = (await client.get(`/v1/jobs/${id}/why`)) as JobExplanation;
  if (opts.json) {
    printJson(io, e);
    return 0;
  }
  const lines = [`${e.reason}: ${oneLine(e.message)}`];
  lines.push(
    `job ${e.job.jobId} of ${oneLine(e.job.repository)}, ${e.job.status}, waited ${formatWait(e.job.waitSec)}, labels ${oneLine(e.job.labels.join(', '))}`,
  );
  const d = e.details;
  for (const c of d.match?.checks ?? []) {
    lines.push(
      `  pool ${c.pool}: ${c.matches ? 'matches' : `lacks ${c.missing.map(oneLine).join(', ') || `(${c.reason ?? 'no match'})`}`}`,
    );
  }
  for (const l of d.lanes ?? []) lines.push(`  lane ${l.laneId} on ${l.hostId}: ${l.state}`);
  for (const b of d.blocked ?? [])
    lines.push(`  ${b.hostId}: ${b.guardrail}: ${oneLine(b.message)}`);
  if (d.scaling !== undefined) lines.push(`  pool ${d.scaling.pool}: ${oneLine(d.scaling.reason)}`);
  io.stdout(`${lines.join('\n')}\n`);
  return 0;
}
