/**
 * Faults 4: GitHub misbehaves (from the simulator's fault API): 5xx bursts, a secondary rate
 * limit, an exhausted budget, and a `busy` flag that lags and flips to false mid-job while a lane
 * drains. Promises under attack: no job killed, no retry storm (requests counted at the
 * simulator stay within the client's retry bounds), `plan` reports the degraded state.
 */
import { afterAll, beforeAll, expect, it } from 'vitest';

import { describeWithSystemd } from '../../testbed/index.js';
import { waitFor } from '../../testbed/wait-for.js';
import { recordResult, startFaultWorld, type FaultWorld } from './fault-world.js';

/** Attempts per GitHub call the coordinator's client allows: 1 + 3 retries (5xx), 1 + 2 (secondary). */
const MAX_ATTEMPTS_5XX = 4;
const MAX_ATTEMPTS_SECONDARY = 3;

interface PlanDoc {
  degraded: string[];
  actions: unknown[];
}

describeWithSystemd(
  'faults: GitHub 5xx, secondary and primary rate limits, lagging busy',
  (systemd) => {
    let world: FaultWorld;

    beforeAll(async () => {
      world = await startFaultWorld({ systemd: systemd(), heartbeatSec: 2, createOnlineSec: 20 });
      await world.applyPolicy(1);
      const apply = await world.cli(world.operator, 'apply', '--wait', '--json');
      if (apply.code !== 0) throw new Error(`apply: ${apply.stderr}`);
    });
    afterAll(async () => {
      await world?.close();
    });

    /** Requests the simulator answered (every attempt), of one operation or of all. */
    const requestsTotal = async (operationId?: string): Promise<number> => {
      const doc = await world.simJson<Record<string, { total: number }>>('GET', '/_sim/requests');
      return Object.entries(doc)
        .filter(([op]) => operationId === undefined || op === operationId)
        .reduce((n, [, c]) => n + (typeof c?.total === 'number' ? c.total : 0), 0);
    };
    // What a plan asks GitHub; other reads (a lane's own runner) run in the background meanwhile.
    const LIST = 'actions/list-self-hosted-runners-for-repo';
    const setFaults = (faults: Record<string, unknown>): Promise<unknown> =>
      world.simJson('PUT', '/_sim/faults', faults);

    /** Runs `plan`, returns it and the runner-list requests it caused. */
    const planWithCost = async (): Promise<{ plan: PlanDoc; code: number; requests: number }> => {
      const before = await requestsTotal(LIST);
      const r = await world.cli(world.viewer, 'plan', '--json');
      const after = await requestsTotal(LIST);
      return { plan: r.json<PlanDoc>(), code: r.code, requests: after - before };
    };

    it('does not restart a lane whose busy flag lags and flips to false mid-job', async () => {
      // GitHub shows busy 3 s late, then reads idle for 5 s in the middle of the job.
      await world.simJson('PATCH', '/_sim/config', {
        busyLagMs: 3000,
        busyFlipAfterMs: 1000,
        busyFlipMs: 5000,
        busyTrailMs: 1000,
      });
      const [lane] = await world.lanes();
      const job = await world.enqueueJob(15_000);
      await waitFor(async () => (await world.job(job.id)).status === 'in_progress', {
        timeoutMs: 20_000,
        intervalMs: 100,
        what: 'the job to start',
      });
      const before = await requestsTotal();
      const t0 = Date.now();
      // The drain starts while GitHub still says idle (the lag).
      const restart = await world.cli(
        world.operator,
        'lane',
        'restart',
        lane!.laneId,
        '--wait',
        '--timeout',
        '2m',
        '--json',
      );
      const drainMs = Date.now() - t0;
      const requests = (await requestsTotal()) - before;
      expect(restart.code, restart.stderr).toBe(0);
      const j = await world.job(job.id);
      expect(j.status).toBe('completed');
      expect(j.conclusion, 'the job was not killed').toBe('success');
      // Requests stayed a poll, not a storm: at most a few per second of drain.
      expect(requests).toBeLessThanOrEqual(Math.ceil(drainMs / 1000) * 6);
      await recordResult({
        scenario: 'github-busy-lag-and-flip-during-drain',
        injected:
          'busy lags 3 s and reads idle for 5 s mid-job while the lane drains for a restart',
        survived: true,
        counts: { jobsKilled: j.conclusion === 'success' ? 0 : 1 },
        figures: { drainMs, githubRequestsDuringDrain: requests },
      });
    }, 120_000);

    it('reports each GitHub fault in plan, within the retry bounds, and changes nothing', async () => {
      const healthy = await planWithCost();
      expect(healthy.plan.degraded).toEqual([]);
      expect(healthy.plan.actions).toEqual([]);
      // The plan's own listing, plus at most one background observation (every 30 s) that may
      // fall in the window: a plan through a 5xx burst takes ~14 s of retry backoff.
      const callsPerPlan = Math.max(1, healthy.requests) + 1;

      // A 5xx burst longer than the retries: plan says GitHub could not be listed.
      await setFaults({ serverErrorsNext: 1000, serverErrorStatus: 502 });
      const burst = await planWithCost();
      expect(burst.plan.degraded.join('\n')).toMatch(/could not be listed/);
      expect(burst.plan.actions, 'nothing acts on half a picture').toEqual([]);
      expect(burst.requests).toBeLessThanOrEqual(callsPerPlan * MAX_ATTEMPTS_5XX);

      // A short burst is absorbed by the retries: plan is clean again.
      await setFaults({ serverErrorsNext: 2, serverErrorStatus: 503 });
      const absorbed = await planWithCost();
      expect(absorbed.plan.degraded).toEqual([]);

      // A secondary rate limit that outlasts the allowed retries.
      await setFaults({ secondaryRateLimitNext: 1000, secondaryRetryAfterSec: 1 });
      const secondary = await planWithCost();
      expect(secondary.plan.degraded.join('\n')).toMatch(/secondary rate limit/i);
      expect(secondary.requests).toBeLessThanOrEqual(callsPerPlan * MAX_ATTEMPTS_SECONDARY);

      // The primary budget spent: reported at once, not retried.
      await setFaults({ budgetExhausted: true });
      const spent = await planWithCost();
      expect(spent.plan.degraded.join('\n')).toMatch(/rate limit|budget/i);
      expect(spent.requests).toBeLessThanOrEqual(callsPerPlan);
      // Known spent until GitHub's reset: later plans fail fast without sending a request.
      await setFaults({});
      const failFast = await planWithCost();
      expect(failFast.plan.degraded.join('\n')).toMatch(/budget/i);
      expect(failFast.requests).toBe(0);

      // Nothing changed on the host while GitHub was failing.
      const c = await world.consistency();
      expect(c.ledger).toHaveLength(1);
      expect(c.lost).toEqual([]);
      expect(c.unmanagedTouched).toEqual([]);

      await recordResult({
        scenario: 'github-5xx-secondary-budget',
        injected: '5xx burst (1000 and 2), secondary rate limit, primary budget exhausted',
        survived: true,
        counts: {
          planActionsWhileDegraded: burst.plan.actions.length,
          lanesLost: c.lost.length,
          unmanagedObjectsTouched: c.unmanagedTouched.length,
          retryStorm:
            burst.requests > callsPerPlan * MAX_ATTEMPTS_5XX ||
            secondary.requests > callsPerPlan * MAX_ATTEMPTS_SECONDARY ||
            spent.requests > callsPerPlan
              ? 1
              : 0,
        },
        figures: {
          requestsPerHealthyPlan: healthy.requests,
          requestsPer5xxPlan: burst.requests,
          requestsPerSecondaryPlan: secondary.requests,
          requestsPerExhaustedPlan: spent.requests,
          requestsPerPlanWhileKnownSpent: failFast.requests,
        },
      });
    }, 120_000);
  },
);
