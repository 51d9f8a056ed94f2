import { LaunchplaneError, drainingLabels } from '@launchplane/shared';
import { describe, expect, it } from 'vitest';
import { drainLane, type DrainMode } from './drain-lane.js';
import { COORDINATOR_ID, makeWorld, seedLane, type World } from './control-fakes.test-helper.js';

const LANE = '01hzzzzzzzzzzzzzzzzzzz0001';
const T0 = 1_764_370_000_000;

async function setup(over: Parameters<typeof seedLane>[1] = { laneId: LANE }) {
  const w = await makeWorld();
  const lane = await seedLane(w, over);
  return { w, lane, runnerId: lane.runnerId! };
}

const run = (
  w: World,
  mode: DrainMode,
  extra: { dryRun?: boolean; force?: boolean; timeoutSec?: number } = {},
) =>
  drainLane(w.deps, { laneId: LANE, mode, actor: 'tok-op', dryRun: false, force: false, ...extra });

/** The fake time at which the first command of `type` reached the agent. */
function timeOf(w: World, type: string): () => number | undefined {
  let at: number | undefined;
  const prev = w.hub.behaviour;
  w.hub.behaviour = (h, cmd) => {
    if (cmd.type === type && at === undefined) at = w.clock.nowMs();
    return prev(h, cmd);
  };
  return () => at;
}

describe('drainLane()', () => {
  it('quarantines, waits while the host says busy even though GitHub says idle, then removes', async () => {
    const { w, runnerId } = await setup();
    w.hub.localBusy.set(LANE, true);
    w.clock.onSleep((now) => {
      if (now >= T0 + 120_000) w.hub.localBusy.set(LANE, false);
    });
    const removedAt = timeOf(w, 'lane.remove');
    const r = await run(w, 'remove');
    expect(r).toMatchObject({ ok: true, outcome: 'removed' });
    // Settle: 3 idle observations spanning 30 s after the job ended.
    expect(removedAt()).toBeGreaterThanOrEqual(T0 + 120_000 + 30_000);
    expect(w.github.calls.indexOf(`setCustomLabels acme/api ${runnerId}`)).toBeLessThan(
      w.github.calls.indexOf(`deleteRunner acme/api ${runnerId}`),
    );
    expect(w.github.find(runnerId)).toBeUndefined();
    expect((await w.store.getLane(LANE))?.state).toBe('removed');
    expect(w.hub.commands('lane.remove')).toEqual([
      { type: 'lane.remove', laneId: LANE, dryRun: false, force: false },
    ]);
  });

  it('waits while GitHub says busy even though the host says idle, and restarts the count when GitHub flips mid-job', async () => {
    const { w, runnerId } = await setup();
    // GitHub: idle (lag) → busy → idle → busy again → idle for good.
    const busyWindows = [
      [T0 + 10_000, T0 + 40_000],
      [T0 + 55_000, T0 + 70_000],
    ] as const;
    w.clock.onSleep((now) => {
      w.github.set(runnerId, { busy: busyWindows.some(([a, b]) => now >= a && now < b) });
    });
    const removedAt = timeOf(w, 'lane.remove');
    const r = await run(w, 'remove');
    expect(r.ok).toBe(true);
    expect(removedAt()).toBeGreaterThanOrEqual(T0 + 70_000 + 30_000);
  });

  it('on timeout leaves the lane quarantined in draining and stops nothing', async () => {
    const { w, runnerId } = await setup();
    w.hub.localBusy.set(LANE, true);
    const r = await run(w, 'remove', { timeoutSec: 120 });
    expect(r).toMatchObject({ ok: false, outcome: 'timeout' });
    expect(r.error?.code).toBe('LP_TIMEOUT');
    expect(r.error?.recovery).toContain('--force');
    expect(w.hub.commands('lane.remove')).toEqual([]);
    expect(w.hub.commands('lane.restart')).toEqual([]);
    expect((await w.store.getLane(LANE))?.state).toBe('draining');
    const runner = w.github.find(runnerId)!;
    expect(
      runner.labels.filter((l) => l !== 'self-hosted' && l !== 'Linux' && l !== 'X64'),
    ).toEqual(drainingLabels(COORDINATOR_ID, LANE));
    expect(w.clock.nowMs() - T0).toBeLessThanOrEqual(125_000);
    const audit = await w.store.listAudit({ laneId: LANE });
    expect(audit.at(-1)).toMatchObject({
      action: 'lane.remove',
      outcome: 'failed',
      code: 'LP_TIMEOUT',
    });
  });

  it('treats an agent that cannot answer as busy', async () => {
    const { w } = await setup();
    w.hub.behaviour = (_h, cmd) => (cmd.type === 'lane.inspect' ? 'timeout' : undefined);
    const r = await run(w, 'remove', { timeoutSec: 60 });
    expect(r.error?.code).toBe('LP_TIMEOUT');
    expect(w.hub.commands('lane.remove')).toEqual([]);
  });

  it('retries the registration delete while GitHub answers 422, never forcing it', async () => {
    const { w, runnerId } = await setup();
    let busyUntil = Infinity;
    w.hub.behaviour = (_h, cmd) => {
      if (cmd.type === 'lane.remove') {
        // GitHub handed the runner a job at the last moment; it ends 20 s later.
        w.github.set(runnerId, { busy: true });
        busyUntil = w.clock.nowMs() + 20_000;
      }
      return undefined;
    };
    w.clock.onSleep((now) => {
      if (now >= busyUntil) w.github.set(runnerId, { busy: false });
    });
    const r = await run(w, 'remove');
    expect(r).toMatchObject({ ok: true, outcome: 'removed' });
    expect(w.github.calls.filter((c) => c.startsWith('deleteRunner')).length).toBeGreaterThan(1);
    expect(w.github.find(runnerId)).toBeUndefined();
  });

  it('holds the lane failed with a hint when the host is cut off answering lane.remove, and a second remove deletes the registration', async () => {
    const { w, runnerId } = await setup();
    // The host removes the lane, but its answer never arrives (it was killed, or cut off).
    w.hub.behaviour = (_h, cmd) => {
      if (cmd.type !== 'lane.remove') return undefined;
      w.hub.lanes.delete(cmd.laneId);
      return 'timeout';
    };
    const first = await run(w, 'remove');
    expect(first).toMatchObject({ ok: false, error: { code: 'LP_TIMEOUT' } });
    expect(first.error?.recovery).toContain(`GitHub runner ${runnerId} stays registered`);
    expect(first.error?.recovery).toContain(`launchplane lane remove ${LANE}`);
    const held = await w.store.getLane(LANE);
    expect(held?.state).toBe('failed');
    expect(held?.recovery).toBe(first.error?.recovery);
    expect(w.github.find(runnerId), 'the registration is not orphaned').toBeDefined();

    w.hub.behaviour = () => undefined;
    const second = await run(w, 'remove');
    expect(second).toMatchObject({ ok: true, outcome: 'removed' });
    expect(second.steps).toContain(
      `host "${(await w.store.getLane(LANE))?.hostId}" has no such lane any more`,
    );
    expect(w.github.find(runnerId)).toBeUndefined();
    expect((await w.store.getLane(LANE))?.state).toBe('removed');
  });

  it('holds the lane failed when the host refuses lane.remove, keeping the registration and naming the cause', async () => {
    const { w, runnerId } = await setup();
    w.hub.behaviour = (_h, cmd) =>
      cmd.type === 'lane.remove'
        ? {
            ok: false,
            outcome: 'refused',
            error: {
              code: 'LP_BACKEND_UNAVAILABLE',
              message: 'Docker is not reachable',
              recovery: 'Start dockerd',
            },
          }
        : undefined;
    const r = await run(w, 'remove');
    expect(r).toMatchObject({ ok: false, error: { code: 'LP_BACKEND_UNAVAILABLE' } });
    expect(r.error?.recovery).toContain(
      'refused to remove the lane (LP_BACKEND_UNAVAILABLE: Start dockerd)',
    );
    expect(r.error?.recovery).toContain(`launchplane lane remove ${LANE}`);
    expect((await w.store.getLane(LANE))?.state).toBe('failed');
    expect(w.github.find(runnerId)).toBeDefined();
  });

  it('with force skips the wait, says so in the audit, and still never force-deletes a busy registration', async () => {
    const { w, runnerId } = await setup();
    w.hub.localBusy.set(LANE, true);
    w.github.set(runnerId, { busy: true });
    w.clock.onSleep((now) => {
      if (now >= T0 + 15_000) w.github.set(runnerId, { busy: false });
    });
    const r = await run(w, 'remove', { force: true });
    expect(r).toMatchObject({ ok: true, forced: true, outcome: 'removed' });
    expect(w.hub.commands('lane.inspect')).toEqual([]);
    expect(w.hub.commands('lane.remove')).toEqual([
      { type: 'lane.remove', laneId: LANE, dryRun: false, force: true },
    ]);
    expect(w.github.calls.filter((c) => c.startsWith('deleteRunner')).length).toBeGreaterThan(1);
    const audit = await w.store.listAudit({ laneId: LANE });
    expect(audit.at(-1)).toMatchObject({ action: 'lane.remove', outcome: 'ok' });
    expect(audit.at(-1)?.params).toMatchObject({ force: true, forced: true });
  });

  it('restarts only after idle, restores the canonical labels and verifies online', async () => {
    const { w, lane, runnerId } = await setup();
    w.hub.localBusy.set(LANE, true);
    w.clock.onSleep((now) => {
      if (now >= T0 + 50_000) w.hub.localBusy.set(LANE, false);
    });
    const restartedAt = timeOf(w, 'lane.restart');
    const r = await run(w, 'restart');
    expect(r).toMatchObject({ ok: true, outcome: 'restarted' });
    expect(restartedAt()).toBeGreaterThanOrEqual(T0 + 50_000 + 30_000);
    expect(w.github.find(runnerId)?.labels).toEqual(['self-hosted', ...lane.labels]);
    expect((await w.store.getLane(LANE))?.state).toBe('online');
    expect(w.hub.commands('lane.remove')).toEqual([]);
  });

  it('waits and retries when the agent refuses the restart as busy, never forcing it', async () => {
    const { w } = await setup();
    let refusals = 2;
    w.hub.behaviour = (_h, cmd) =>
      cmd.type === 'lane.restart' && refusals-- > 0
        ? { ok: false, outcome: 'refused', error: { code: 'LP_LANE_BUSY', message: 'A job runs' } }
        : undefined;
    const r = await run(w, 'restart');
    expect(r).toMatchObject({ ok: true, outcome: 'restarted' });
    expect(w.hub.commands('lane.restart')).toHaveLength(3);
    expect(w.hub.commands('lane.remove')).toEqual([]);
  });

  it('gives up a restart the agent keeps refusing at the deadline, leaving the lane drained', async () => {
    const { w } = await setup();
    w.hub.behaviour = (_h, cmd) =>
      cmd.type === 'lane.restart'
        ? { ok: false, outcome: 'refused', error: { code: 'LP_LANE_BUSY', message: 'A job runs' } }
        : undefined;
    const r = await run(w, 'restart', { timeoutSec: 60 });
    expect(r.ok).toBe(false);
    expect(r.error?.code).toBe('LP_LANE_BUSY');
    expect((await w.store.getLane(LANE))?.state).toBe('drained');
  });

  it('drain alone leaves the lane drained and quarantined', async () => {
    const { w, runnerId } = await setup();
    const r = await run(w, 'drain');
    expect(r).toMatchObject({ ok: true, outcome: 'drained' });
    expect((await w.store.getLane(LANE))?.state).toBe('drained');
    expect(w.github.find(runnerId)?.labels).toContain('lp-draining');
    expect(w.hub.commands('lane.remove')).toEqual([]);
  });

  it.each(['drain', 'restart', 'remove'] as const)(
    'dry-run %s sends nothing and changes nothing',
    async (mode) => {
      const { w, runnerId } = await setup();
      const before = JSON.stringify(w.github.find(runnerId));
      const r = await run(w, mode, { dryRun: true });
      expect(r).toMatchObject({ ok: true, dryRun: true, outcome: `would-${mode}` });
      expect(r.commands.length).toBeGreaterThan(0);
      expect(r.commands.every((c) => c.dryRun)).toBe(true);
      expect(w.hub.sent).toEqual([]);
      expect(w.github.calls).toEqual([]);
      expect(JSON.stringify(w.github.find(runnerId))).toBe(before);
      expect((await w.store.getLane(LANE))?.state).toBe('online');
      expect((await w.store.listAudit({ laneId: LANE })).at(-1)).toMatchObject({
        outcome: 'dry-run',
        dryRun: true,
      });
    },
  );

  it('refuses an unknown lane, an offline host and the restart of an ephemeral lane', async () => {
    const { w } = await setup({ laneId: LANE, ephemeral: true });
    const unknown = await drainLane(w.deps, {
      laneId: '01hzzzzzzzzzzzzzzzzzzz9999',
      mode: 'remove',
      actor: 'a',
      dryRun: false,
      force: false,
    });
    expect(unknown.error?.code).toBe('LP_NOT_FOUND');
    expect((await run(w, 'restart')).error?.code).toBe('LP_CONFLICT');
    w.hub.disconnect('host-a');
    const offline = await run(w, 'remove');
    expect(offline.error?.code).toBe('LP_HOST_OFFLINE');
    expect(offline.error?.recovery).toContain('--local');
    expect(w.hub.sent).toEqual([]);
    expect(w.github.calls).toEqual([]);
    const refusals = await w.store.listAudit({});
    expect(refusals.map((a) => a.outcome)).toEqual(['refused', 'refused', 'refused']);
  });

  it('a failed restart of a failed lane leaves it failed', async () => {
    const { w } = await setup();
    await w.store.putLane({ ...(await w.store.getLane(LANE))!, state: 'failed', recovery: 'x' });
    w.hub.lanes.delete(LANE); // the agent no longer has it: lane.restart is refused
    const r = await run(w, 'restart');
    expect(r.ok).toBe(false);
    expect(r.error?.code).toBe('LP_NOT_OWNED');
    expect((await w.store.getLane(LANE))?.state).toBe('failed');
  });

  it('removes a failed lane that never got a runner, even when the host no longer has it', async () => {
    const { w } = await setup();
    await w.store.putLane({
      ...(await w.store.getLane(LANE))!,
      state: 'failed',
      runnerId: undefined,
    });
    w.hub.lanes.delete(LANE);
    w.github.runners.set('acme/api', []); // GitHub never saw it either
    const r = await run(w, 'remove');
    expect(r).toMatchObject({ ok: true, outcome: 'removed' });
    expect(w.github.calls.filter((c) => c.startsWith('deleteRunner'))).toEqual([]);
  });

  it('deletes the registration a cut-short create left unrecorded, found by name and lane labels', async () => {
    const { w } = await setup();
    const registered = w.github.runners.get('acme/api')?.map((r) => r.id) ?? [];
    expect(registered).toEqual([100]);
    // The create was cut short after config.sh registered the runner, before its id was recorded.
    await w.store.putLane({
      ...(await w.store.getLane(LANE))!,
      state: 'failed',
      runnerId: undefined,
    });
    w.hub.lanes.delete(LANE);
    const r = await run(w, 'remove');
    expect(r).toMatchObject({ ok: true, outcome: 'removed' });
    expect(w.github.calls.filter((c) => c.startsWith('deleteRunner'))).toEqual([
      'deleteRunner acme/api 100',
    ]);
  });
});

describe('drainLane() taken back (a scale-down that demand overtook)', () => {
  /** A scale-down's remove, as the reconciler runs it: taken back when `takeBack` aborts. */
  const scaleDown = (w: World, takeBack: AbortController) =>
    drainLane(w.deps, {
      laneId: LANE,
      mode: 'remove',
      actor: 'reconciler',
      dryRun: false,
      force: false,
      reclaim: takeBack.signal,
    });
  const customLabels = (w: World, runnerId: number) =>
    w.github.find(runnerId)!.labels.filter((l) => !['self-hosted', 'Linux', 'X64'].includes(l));

  it('while it waits for idle: restores the canonical labels, records the lane online and removes nothing', async () => {
    const { w, lane, runnerId } = await setup();
    w.hub.localBusy.set(LANE, true);
    const takeBack = new AbortController();
    let quarantined: string[] = [];
    w.clock.onSleep((now) => {
      if (now >= T0 + 30_000 && !takeBack.signal.aborted) {
        quarantined = customLabels(w, runnerId);
        takeBack.abort();
      }
    });
    const r = await scaleDown(w, takeBack);
    expect(r).toMatchObject({ ok: true, outcome: 'reclaimed' });
    // It was quarantined while it waited, and has its own labels back now.
    expect(quarantined).toEqual(drainingLabels(COORDINATOR_ID, LANE));
    expect(customLabels(w, runnerId)).toEqual(lane.labels);
    expect(w.hub.commands('lane.remove')).toEqual([]);
    expect(w.github.calls.filter((c) => c.startsWith('deleteRunner'))).toEqual([]);
    expect((await w.store.getLane(LANE))?.state).toBe('online');
    expect(r.steps.at(-1)).toBe(
      `taken back before its remove began: restored runner ${runnerId}'s canonical labels`,
    );
    const audit = await w.store.listAudit({ laneId: LANE });
    expect(audit.at(-1)).toMatchObject({ action: 'lane.remove', outcome: 'ok' });
    expect(audit.at(-1)?.params).toMatchObject({ reclaimed: true });
  });

  it('once its remove has begun, it is not taken back: the lane is removed', async () => {
    const { w, runnerId } = await setup();
    const takeBack = new AbortController();
    const prev = w.hub.behaviour;
    w.hub.behaviour = (h, cmd) => {
      if (cmd.type === 'lane.remove') takeBack.abort();
      return prev(h, cmd);
    };
    const r = await scaleDown(w, takeBack);
    expect(takeBack.signal.aborted).toBe(true);
    expect(r).toMatchObject({ ok: true, outcome: 'removed' });
    expect(w.github.find(runnerId)).toBeUndefined();
    expect((await w.store.getLane(LANE))?.state).toBe('removed');
  });

  it("a runner no longer provably the lane's is neither relabelled nor deleted by a take-back", async () => {
    const { w, runnerId } = await setup();
    const takeBack = new AbortController();
    w.clock.onSleep((now) => {
      if (now >= T0 + 10_000 && !takeBack.signal.aborted) {
        // Someone rewrote the runner's labels: nothing proves it is this lane's any more.
        w.github.set(runnerId, { labels: ['self-hosted', 'hostile'] });
        takeBack.abort();
      }
    });
    const r = await scaleDown(w, takeBack);
    expect(takeBack.signal.aborted).toBe(true);
    expect(r.ok).toBe(false);
    expect(r.error?.code).toBe('LP_NOT_OWNED');
    // Only the quarantine wrote labels; the runner keeps what it was given and stays registered.
    expect(w.github.calls.filter((c) => c.startsWith('setCustomLabels'))).toHaveLength(1);
    expect(w.github.calls.filter((c) => c.startsWith('deleteRunner'))).toEqual([]);
    expect(w.github.find(runnerId)?.labels).toEqual(['self-hosted', 'hostile']);
    expect((await w.store.getLane(LANE))?.state).toBe('failed');
  });

  it('when the canonical labels cannot be restored, the remove goes on and the lane never routes a job', async () => {
    const { w, runnerId } = await setup();
    const takeBack = new AbortController();
    let restoreRefused = false;
    w.clock.onSleep((now) => {
      if (now >= T0 + 10_000 && !takeBack.signal.aborted) {
        // GitHub refuses the next label write (the restore).
        w.github.failNext.set(
          'setCustomLabels',
          new LaunchplaneError('LP_GITHUB_UNAVAILABLE', 'GitHub answered 503'),
        );
        restoreRefused = true;
        takeBack.abort();
      }
    });
    const r = await scaleDown(w, takeBack);
    expect(restoreRefused).toBe(true);
    expect(r).toMatchObject({ ok: true, outcome: 'removed' });
    expect(r.steps).toContain(
      'taken back, but the canonical labels could not be restored (LP_GITHUB_UNAVAILABLE): the remove goes on',
    );
    expect(w.github.find(runnerId)).toBeUndefined();
    expect((await w.store.getLane(LANE))?.state).toBe('removed');
    expect(r.lane?.state).toBe('removed');
  });
});
