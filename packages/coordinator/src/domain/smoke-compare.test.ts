import type { LaneReport } from '@launchplane/shared';
import { describe, expect, it } from 'vitest';
import type { GitHubRunner } from '../ports/github-runners.js';
import { compareSnapshots, snapshotOf } from './smoke-compare.js';

const runner = (id: number, over: Partial<GitHubRunner> = {}): GitHubRunner => ({
  id,
  name: `r${id}`,
  os: 'Linux',
  status: 'online',
  busy: false,
  labels: ['launchplane', 'linux'],
  ...over,
});

const lane = (laneId: string, over: Partial<LaneReport> = {}): LaneReport => ({
  laneId,
  name: `lp-host-a-build-${laneId.slice(-8)}`,
  pool: 'build',
  scope: { repository: 'acme/api' },
  backend: 'systemd',
  ephemeral: false,
  state: 'online',
  labels: ['launchplane'],
  backendState: 'active/running',
  restarts: 0,
  createdAt: 1,
  updatedAt: 1,
  ...over,
});

const A = '01hzzzzzzzzzzzzzzzzzzz0001';
const B = '01hzzzzzzzzzzzzzzzzzzz0002';
const SMOKE = '01hzzzzzzzzzzzzzzzzzzz0009';
const own = { laneId: SMOKE, runnerName: 'lp-host-a-lp-smoke-zzzz0009', runnerId: 9 };

describe('compareSnapshots()', () => {
  it('finds nothing when only the smoke lane and its runner came and went, and jobs ran elsewhere', () => {
    const before = snapshotOf(1, [runner(1), runner(2)], [lane(A)]);
    const after = snapshotOf(
      2,
      // Order, label order and busy do not matter; the smoke's runner (by id or name) is left out.
      [
        runner(2),
        runner(1, { busy: true, labels: ['linux', 'launchplane'] }),
        runner(9, { name: own.runnerName }),
        runner(10, { name: own.runnerName }),
      ],
      [lane(A, { state: 'busy' }), lane(SMOKE, { state: 'removed' })],
    );
    expect(compareSnapshots(before, after, own)).toEqual({
      runnersBefore: 2,
      runnersAfter: 2,
      lanesBefore: 1,
      lanesAfter: 1,
      differences: [],
    });
  });

  it('lists every other change: runners gone, new, renamed, relabelled, status; lanes gone, new, state, backend', () => {
    const before = snapshotOf(
      1,
      [
        runner(1),
        runner(2),
        runner(3),
        runner(4, { status: 'offline', githubStatus: 'maintenance' }),
      ],
      [lane(A), lane(B)],
    );
    const after = snapshotOf(
      2,
      [
        runner(2, { name: 'renamed' }),
        runner(3, { labels: ['launchplane', 'gpu'] }),
        runner(4, { status: 'online' }),
        runner(5),
      ],
      [
        lane(A, { state: 'unhealthy', backendState: 'failed/failed' }),
        lane('01hzzzzzzzzzzzzzzzzzzz0003'),
      ],
    );
    expect(compareSnapshots(before, after, own).differences).toEqual([
      'runner 1 "r1" is gone from GitHub',
      'runner 2 was named "r2", now "renamed"',
      'runner 3 "r3" labels changed (removed linux; added gpu)',
      'runner 4 "r4" was maintenance, now online',
      'runner 5 "r5" appeared on GitHub',
      `lane ${A} ("lp-host-a-build-zzzz0001") was online, now unhealthy`,
      `lane ${A} ("lp-host-a-build-zzzz0001") backend was "active/running", now "failed/failed"`,
      `lane ${B} ("lp-host-a-build-zzzz0002") is gone from the host`,
      'lane 01hzzzzzzzzzzzzzzzzzzz0003 ("lp-host-a-build-zzzz0003") appeared on the host',
    ]);
  });
});
