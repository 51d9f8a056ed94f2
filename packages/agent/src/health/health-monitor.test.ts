import { nowSec } from '@launchplane/shared';
import { rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { LaunchplaneError, unitName, containerName, newLaneId } from '@launchplane/shared';
import { afterEach, describe, expect, it } from 'vitest';
import { createHarness, type Harness } from '../core-harness.test-helper.js';

let h: Harness;
afterEach(async () => {
  await h.cleanup();
});

async function persistentOnline(backend: 'systemd' | 'docker' = 'systemd'): Promise<string> {
  const cmd = h.createCmd({
    ephemeral: false,
    backend,
    ...(backend === 'docker' ? { docker: { image: 'x' } } : {}),
    runner: { url: 'http://127.0.0.1:9/acme/api', registrationToken: 'tok-1234' },
  });
  expect((await h.send(cmd)).ok).toBe(true);
  await h.core.healthPass();
  expect(h.core.ledger.lanes.get(cmd.laneId)?.state).toBe('online');
  return cmd.laneId;
}

const state = (laneId: string) => h.core.ledger.lanes.get(laneId)?.state;
const starts = (name: string) => h.units.calls.filter((c) => c === `start ${name}`).length;

describe('health loop', () => {
  it('restarts a dead persistent lane after a full-jitter backoff, then sees it online', async () => {
    h = await createHarness({ random: () => 0.5 });
    const laneId = await persistentOnline();
    const name = unitName(laneId);
    h.units.kill(name);
    await h.core.healthPass();
    const lane = h.core.ledger.lanes.get(laneId);
    expect(lane?.state).toBe('unhealthy');
    expect(lane?.failures.length).toBe(1);
    // attempt 0: delay = 0.5 · min(120, 2·2^0) s = 1 s
    expect(lane?.nextRestartAtMs).toBe(h.clock.nowMs() + 1000);
    expect(starts(name)).toBe(1);
    h.clock.advance(999);
    await h.core.healthPass();
    expect(starts(name)).toBe(1);
    h.clock.advance(1);
    await h.core.healthPass();
    expect(starts(name)).toBe(2);
    expect(state(laneId)).toBe('restarting');
    await h.core.healthPass();
    expect(state(laneId)).toBe('online');
    expect(h.core.ledger.lanes.get(laneId)?.restarts).toBe(1);
    expect(h.core.auditLog().map((a) => a.action)).toEqual([
      'lane.create',
      'health.failure',
      'health.restart',
    ]);
  });

  it('caps the backoff at backoffCapSec', async () => {
    h = await createHarness({
      random: () => 0.999,
      config: {
        health: {
          intervalSec: 10,
          maxFailures: 50,
          failureWindowSec: 600,
          backoffBaseSec: 2,
          backoffCapSec: 5,
        },
      },
    });
    const laneId = await persistentOnline();
    const name = unitName(laneId);
    for (let i = 0; i < 6; i++) {
      h.units.kill(name);
      await h.core.healthPass();
      const next = h.core.ledger.lanes.get(laneId)?.nextRestartAtMs ?? 0;
      expect(next - h.clock.nowMs()).toBeLessThanOrEqual(5000);
      h.clock.advance(next - h.clock.nowMs());
      await h.core.healthPass();
    }
    expect(h.core.ledger.lanes.get(laneId)?.nextRestartAtMs).toBeUndefined();
  });

  it('marks a lane failed after 5 failures in 10 minutes and leaves it alone', async () => {
    h = await createHarness({ random: () => 0 });
    const laneId = await persistentOnline();
    const name = unitName(laneId);
    for (let i = 0; i < 4; i++) {
      h.units.kill(name);
      await h.core.healthPass(); // failure i+1, restart at once (jitter 0)
      expect(state(laneId)).toBe('restarting');
      h.clock.advance(10_000);
    }
    h.units.kill(name);
    await h.core.healthPass();
    const lane = h.core.ledger.lanes.get(laneId);
    expect(lane?.state).toBe('failed');
    expect(lane?.recovery).toMatch(/failed 5 times in 600s/);
    const startsBefore = starts(name);
    for (let i = 0; i < 5; i++) {
      h.clock.advance(60_000);
      await h.core.healthPass();
    }
    expect(starts(name)).toBe(startsBefore);
    expect(state(laneId)).toBe('failed');
    const fail = h.core.auditLog().find((a) => a.action === 'health.fail');
    expect(fail).toMatchObject({ outcome: 'failed', laneId, recovery: lane?.recovery });
    expect(h.core.inventory().lanes[0]).toMatchObject({
      state: 'failed',
      recovery: lane?.recovery,
    });
  });

  it('forgets failures older than the window', async () => {
    h = await createHarness({ random: () => 0 });
    const laneId = await persistentOnline();
    const name = unitName(laneId);
    for (let i = 0; i < 12; i++) {
      h.units.kill(name);
      await h.core.healthPass();
      h.clock.advance(200_000); // 3 failures at most per 600 s window
      await h.core.healthPass();
    }
    expect(state(laneId)).toBe('online');
  });

  it('counts a start that systemd refuses (start limit) as a failure, never a success', async () => {
    h = await createHarness({ random: () => 0 });
    const laneId = await persistentOnline();
    const name = unitName(laneId);
    h.units.startError = new LaunchplaneError(
      'LP_BACKEND_FAILED',
      'Start of the service was attempted too often',
    );
    h.units.kill(name);
    await h.core.healthPass(); // failure 1 (dead) + failure 2 (refused start)
    let lane = h.core.ledger.lanes.get(laneId);
    expect(lane?.state).toBe('unhealthy');
    expect(lane?.failures.length).toBe(2);
    expect(h.core.auditLog().at(-1)).toMatchObject({
      action: 'health.restart',
      outcome: 'failed',
      code: 'LP_BACKEND_FAILED',
    });
    await h.core.healthPass(); // failure 3: the retry is due at once and refused again
    await h.core.healthPass(); // failure 4
    expect(state(laneId)).toBe('unhealthy');
    await h.core.healthPass(); // failure 5
    lane = h.core.ledger.lanes.get(laneId);
    expect(lane?.state).toBe('failed');
    expect(lane?.failures.length).toBe(5);
  });

  it('marks an ephemeral lane completed once its runner exited after its job', async () => {
    h = await createHarness();
    const cmd = h.createCmd();
    await h.send(cmd);
    await h.core.healthPass();
    await h.writeLaneFile(cmd.laneId, '_launchplane/state/jobs', 'started\ncompleted\n');
    h.units.kill(unitName(cmd.laneId));
    await h.core.healthPass();
    expect(state(cmd.laneId)).toBe('completed');
    expect(h.units.calls.filter((c) => c.startsWith('start')).length).toBe(1);
  });

  it('fails an ephemeral lane whose runner exited without a job (its JIT config is spent)', async () => {
    h = await createHarness();
    const cmd = h.createCmd();
    await h.send(cmd);
    h.units.kill(unitName(cmd.laneId));
    await h.core.healthPass();
    expect(state(cmd.laneId)).toBe('failed');
    expect(h.core.ledger.lanes.get(cmd.laneId)?.recovery).toMatch(/single-use/);
    // The lane is over: its JIT config goes, though the runner never wrote .runner from it.
    await expect(
      stat(join(h.dataDir, 'lanes', cmd.laneId, '_launchplane', 'jit')),
    ).rejects.toMatchObject({ code: 'ENOENT' });
  });

  it('a persistent lane whose registration was deleted fails with LP_RUNNER_DELETED and is not restarted', async () => {
    h = await createHarness({ random: () => 0 });
    for (const backend of ['systemd', 'docker'] as const) {
      const laneId = await persistentOnline(backend);
      // The listener found its registration gone: it deleted .runner and .credentials, exit 0.
      await rm(join(h.dataDir, 'lanes', laneId, '.runner'));
      if (backend === 'systemd') h.units.exit(unitName(laneId), 0);
      else h.containers.exit(containerName(laneId), 0);
      for (let i = 0; i < 3; i++) {
        await h.core.healthPass();
        h.clock.advance(10_000);
      }
      const lane = h.core.ledger.lanes.get(laneId);
      expect(lane?.state).toBe('failed');
      expect(lane?.recovery).toMatch(/LP_RUNNER_DELETED/);
      expect(lane?.recovery).not.toMatch(/token/i);
      expect(
        h.core.auditLog().filter((a) => a.action === 'health.restart' && a.laneId === laneId),
      ).toEqual([]);
      expect(
        h.core.auditLog().find((a) => a.action === 'health.fail' && a.laneId === laneId),
      ).toMatchObject({
        code: 'LP_RUNNER_DELETED',
      });
      h.clock.advance(1000);
    }
    expect(starts(unitName(h.core.listLanes()[0]!.laneId))).toBe(1);
  });

  it('a runner too old for GitHub (exit 7) fails its lane with LP_RUNNER_OUTDATED and a hint to update', async () => {
    h = await createHarness({ random: () => 0 });
    const laneId = await persistentOnline();
    h.units.exit(unitName(laneId), 7);
    await h.core.healthPass();
    const lane = h.core.ledger.lanes.get(laneId);
    expect(lane?.state).toBe('failed');
    expect(lane?.recovery).toMatch(/update the runner template/);
    expect(h.core.auditLog().at(-1)).toMatchObject({
      action: 'health.fail',
      code: 'LP_RUNNER_OUTDATED',
    });
  });

  it('an ephemeral lane whose job failed in set-up (no hook ran) ends completed, and its JIT config goes', async () => {
    h = await createHarness();
    const cmd = h.createCmd();
    await h.send(cmd);
    await h.core.healthPass();
    const dir = join(h.dataDir, 'lanes', cmd.laneId);
    // The runner turned the JIT config into .runner at its start: the next pass deletes the secret.
    await h.writeLaneFile(cmd.laneId, '.runner', '{"agentId": 17}');
    await h.core.healthPass();
    await expect(stat(join(dir, '_launchplane', 'jit'))).rejects.toMatchObject({ code: 'ENOENT' });
    // The job failed before any hook ran; the runner deleted .runner and exited 0.
    await rm(join(dir, '.runner'));
    h.units.exit(unitName(cmd.laneId), 0);
    await h.core.healthPass();
    expect(state(cmd.laneId)).toBe('completed');
    expect(h.units.calls.filter((c) => c.startsWith('start')).length).toBe(1);
  });

  it('a stop the agent asked for (run.sh ends 143) leaves the lane drained, not failed', async () => {
    h = await createHarness();
    const laneId = await persistentOnline();
    const r = await h.send({ type: 'lane.stop', laneId, dryRun: false });
    expect(r.error).toBeUndefined();
    await h.core.healthPass();
    expect(state(laneId)).toBe('drained');
    expect(h.units.units.get(unitName(laneId))?.exit).toMatchObject({
      status: 143,
      result: 'success',
    });
  });

  it('fails a lane whose unit vanished, and one whose container vanished', async () => {
    h = await createHarness();
    const a = await persistentOnline();
    const b = await persistentOnline('docker');
    h.units.units.delete(unitName(a));
    h.containers.containers.delete(containerName(b));
    await h.core.healthPass();
    expect(state(a)).toBe('failed');
    expect(state(b)).toBe('failed');
    expect(h.core.ledger.lanes.get(a)?.recovery).toMatch(/vanished|lost/);
  });

  it('follows busy and idle from the job hooks', async () => {
    h = await createHarness();
    const laneId = await persistentOnline();
    await h.writeLaneFile(laneId, '_launchplane/state/jobs', 'started\n');
    await h.core.healthPass();
    expect(state(laneId)).toBe('busy');
    await h.writeLaneFile(laneId, '_launchplane/state/jobs', 'started\ncompleted\n');
    await h.core.healthPass();
    expect(state(laneId)).toBe('online');
  });

  it('never touches look-alike units and containers on any pass', async () => {
    h = await createHarness({ random: () => 0 });
    const fakeId = newLaneId(h.clock.nowMs() - 5000);
    const unit = h.units.plant(unitName(fakeId), { marker: fakeId, active: false });
    const box = h.containers.plant(
      containerName(fakeId),
      { 'dev.launchplane.lane': fakeId, 'dev.launchplane.host': 'host-a' },
      false,
    );
    await persistentOnline();
    for (let i = 0; i < 10; i++) {
      await h.core.healthPass();
      h.clock.advance(10_000);
    }
    expect(h.units.calls.filter((c) => c.includes(fakeId))).toEqual([]);
    expect(h.containers.calls.filter((c) => c.includes(fakeId))).toEqual([]);
    expect(unit.activeState).toBe('inactive');
    expect(box.running).toBe(false);
  });

  it('on the clock, a restart due before the next interval gets its own pass', async () => {
    h = await createHarness({ random: () => 0.5 });
    const laneId = await persistentOnline();
    const name = unitName(laneId);
    h.units.kill(name);
    h.core.startHealthLoop();
    h.clock.advance(10_000); // pass 1: dead, restart due in 1 s
    await h.core.healthPass(); // queued behind the timer's pass: both have run
    expect(state(laneId)).toBe('unhealthy');
    // pass 1 scheduled the next one for the restart (1 s), not for the interval (10 s)
    expect(starts(name)).toBe(1);
    h.clock.advance(1_000);
    await h.core.stopHealthLoop();
    expect(starts(name)).toBe(2);
  });

  it('runs passes on the clock every intervalSec', async () => {
    h = await createHarness();
    const laneId = (await h.send(h.createCmd())).lane?.laneId ?? '';
    expect(h.core.status().lastHealthAt).toBeUndefined();
    h.core.startHealthLoop();
    h.clock.advance(9_999);
    expect(state(laneId)).toBe('starting');
    h.clock.advance(1);
    await h.core.stopHealthLoop(); // waits for the pass the timer started
    expect(h.core.status().lastHealthAt).toBe(nowSec(h.clock));
    expect(state(laneId)).toBe('online');
    h.clock.advance(60_000);
    expect(h.clock.pending).toBe(0);
  });
});
