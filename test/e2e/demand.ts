/**
 * Lanes that follow demand, end to end (issue 14), written once and run on each real backend by
 * `demand-systemd.test.ts` and `demand-docker.test.ts`: the simulator queues jobs and sends signed
 * `workflow_job` webhooks to the coordinator, the coordinator (`reconcile.auto`) plans lanes for
 * them on a real agent, the stub runners take and run the jobs, and the lanes are drained away
 * after `scaleDownAfterSec`. A job queued while the coordinator is down reaches it through the job
 * poller alone (its webhook delivery failed). The tests share one world and run in order.
 */
import { afterAll, beforeAll, expect, it } from 'vitest';
import { runnerName } from '@launchplane/shared';

import { waitFor } from '../testbed/wait-for.js';
import {
  REPO,
  startWorld,
  type AgentHandle,
  type Backend,
  type LaneView,
  type SimJob,
  type World,
  type WorldOptions,
} from './world.js';

const SECRET = 'e2e-demand-webhook-secret-0123456789';
const POOL = 'build';
const LABELS = ['linux'];
/** The most lanes the pool may hold on the one host. */
const MAX = 2;
const JOB_MS = 1_000;

interface Delivery {
  action: string;
  status_code: number | null;
}

/** Registers the demand tests for one backend. */
export function demandSuite(backend: Backend, world: () => Omit<WorldOptions, 'backend'>): void {
  let w: World;
  let host: AgentHandle;

  const poolLanes = async (): Promise<string[]> =>
    (await w.lanes()).filter((l) => l.pool === POOL).map((l) => l.laneId);
  /** Lanes the coordinator made (a create may be audited more than once: begun, then done). */
  const created = async (): Promise<string[]> => [
    ...new Set(
      (await w.audit())
        .filter((r) => r.action === 'lane.create' && !r.dryRun && r.laneId !== undefined)
        .map((r) => r.laneId!),
    ),
  ];
  const ended = (j: SimJob): boolean => j.status === 'completed';
  const waitJobsDone = async (ids: number[]): Promise<SimJob[]> => {
    await waitFor(async () => (await Promise.all(ids.map((id) => w.job(id)))).every(ended), {
      timeoutMs: 60_000,
      intervalMs: 500,
      what: `jobs ${ids.join(', ')} to complete on lanes`,
    });
    return Promise.all(ids.map((id) => w.job(id)));
  };
  /** Scale-down: no lane of the pool left, on the coordinator, the backend and GitHub. */
  const waitPoolEmpty = async (): Promise<void> => {
    // Polled over HTTP (`lanes --json`'s document), not a CLI process per poll.
    const apiPoolLanes = async (): Promise<LaneView[]> =>
      (await w.api<{ lanes: LaneView[] }>('/v1/lanes')).lanes.filter((l) => l.pool === POOL);
    await waitFor(
      async () =>
        (await apiPoolLanes()).length === 0 &&
        (await w.ownObjects()).length === 0 &&
        (await w.simRunners()).length === 0,
      { timeoutMs: 60_000, intervalMs: 500, what: 'the idle lanes to be scaled down' },
    );
  };

  beforeAll(async () => {
    w = await startWorld({
      backend,
      ...world(),
      reconcile: { auto: true, intervalSec: 5 },
      demand: { webhookSecret: SECRET, pollIntervalSec: 10 },
    });
    host = await w.addAgent({
      hostId: 'host-a',
      optIn: { repositories: [REPO], backends: [backend], maxLanes: MAX + 1 },
    });
    await w.simJson('POST', '/_sim/hooks', {
      repository: REPO,
      url: `${w.url}/v1/github/webhook`,
      secret: SECRET,
      events: ['workflow_job'],
    });
    await w.applyPolicy({
      allowedHosts: [host.hostId],
      allowedRepositories: [REPO],
      pools: {
        [POOL]: {
          labels: LABELS,
          lanes: { [host.hostId]: MAX },
          scaling: {
            mode: 'demand',
            min: 0,
            minIdle: 0,
            scaleDownAfterSec: 2,
            reservationSec: 20,
          },
        },
      },
    });
  }, 180_000);

  afterAll(async () => {
    await w?.close();
  }, 180_000);

  it('queued jobs get one lane each, run on them, and the lanes go after the cool-down', async () => {
    // min 0, minIdle 0 and no jobs: the pool holds no lane.
    expect(await poolLanes()).toEqual([]);
    expect(await w.ownObjects()).toEqual([]);
    const jobs = await Promise.all([w.enqueueJob(LABELS, JOB_MS), w.enqueueJob(LABELS, JOB_MS)]);
    const done = await waitJobsDone(jobs.map((j) => j.id));
    for (const j of done) expect(j.conclusion).toBe('success');
    const made = await created();
    // One lane per job, none beyond the target: two jobs, at most two lanes ever made.
    expect(made.length).toBeGreaterThan(0);
    expect(made.length).toBeLessThanOrEqual(jobs.length);
    // The jobs ran on lanes made for them (runner name `lp-<host>-<pool>-<lane suffix>`).
    for (const j of done) {
      const lane = made.find((id) => j.runnerName === runnerName(host.hostId, POOL, id));
      expect(lane, `job ${j.id} ran on "${j.runnerName}"`).toBeDefined();
    }
    await waitPoolEmpty();
    // They went through the drain, audited; none was killed with a job on it.
    const removed = (await w.audit()).filter((r) => r.action === 'lane.remove' && !r.dryRun);
    for (const id of made) expect(removed.map((r) => r.laneId)).toContain(id);
    for (const r of removed) expect(r.outcome).not.toBe('failed');
  }, 150_000);

  it('a job queued while the coordinator was down gets a lane by polling when it is back', async () => {
    await waitPoolEmpty();
    const before = new Set(await created());
    await w.coordinator.stop();
    const job = await w.enqueueJob(LABELS, JOB_MS);
    // Its webhook could not be delivered: only the poller can learn of it now.
    await waitFor(
      async () =>
        (
          await w.simJson<{ deliveries: Delivery[] }>(
            'GET',
            `/_sim/hooks/deliveries?jobId=${job.id}&action=queued`,
          )
        ).deliveries.length > 0,
      { timeoutMs: 10_000, intervalMs: 200, what: 'the failed webhook delivery' },
    );
    const deliveries = (
      await w.simJson<{ deliveries: Delivery[] }>(
        'GET',
        `/_sim/hooks/deliveries?jobId=${job.id}&action=queued`,
      )
    ).deliveries;
    for (const d of deliveries) {
      expect(d.status_code !== null && d.status_code >= 200 && d.status_code < 300).toBe(false);
    }
    expect((await w.job(job.id)).status).toBe('queued');
    await w.coordinator.start();
    const [done] = await waitJobsDone([job.id]);
    expect(done!.conclusion).toBe('success');
    const made = (await created()).filter((id) => !before.has(id));
    expect(made).toHaveLength(1);
    expect(done!.runnerName).toBe(runnerName(host.hostId, POOL, made[0]!));
  }, 150_000);
}
