import { mkdir, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { unitName, containerName, DOCKER_LABEL_HOST, DOCKER_LABEL_LANE } from '@launchplane/shared';
import { afterEach, describe, expect, it } from 'vitest';
import { createHarness, type Harness } from '../core-harness.test-helper.js';

const cleanups: Harness[] = [];
afterEach(async () => {
  for (const h of cleanups.splice(0)) await h.cleanup();
});

class Crash extends Error {}

/** A harness whose process "dies" (ledger closed, nothing more runs) at `step`. */
async function crashingHarness(step: string): Promise<Harness> {
  const box: { h?: Harness } = {};
  const h = await createHarness({
    crashPoint: (s) => {
      if (s === step && box.h !== undefined) {
        box.h.core.ledger.close();
        throw new Crash(`crash at ${s}`);
      }
    },
  });
  box.h = h;
  cleanups.push(h);
  return h;
}

/** The ledger matches reality: no orphan unit, container or dir, no duplicate, no open operation. */
async function expectConsistent(h: Harness): Promise<void> {
  const lanes = h.core.ledger.lanes.all();
  const live = lanes.filter((l) => l.state !== 'removed' && l.state !== 'failed');
  const dirs = await readdir(join(h.dataDir, 'lanes')).catch(() => []);
  expect(dirs.sort()).toEqual(live.map((l) => l.laneId).sort());
  const objects = [...h.units.units.keys(), ...h.containers.containers.keys()].sort();
  expect(objects).toEqual(live.map((l) => l.objectName).sort());
  for (const l of lanes) expect(h.core.ledger.journal.openOperation(l.laneId)).toBeUndefined();
  expect(new Set(lanes.map((l) => l.laneId)).size).toBe(lanes.length);
  expect(h.core.verifyAudit()).toEqual({ ok: true });
}

describe('crash sweep: the agent dies after each step, then restarts', () => {
  const createSteps = [
    'create:record',
    'create:layout',
    'create:configure',
    'create:install',
    'create:start',
  ];
  for (const backend of ['systemd', 'docker'] as const) {
    for (const step of createSteps) {
      it(`${backend} create interrupted after ${step} is reconciled`, async () => {
        const h = await crashingHarness(step);
        const cmd = h.createCmd({
          backend,
          ephemeral: false,
          runner: { url: 'http://127.0.0.1:9/acme/api', registrationToken: 'tok-1234' },
          ...(backend === 'docker' ? { docker: { image: 'x' } } : {}),
        });
        const jws = h.sign(cmd);
        const r = h.read(await h.core.handleCommand(jws));
        expect(r.ok).toBe(false);
        const h2 = await h.restart({ crashPoint: () => undefined });
        cleanups.push(h2);
        await expectConsistent(h2);
        const lane = h2.core.ledger.lanes.get(cmd.laneId);
        const recovered = h2.core.recovered.find((x) => x.laneId === cmd.laneId);
        expect(recovered).toBeDefined();
        if (step === 'create:start') {
          expect(lane?.state).toBe('starting');
          expect(recovered?.action).toBe('finish-start');
        } else if (step === 'create:record') {
          expect(lane?.state).toBe('removed');
        } else {
          expect(lane?.state).toBe('failed');
          expect(lane?.recovery).toMatch(/interrupted/);
        }
        expect(
          h2.core.auditLog().some((a) => a.action === 'lane.recover' && a.laneId === cmd.laneId),
        ).toBe(true);
        // The interrupted command is never executed again; its redelivery says so.
        const again = h2.read(await h2.core.handleCommand(jws));
        expect(again.error?.code).toBe('LP_REPLAYED');
        await expectConsistent(h2);
      });
    }
  }

  const removeSteps = ['remove:record', 'remove:stop', 'remove:uninstall', 'remove:delete-dir'];
  for (const backend of ['systemd', 'docker'] as const) {
    for (const step of removeSteps) {
      it(`${backend} remove interrupted after ${step} is finished`, async () => {
        const h = await crashingHarness(step);
        const cmd = h.createCmd({
          backend,
          ...(backend === 'docker' ? { docker: { image: 'x' } } : {}),
        });
        expect((await h.send(cmd)).ok).toBe(true);
        await h.core.healthPass();
        const r = await h.send({
          type: 'lane.remove',
          laneId: cmd.laneId,
          dryRun: false,
          force: false,
        });
        expect(r.ok).toBe(false);
        const h2 = await h.restart({ crashPoint: () => undefined });
        cleanups.push(h2);
        expect(h2.core.ledger.lanes.get(cmd.laneId)?.state).toBe('removed');
        expect(h2.core.recovered).toEqual([
          { laneId: cmd.laneId, action: 'finish-remove', from: 'stopping', to: 'removed' },
        ]);
        await expectConsistent(h2);
      });
    }
  }
});

describe('crash sweep: stop and restart', () => {
  const cases = [
    { step: 'restart:record', type: 'lane.restart', action: 'finish-start', to: 'online' },
    { step: 'restart:restart', type: 'lane.restart', action: 'finish-start', to: 'online' },
    { step: 'stop:record', type: 'lane.stop', action: 'finish-stop', to: 'drained' },
    { step: 'stop:stop', type: 'lane.stop', action: 'finish-stop', to: 'drained' },
  ] as const;
  for (const backend of ['systemd', 'docker'] as const) {
    for (const c of cases) {
      it(`${backend} ${c.type} interrupted after ${c.step} is finished (${c.to})`, async () => {
        const h = await crashingHarness(c.step);
        const cmd = h.createCmd({
          backend,
          ...(backend === 'docker' ? { docker: { image: 'x' } } : {}),
        });
        expect((await h.send(cmd)).ok).toBe(true);
        await h.core.healthPass();
        const r = await h.send({ type: c.type, laneId: cmd.laneId, dryRun: false });
        expect(r.ok).toBe(false);
        const h2 = await h.restart({ crashPoint: () => undefined });
        cleanups.push(h2);
        expect(h2.core.recovered.map((x) => [x.laneId, x.action])).toEqual([
          [cmd.laneId, c.action],
        ]);
        await h2.core.healthPass();
        const lane = h2.core.ledger.lanes.get(cmd.laneId);
        expect(lane?.state).toBe(c.to);
        expect(h2.core.ledger.journal.openOperation(cmd.laneId)).toBeUndefined();
        const running =
          backend === 'systemd'
            ? h2.units.units.get(lane!.objectName)?.activeState === 'active'
            : h2.containers.containers.get(lane!.objectName)?.running === true;
        expect(running).toBe(c.to === 'online');
        expect(h2.core.verifyAudit()).toEqual({ ok: true });
      });
    }
  }
});

describe('recovery of transitional states', () => {
  it('retires a pending lane that made nothing and cleans a half-made directory', async () => {
    const h = await createHarness();
    cleanups.push(h);
    const cmd = h.createCmd();
    expect((await h.send(cmd)).ok).toBe(true);
    const lane = h.core.ledger.lanes.get(cmd.laneId);
    if (lane === undefined) throw new Error('no lane');
    // Rewind the ledger to "pending, create open", with a leftover dir and unit.
    h.core.ledger.lanes.update({ ...lane, state: 'pending' });
    h.core.ledger.journal.record(lane.laneId, 'create', 'begin', 1);
    const h2 = await h.restart();
    cleanups.push(h2);
    expect(h2.core.recovered[0]?.action).toBe('rollback-removed');
    await expectConsistent(h2);
  });

  it('finishes an interrupted stop: the lane ends drained, its unit stopped', async () => {
    const h = await createHarness();
    cleanups.push(h);
    const cmd = h.createCmd();
    await h.send(cmd);
    await h.core.healthPass();
    const lane = h.core.ledger.lanes.get(cmd.laneId);
    if (lane === undefined) throw new Error('no lane');
    h.core.ledger.lanes.update({ ...lane, state: 'draining' });
    h.core.ledger.journal.record(lane.laneId, 'stop', 'begin', 1);
    h.core.ledger.journal.record(lane.laneId, 'stop', 'stop', 1);
    const h2 = await h.restart();
    cleanups.push(h2);
    expect(h2.core.ledger.lanes.get(cmd.laneId)?.state).toBe('drained');
    expect(h2.units.units.get(unitName(cmd.laneId))?.activeState).toBe('inactive');
  });

  it('marks a lane whose unit vanished while the agent was down failed', async () => {
    const h = await createHarness();
    cleanups.push(h);
    const cmd = h.createCmd({ backend: 'docker', docker: { image: 'x' } });
    await h.send(cmd);
    await h.core.healthPass();
    h.containers.containers.delete(containerName(cmd.laneId));
    const h2 = await h.restart();
    cleanups.push(h2);
    expect(h2.core.ledger.lanes.get(cmd.laneId)).toMatchObject({ state: 'failed' });
    expect(h2.core.ledger.lanes.get(cmd.laneId)?.recovery).toMatch(/vanished/);
  });

  it('never removes a look-alike object during rollback', async () => {
    const h = await createHarness();
    cleanups.push(h);
    const cmd = h.createCmd({ backend: 'docker', docker: { image: 'x' } });
    await h.send(cmd);
    const lane = h.core.ledger.lanes.get(cmd.laneId);
    if (lane === undefined) throw new Error('no lane');
    h.core.ledger.lanes.update({ ...lane, state: 'provisioning' });
    h.core.ledger.journal.record(lane.laneId, 'create', 'begin', 1);
    // Someone replaced our container with theirs, same name, another host label.
    h.containers.containers.delete(containerName(cmd.laneId));
    const theirs = h.containers.plant(containerName(cmd.laneId), {
      [DOCKER_LABEL_LANE]: cmd.laneId,
      [DOCKER_LABEL_HOST]: 'host-z',
    });
    await mkdir(join(h.dataDir, 'lanes', cmd.laneId), { recursive: true });
    const h2 = await h.restart();
    cleanups.push(h2);
    expect(h2.containers.containers.get(containerName(cmd.laneId))).toBe(theirs);
    expect(
      h2.containers.calls.filter((c) => c.startsWith('remove') || c.startsWith('stop')),
    ).toEqual([]);
    expect(h2.core.ledger.lanes.get(cmd.laneId)?.state).toBe('failed');
  });
});
