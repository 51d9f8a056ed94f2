/**
 * Each lane operation is one list of steps: its dry run must describe exactly the steps its real
 * run takes (names and lines), its journal entries keep their names and order (crash recovery
 * reads them), and every crash point is reached by some operation.
 */
import { nowSec, unitName } from '@launchplane/shared';
import type { LaneCreateCommand } from '@launchplane/shared';
import { afterEach, describe, expect, it } from 'vitest';
import { dataPaths } from '../config/data-dir.js';
import { createHarness, SECRET_TOKEN, type Harness } from '../core-harness.test-helper.js';
import { Ledger } from '../ledger/ledger.js';
import { Recorder } from '../ledger/recorder.js';
import { silentLogger } from '../ports/logger.js';
import { DockerLaneBackend, SystemdLaneBackend } from './lane-backend.js';
import { CRASH_POINTS, LaneService, type LaneOpResult } from './lane-service.js';
import { LaneTrash } from './lane-trash.js';
import { resolveSystemdRunAs } from './lane-users.js';

interface World {
  h: Harness;
  ledger: Ledger;
  lanes: LaneService;
  /** Every crash point reached, in order. */
  crashed: string[];
}

const worlds: World[] = [];
afterEach(async () => {
  for (const w of worlds.splice(0)) {
    w.ledger.close();
    await w.h.cleanup();
  }
});

/** A LaneService on the harness's fakes (systemd with lane users, Docker) and its own ledger. */
async function world(): Promise<World> {
  const h = await createHarness();
  const ledger = Ledger.open(':memory:');
  const crashed: string[] = [];
  const lanes = new LaneService({
    config: h.config,
    ledger,
    recorder: new Recorder({
      ledger,
      hostId: h.config.hostId,
      hostKey: h.keys.host.privateKey,
      now: () => nowSec(h.clock),
      onAppend: () => undefined,
    }),
    backends: {
      systemd: new SystemdLaneBackend(h.units),
      docker: new DockerLaneBackend(h.containers, h.config.hostId),
    },
    clock: h.clock,
    logger: silentLogger,
    crashPoint: (point) => crashed.push(point),
    accounts: h.accounts,
    systemdRunAs: await resolveSystemdRunAs(h.config, await h.units.managerUid(), h.accounts),
    trash: new LaneTrash(dataPaths(h.config.dataDir).trash, silentLogger),
  });
  const w = { h, ledger, lanes, crashed };
  worlds.push(w);
  return w;
}

/** The journal rows of a lane's last operation, oldest first. */
function lastOperation(w: World, laneId: string): string[] {
  const rows = w.ledger.journal.entries(laneId);
  const begin = rows.map((r) => r.step).lastIndexOf('begin');
  return rows.slice(begin).map((r) => `${r.op}:${r.step}`);
}

/** Runs `op` dry, then for real, and checks the dry run described exactly what ran. */
async function dryThenReal(
  op: (dryRun: boolean) => Promise<LaneOpResult>,
): Promise<{ dry: LaneOpResult; real: LaneOpResult }> {
  const dry = await op(true);
  const real = await op(false);
  expect(dry.outcome).toMatch(/^would-/);
  expect(real.outcome).not.toMatch(/^would-/);
  expect(dry.stepNames).toEqual(real.stepNames);
  expect(dry.steps).toEqual(real.steps);
  expect(real.stepNames?.length).toBeGreaterThan(0);
  return { dry, real };
}

const persistent = {
  ephemeral: false,
  runner: { url: 'http://127.0.0.1:9/acme/api', registrationToken: SECRET_TOKEN },
} as const;

async function createOnline(w: World, cmd: LaneCreateCommand): Promise<void> {
  await w.lanes.create(cmd, { dryRun: false });
  const lane = w.ledger.lanes.get(cmd.laneId);
  if (lane === undefined) throw new Error('lane not created');
  w.lanes.transitionSaved(lane, 'came-online');
}

describe('LaneService: a dry run describes the steps the real run takes', () => {
  const creates = [
    {
      what: 'systemd, persistent',
      over: { backend: 'systemd', ...persistent },
      names: ['record', 'layout', 'configure', 'install', 'start'],
      journal: ['layout', 'configure', 'install', 'start'],
    },
    {
      what: 'systemd, ephemeral',
      over: { backend: 'systemd' },
      names: ['record', 'layout', 'install', 'start'],
      journal: ['layout', 'install', 'start'],
    },
    {
      what: 'docker, persistent',
      over: { backend: 'docker', docker: { image: 'x' }, ...persistent },
      names: ['record', 'layout', 'install', 'configure', 'start'],
      journal: ['layout', 'install', 'configure', 'start'],
    },
    {
      what: 'docker, ephemeral',
      over: { backend: 'docker', docker: { image: 'x' } },
      names: ['record', 'layout', 'install', 'start'],
      journal: ['layout', 'install', 'start'],
    },
  ] as const;
  for (const c of creates) {
    it(`create (${c.what})`, async () => {
      const w = await world();
      const cmd = w.h.createCmd(c.over);
      const { dry, real } = await dryThenReal((dryRun) => w.lanes.create(cmd, { dryRun }));
      expect(real.stepNames).toEqual(c.names);
      expect(dry.lane).toBeUndefined();
      expect(real.lane?.state).toBe('starting');
      expect(lastOperation(w, cmd.laneId)).toEqual(
        ['begin', ...c.journal, 'end'].map((s) => `create:${s}`),
      );
      expect(w.crashed).toEqual(c.names.map((n) => `create:${n}`));
      // Lines in order, the secret in none.
      expect(dry.steps[0]).toBe(`record lane "${cmd.laneId}" as pending in the ledger`);
      expect(dry.steps.at(-1)).toContain('start ');
      expect(dry.steps.join('\n')).not.toContain(SECRET_TOKEN);
    });
  }

  it('stop, start from drained, restart and remove', async () => {
    const w = await world();
    const cmd = w.h.createCmd({ backend: 'systemd' });
    await createOnline(w, cmd);
    const id = cmd.laneId;
    w.crashed.length = 0;

    const stop = await dryThenReal((dryRun) => w.lanes.stop(id, { dryRun }));
    expect(stop.real.stepNames).toEqual(['record', 'stop', 'drained']);
    expect(stop.real.lane?.state).toBe('drained');
    expect(stop.dry.lane?.state).toBe('online');
    expect(lastOperation(w, id)).toEqual(['stop:begin', 'stop:stop', 'stop:end']);

    const start = await dryThenReal((dryRun) => w.lanes.start(id, { dryRun }));
    expect(start.real.stepNames).toEqual(['record', 'start', 'came-online']);
    expect(start.real.lane?.state).toBe('online');
    expect(lastOperation(w, id)).toEqual(['start:begin', 'start:start', 'start:end']);

    const restart = await dryThenReal((dryRun) => w.lanes.restart(id, { dryRun }));
    expect(restart.real.stepNames).toEqual(['record', 'restart', 'came-online']);
    expect(restart.real.lane).toMatchObject({ state: 'online', restarts: 1 });
    expect(lastOperation(w, id)).toEqual(['restart:begin', 'restart:restart', 'restart:end']);

    const remove = await dryThenReal((dryRun) => w.lanes.remove(id, { dryRun, force: false }));
    expect(remove.real.stepNames).toEqual(['record', 'stop', 'uninstall', 'delete-dir', 'removed']);
    expect(remove.real.lane?.state).toBe('removed');
    expect(lastOperation(w, id)).toEqual([
      'remove:begin',
      'remove:stop',
      'remove:uninstall',
      'remove:delete-dir',
      'remove:end',
    ]);

    // Every crash point of these operations, in the order they ran (a start has none).
    expect(w.crashed).toEqual(CRASH_POINTS.filter((p) => !p.startsWith('create:')));
  });

  it('remove of a lane whose unit is gone, and stop of one that is not running', async () => {
    const w = await world();
    const cmd = w.h.createCmd({ backend: 'systemd' });
    await createOnline(w, cmd);
    const id = cmd.laneId;
    await w.h.units.stop(unitName(id));
    const stop = await dryThenReal((dryRun) => w.lanes.stop(id, { dryRun }));
    expect(stop.real.stepNames).toEqual(['record', 'not-running', 'drained']);
    expect(lastOperation(w, id)).toEqual(['stop:begin', 'stop:end']);

    await w.h.units.removeUnit(unitName(id));
    const remove = await dryThenReal((dryRun) => w.lanes.remove(id, { dryRun, force: false }));
    expect(remove.real.stepNames).toEqual(['record', 'object-gone', 'delete-dir', 'removed']);
    expect(remove.real.steps).toContain(`unit "${unitName(id)}" is already gone`);
    expect(lastOperation(w, id)).toEqual(['remove:begin', 'remove:delete-dir', 'remove:end']);
  });

  it('every crash point is reached by some operation', async () => {
    const w = await world();
    const sd = w.h.createCmd({ backend: 'systemd', ...persistent });
    await createOnline(w, sd);
    await w.lanes.stop(sd.laneId, { dryRun: false });
    await w.lanes.restart(sd.laneId, { dryRun: false });
    await w.lanes.remove(sd.laneId, { dryRun: false, force: false });
    expect([...new Set(w.crashed)].sort()).toEqual([...CRASH_POINTS].sort());
  });

  it('a refused operation is refused dry or not, before any step, and journals nothing', async () => {
    const w = await world();
    const cmd = w.h.createCmd({ backend: 'systemd' });
    await createOnline(w, cmd);
    // Refused before any step: a remove of a lane already removed.
    await w.lanes.remove(cmd.laneId, { dryRun: false, force: false });
    const rows = w.ledger.journal.entries(cmd.laneId).length;
    for (const dryRun of [true, false]) {
      await expect(w.lanes.remove(cmd.laneId, { dryRun, force: false })).rejects.toMatchObject({
        code: 'LP_NOT_OWNED',
      });
    }
    expect(w.ledger.journal.entries(cmd.laneId)).toHaveLength(rows);
  });
});
