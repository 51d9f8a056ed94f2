/**
 * `launchplane jobs` and `why` on the client side: job names and runner names come from GitHub
 * and are shown without control characters; `why` takes a job id or a job URL and nothing else.
 */
import { describe, expect, it } from 'vitest';
import type { ApiClient } from '../api-client/api-client.js';
import type { JobListing } from '../control/demand-views.js';
import { formatWait, jobsCommand, parseJobRef, whyCommand } from './jobs.js';
import type { CliIo } from './output.js';

function io(): CliIo & { out: string } {
  const o = { out: '' } as CliIo & { out: string };
  o.stdout = (t) => (o.out += t);
  o.stderr = () => undefined;
  return o;
}

function client(answer: (path: string) => unknown): ApiClient & { paths: string[] } {
  const paths: string[] = [];
  return {
    paths,
    get: (path: string) => {
      paths.push(path);
      return Promise.resolve(answer(path));
    },
  } as unknown as ApiClient & { paths: string[] };
}

const HOSTILE: JobListing = {
  jobId: 7,
  runId: 70,
  repository: 'acme/api',
  name: 'build\u001b]0;pwned\u0007\u001b[2J',
  workflowName: 'CI',
  labels: ['linux'],
  status: 'in_progress',
  queuedAt: 1,
  startedAt: 31,
  waitSec: 30,
  pool: 'build',
  lane: null,
  runnerName: 'evil\u001b[31mrunner\r\n',
  foreignRunner: true,
  htmlUrl: null,
};

describe('launchplane jobs', () => {
  it('prints a table with no control character from GitHub text', async () => {
    const o = io();
    expect(
      await jobsCommand(
        o,
        client(() => ({ jobs: [HOSTILE], generatedAt: 1 })),
        { json: false },
      ),
    ).toBe(0);
    // eslint-disable-next-line no-control-regex
    expect(o.out).not.toMatch(/[\u0000-\u0008\u000b-\u001f\u007f-\u009f]/);
    expect(o.out).toContain('running');
    expect(o.out).toContain('30s');
    expect(o.out).toContain('(not a lane)');
  });

  it('writes JSON with escapes that parse back to the original text', async () => {
    const o = io();
    await jobsCommand(
      o,
      client(() => ({ jobs: [HOSTILE], generatedAt: 1 })),
      { json: true },
    );
    expect((JSON.parse(o.out) as { jobs: JobListing[] }).jobs[0]?.name).toBe(HOSTILE.name);
  });

  it('formats waits', () => {
    expect([formatWait(5), formatWait(125), formatWait(7400)]).toEqual(['5s', '2m 5s', '2h 3m']);
  });
});

describe('launchplane why', () => {
  it('takes a job id or a job URL', async () => {
    expect(parseJobRef('123')).toBe(123);
    expect(parseJobRef('https://github.com/acme/api/actions/runs/99/job/123')).toBe(123);
    expect(parseJobRef('https://ghe.example/acme/api/actions/runs/99/job/123/')).toBe(123);
    const c = client(() => ({
      job: HOSTILE,
      reason: 'foreign-runner',
      message: 'Job 7 was given to runner "evil\u001b[31mrunner", which is not a Launchplane lane',
      details: {},
    }));
    const o = io();
    await whyCommand(o, c, 'https://github.com/acme/api/actions/runs/70/job/7', { json: false });
    expect(c.paths).toEqual(['/v1/jobs/7/why']);
    expect(o.out.startsWith('foreign-runner: Job 7 was given to runner "evil[31mrunner"')).toBe(
      true,
    );
  });

  it('refuses anything else with LP_USAGE, before any request', () => {
    for (const bad of [
      '0',
      '-1',
      'abc',
      '12/../../v1/tokens',
      'https://github.com/acme/api/pull/1',
      '1'.repeat(17),
    ]) {
      expect(() => parseJobRef(bad), bad).toThrow(expect.objectContaining({ code: 'LP_USAGE' }));
    }
  });
});
