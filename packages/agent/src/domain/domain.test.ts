import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { OptIn } from '@launchplane/shared';
import { backoffDelayMs, recordFailure } from './backoff.js';
import { decideHealth, failureStep } from './health-decision.js';
import { checkCreateOptIn } from './opt-in.js';
import { decideRecovery } from './recovery-decision.js';

const optIn: OptIn = {
  repositories: ['acme/api'],
  organizations: ['widgets'],
  backends: ['systemd'],
  maxLanes: 2,
};
const cmd = {
  laneId: '01jdx0000000000000000000aa',
  scope: { repository: 'acme/api' },
  pool: 'build',
  backend: 'systemd' as const,
};
const ctx = { optIn, availableBackends: new Set(['systemd' as const]), activeLanes: 0 };

describe('checkCreateOptIn()', () => {
  it('allows an opted-in repository, or any repository of an opted-in organization', () => {
    expect(checkCreateOptIn(cmd, ctx)).toBeUndefined();
    expect(
      checkCreateOptIn({ ...cmd, scope: { repository: 'widgets/anything' } }, ctx),
    ).toBeUndefined();
    expect(checkCreateOptIn({ ...cmd, scope: { organization: 'widgets' } }, ctx)).toBeUndefined();
  });
  it('refuses what the host did not opt in, and capacity', () => {
    const code = (c: Parameters<typeof checkCreateOptIn>[0], x = ctx) =>
      checkCreateOptIn(c, x)?.code;
    expect(code({ ...cmd, scope: { repository: 'acme/other' } })).toBe('LP_NOT_OPTED_IN');
    expect(code({ ...cmd, scope: { organization: 'acme' } })).toBe('LP_NOT_OPTED_IN');
    expect(code({ ...cmd, backend: 'docker' })).toBe('LP_NOT_OPTED_IN');
    expect(code(cmd, { ...ctx, optIn: { ...optIn, pools: ['gpu'] } })).toBe('LP_NOT_OPTED_IN');
    expect(code(cmd, { ...ctx, availableBackends: new Set() })).toBe('LP_BACKEND_UNAVAILABLE');
    expect(code(cmd, { ...ctx, activeLanes: 2 })).toBe('LP_CAPACITY');
    expect(code(cmd, { ...ctx, optIn: { ...optIn, maxLanes: 0 } })).toBe('LP_CAPACITY');
  });
  it('an empty opt-in allows nothing', () => {
    const empty: OptIn = { repositories: [], organizations: [], backends: [], maxLanes: 0 };
    expect(checkCreateOptIn(cmd, { ...ctx, optIn: empty })?.code).toBe('LP_NOT_OPTED_IN');
  });
});

describe('backoff', () => {
  it('backoffDelayMs() stays within [0, min(cap, base·2^n)) for any attempt and draw', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 1000 }),
        fc.double({ min: 0, max: 0.9999999, noNaN: true }),
        (n, r) => {
          const d = backoffDelayMs(n, { baseSec: 2, capSec: 120, random: r });
          return d >= 0 && d < Math.min(120, 2 * 2 ** Math.min(n, 52)) * 1000 + 1 && d <= 120_000;
        },
      ),
    );
    expect(backoffDelayMs(3, { baseSec: 2, capSec: 120, random: 0.5 })).toBe(8000);
  });
  it('recordFailure() keeps only failures inside the window and flags the 5th', () => {
    let f: number[] = [];
    for (const t of [0, 100, 200, 300])
      f = recordFailure(f, { now: t, maxFailures: 5, windowSec: 600 }).failures;
    expect(recordFailure(f, { now: 599, maxFailures: 5, windowSec: 600 }).exhausted).toBe(true);
    expect(recordFailure(f, { now: 601, maxFailures: 5, windowSec: 600 })).toEqual({
      failures: [100, 200, 300, 601],
      exhausted: false,
    });
  });
});

describe('decideHealth()', () => {
  const opts = {
    maxFailures: 5,
    failureWindowSec: 600,
    backoffBaseSec: 2,
    backoffCapSec: 120,
    random: 0.5,
  };
  const lane = {
    laneId: 'x',
    state: 'online' as const,
    ephemeral: false,
    failures: [],
    nextRestartAtMs: undefined,
  };
  it('moves starting lanes online and follows busy', () => {
    expect(
      decideHealth(
        { ...lane, state: 'starting' },
        { kind: 'running', busy: false },
        { ...opts, nowMs: 0 },
      ),
    ).toEqual({ kind: 'transition', events: ['came-online'] });
    expect(decideHealth(lane, { kind: 'running', busy: true }, { ...opts, nowMs: 0 })).toEqual({
      kind: 'transition',
      events: ['job-started'],
    });
    expect(
      decideHealth(
        { ...lane, state: 'busy' },
        { kind: 'running', busy: false },
        { ...opts, nowMs: 0 },
      ),
    ).toEqual({ kind: 'transition', events: ['job-finished'] });
  });
  it('leaves lanes that belong to commands or operators alone', () => {
    for (const state of [
      'pending',
      'provisioning',
      'stopping',
      'draining',
      'drained',
      'failed',
      'completed',
      'removed',
    ] as const) {
      expect(
        decideHealth(
          { ...lane, state },
          { kind: 'dead', jobsCompleted: 0, runnerConfigured: true, exit: { signal: 9 } },
          { ...opts, nowMs: 0 },
        ),
      ).toEqual({ kind: 'none' });
    }
  });
  it('a dead persistent lane waits for its backoff, then restarts', () => {
    const a = decideHealth(
      lane,
      { kind: 'dead', jobsCompleted: 0, runnerConfigured: true, exit: { signal: 9 } },
      { ...opts, nowMs: 10_000 },
    );
    expect(a).toEqual({
      kind: 'wait',
      events: ['became-unhealthy'],
      failures: [10],
      nextRestartAtMs: 11_000,
    });
    const waiting = {
      ...lane,
      state: 'unhealthy' as const,
      failures: [10],
      nextRestartAtMs: 11_000,
    };
    expect(
      decideHealth(
        waiting,
        { kind: 'dead', jobsCompleted: 0, runnerConfigured: true, exit: { signal: 9 } },
        { ...opts, nowMs: 10_500 },
      ).kind,
    ).toBe('wait');
    expect(
      decideHealth(
        waiting,
        { kind: 'dead', jobsCompleted: 0, runnerConfigured: true, exit: { signal: 9 } },
        { ...opts, nowMs: 11_000 },
      ),
    ).toEqual({
      kind: 'restart',
      events: ['restart'],
      failures: [10],
    });
  });
  it('the 5th failure in the window fails the lane with a recovery hint', () => {
    const a = failureStep({ laneId: 'x', failures: [1, 2, 3, 4] }, { ...opts, nowMs: 5_000 });
    expect(a).toMatchObject({ kind: 'fail', failures: [1, 2, 3, 4, 5] });
    expect(a.kind === 'fail' && a.recovery).toMatch(/restart or remove/);
  });
  it('vanished and foreign objects fail the lane; nothing is touched', () => {
    expect(decideHealth(lane, { kind: 'missing' }, { ...opts, nowMs: 0 }).kind).toBe('fail');
    expect(decideHealth(lane, { kind: 'foreign' }, { ...opts, nowMs: 0 }).kind).toBe('fail');
  });
  it('an ephemeral lane that ran its job completes', () => {
    expect(
      decideHealth(
        { ...lane, ephemeral: true, state: 'busy' },
        { kind: 'dead', jobsCompleted: 1, runnerConfigured: true, exit: { status: 0 } },
        { ...opts, nowMs: 0 },
      ),
    ).toEqual({ kind: 'transition', events: ['job-completed-ephemeral'] });
    expect(
      decideHealth(
        { ...lane, ephemeral: true, state: 'starting' },
        { kind: 'dead', jobsCompleted: 1, runnerConfigured: true, exit: { status: 0 } },
        { ...opts, nowMs: 0 },
      ),
    ).toEqual({ kind: 'transition', events: ['came-online', 'job-completed-ephemeral'] });
  });
});

describe('what a runner meant by ending (exit semantics)', () => {
  const opts = {
    maxFailures: 5,
    failureWindowSec: 600,
    backoffBaseSec: 2,
    backoffCapSec: 120,
    nowMs: 10_000,
    random: 0.5,
  };
  const persistent = {
    laneId: '01hzzzzzzzzzzzzzzzzzzzzzzz',
    state: 'online' as const,
    ephemeral: false,
    failures: [],
    nextRestartAtMs: undefined,
  };
  const ephemeral = { ...persistent, ephemeral: true };
  const dead = (exit: { status?: number; signal?: number }, runnerConfigured: boolean, jobs = 0) =>
    ({ kind: 'dead', jobsCompleted: jobs, exit, runnerConfigured }) as const;

  it('an ephemeral lane whose runner ended with 0 and no .runner completed, even with no hook run', () => {
    // The job failed in set-up: the runner deleted its config and exited 0, no hook ran.
    expect(decideHealth(ephemeral, dead({ status: 0 }, false), opts)).toEqual({
      kind: 'transition',
      events: ['job-completed-ephemeral'],
    });
    expect(
      decideHealth({ ...ephemeral, state: 'starting' }, dead({ status: 0 }, false), opts),
    ).toEqual({ kind: 'transition', events: ['came-online', 'job-completed-ephemeral'] });
  });

  it('an ephemeral lane that ended still configured and without a job failed, with no restart', () => {
    const a = decideHealth(ephemeral, dead({ status: 0 }, true), opts);
    expect(a).toMatchObject({ kind: 'fail', code: 'LP_BACKEND_FAILED' });
    expect(decideHealth(ephemeral, dead({ signal: 9 }, false), opts).kind).toBe('fail');
    expect(decideHealth(ephemeral, dead({ status: 78 }, false), opts)).toMatchObject({
      kind: 'fail',
      reason: expect.stringContaining('neither its JIT config nor a .runner'),
    });
  });

  it('a persistent lane whose registration was deleted says so and is not restarted', () => {
    const a = decideHealth(persistent, dead({ status: 0 }, false), opts);
    expect(a).toMatchObject({ kind: 'fail', code: 'LP_RUNNER_DELETED' });
    expect(a.kind === 'fail' && a.recovery).toMatch(/deleted.*remove it/);
    expect(a.kind === 'fail' && a.recovery).not.toMatch(/token/i);
  });

  it('a persistent lane that ended still configured is a crash: backoff, then restart', () => {
    expect(decideHealth(persistent, dead({ status: 0 }, true), opts).kind).toBe('wait');
    expect(decideHealth(persistent, dead({ status: 143 }, true), opts).kind).toBe('wait');
    expect(decideHealth(persistent, dead({ signal: 9 }, false), opts).kind).toBe('wait');
    expect(decideHealth(persistent, dead({}, false), opts).kind).toBe('wait');
  });

  it('exit 7 is an outdated runner and exit 1 the root refusal, on both kinds of lane', () => {
    for (const lane of [persistent, ephemeral]) {
      expect(decideHealth(lane, dead({ status: 7 }, true), opts)).toMatchObject({
        kind: 'fail',
        code: 'LP_RUNNER_OUTDATED',
        recovery: expect.stringContaining('update the runner template'),
      });
      const root = decideHealth(lane, dead({ status: 1 }, true), opts);
      expect(root).toMatchObject({ kind: 'fail', code: 'LP_RUNNER_ROOT_REFUSED' });
      expect(root.kind === 'fail' && root.recovery).not.toMatch(/token|expired/i);
    }
    // A signal numbered 7 (SIGBUS) is not exit status 7.
    expect(decideHealth(persistent, dead({ signal: 7 }, true), opts).kind).toBe('wait');
  });
});

describe('decideRecovery()', () => {
  const none = { objectExists: false, objectOwned: false, dirExists: false };
  const owned = { objectExists: true, objectOwned: true, dirExists: true };
  it('decides per state and open operation', () => {
    expect(decideRecovery({ state: 'pending', op: 'create' }, none)).toBe('forget');
    expect(decideRecovery({ state: 'pending', op: 'create' }, { ...none, dirExists: true })).toBe(
      'rollback-removed',
    );
    expect(decideRecovery({ state: 'provisioning', op: 'create' }, owned)).toBe('rollback-failed');
    expect(decideRecovery({ state: 'starting', op: 'create' }, owned)).toBe('finish-start');
    expect(decideRecovery({ state: 'starting', op: 'create' }, none)).toBe('rollback-failed');
    expect(
      decideRecovery({ state: 'starting', op: 'create' }, { ...owned, objectOwned: false }),
    ).toBe('rollback-failed');
    expect(decideRecovery({ state: 'restarting', op: 'restart' }, none)).toBe('mark-vanished');
    expect(decideRecovery({ state: 'stopping', op: 'remove' }, owned)).toBe('finish-remove');
    expect(decideRecovery({ state: 'failed', op: 'remove' }, owned)).toBe('finish-remove');
    expect(decideRecovery({ state: 'draining', op: 'stop' }, owned)).toBe('finish-stop');
    expect(decideRecovery({ state: 'online', op: undefined }, none)).toBe('mark-vanished');
    expect(decideRecovery({ state: 'online', op: undefined }, owned)).toBe('none');
    expect(decideRecovery({ state: 'removed', op: 'remove' }, owned)).toBe('none');
  });
});
