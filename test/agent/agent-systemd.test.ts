import { access, readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import type { GitHubSim } from '@launchplane/github-sim';
import { randomUUID } from 'node:crypto';
import {
  fingerprint,
  generateEd25519KeyPair,
  signCommand,
  unitName,
  type Command,
} from '@launchplane/shared';
import { afterAll, beforeAll, expect, it } from 'vitest';

import { AgentCore } from '../../packages/agent/src/agent-core.js';
import { DbusUnitManager } from '../../packages/agent/src/adapters/systemd/dbus-unit-manager.js';
import { describeWithSystemd, tempDir, waitFor, type TempDir } from '../testbed/index.js';
import { OwnedLanes } from '../testbed/owned-lanes.js';
import {
  agentFixture,
  enqueueJob,
  expectLedgerMatchesReality,
  freshLaneId,
  jitCreate,
  persistentCreate,
  simJob,
  startSim,
  waitForRunner,
  type AgentFixture,
} from './agent-fixture.js';

describeWithSystemd('agent core on a real systemd user manager with the stub runner', (systemd) => {
  let sim: GitHubSim;
  let units: DbusUnitManager;
  let work: TempDir;
  let f: AgentFixture;
  let core: AgentCore;
  let lookAlike: string;
  let lookAlikeId: string;

  // The systemd manager is shared by every suite of the run, some running at the same time: only
  // units whose lane dir is under this suite's dir (its look-alike's too) are its to judge or to
  // clean up.
  let owned: OwnedLanes | undefined;
  const unitNames = async (): Promise<string[]> => (await owned?.names()) ?? [];

  beforeAll(async () => {
    const sd = systemd();
    sim = await startSim();
    units = await DbusUnitManager.create({
      bus: 'user',
      unitDir: sd.unitDir,
      busAddress: sd.env.DBUS_SESSION_BUS_ADDRESS,
    });
    work = await tempDir({ base: sd.laneRoot, prefix: 'agent-', laneUsers: true });
    owned = new OwnedLanes(work.path, { kind: 'systemd', systemd: sd });
    f = agentFixture(join(work.path, 'data'));
    core = await AgentCore.create(f.deps({ units }));
    // A hand-made unit named like a lane and carrying a lane marker, but not in the ledger.
    lookAlikeId = freshLaneId();
    lookAlike = await units.writeUnit({
      laneId: lookAlikeId,
      description: 'hand-made look-alike',
      execStart: ['/bin/sleep', '100000'],
      workingDirectory: work.path,
      environment: {},
      timeoutStopSec: 5,
    });
    await units.start(lookAlike);
  });

  afterAll(async () => {
    await core?.stop();
    if (units !== undefined) {
      for (const name of await unitNames().catch(() => []))
        await units.removeUnit(name).catch(() => undefined);
      await units.close();
    }
    await sim?.close();
    await work?.cleanup();
  });

  async function expectLookAlikeUntouched(): Promise<void> {
    const s = await units.status(lookAlike);
    expect(s).toMatchObject({ activeState: 'active', marker: lookAlikeId });
  }

  it('ephemeral lane: create → runner online → busy during a job (hooks and Runner.Worker) → completed → remove', async () => {
    const cmd = await jitCreate(sim, 'systemd');
    const dry = await f.send(core, { ...cmd, dryRun: true });
    expect(dry).toMatchObject({ ok: true, outcome: 'would-create' });
    expect(await unitNames()).toEqual([lookAlike]);

    const created = await f.send(core, cmd);
    expect(created).toMatchObject({
      ok: true,
      outcome: 'created',
      lane: { state: 'starting', runnerId: cmd.runnerId },
    });
    const unitText = await readFile(join(systemd().unitDir, unitName(cmd.laneId)), 'utf8');
    expect(unitText).toContain(`X-Launchplane-Lane=${cmd.laneId}`);
    expect(unitText).not.toContain('jitconfig');
    await waitForRunner(sim, cmd.runnerId ?? 0, 'online');
    await core.healthPass();
    expect(core.ledger.lanes.get(cmd.laneId)?.state).toBe('online');

    const job = await enqueueJob(sim, 6000);
    const busy = await waitFor(
      async () => {
        const r = await f.send(core, { type: 'lane.inspect', laneId: cmd.laneId, dryRun: false });
        return r.lane?.local?.jobRunning === true && r.lane.local.workerProcess ? r : undefined;
      },
      { timeoutMs: 30_000, intervalMs: 200, what: 'local busy signal' },
    );
    expect(busy.lane).toMatchObject({ backendState: 'active/running', local: { busy: true } });
    const refused = await f.send(core, {
      type: 'lane.remove',
      laneId: cmd.laneId,
      dryRun: false,
      force: false,
    });
    expect(refused.error?.code).toBe('LP_LANE_BUSY');

    await waitFor(async () => (await simJob(sim, job)).status === 'completed', {
      timeoutMs: 30_000,
      intervalMs: 200,
      what: 'job completed',
    });
    expect((await simJob(sim, job)).conclusion).toBe('success');
    await waitFor(
      async () => (await units.status(unitName(cmd.laneId)))?.activeState !== 'active',
      { timeoutMs: 30_000, what: 'ephemeral runner exit' },
    );
    await core.healthPass();
    expect(core.ledger.lanes.get(cmd.laneId)).toMatchObject({ state: 'completed' });

    const removed = await f.send(core, {
      type: 'lane.remove',
      laneId: cmd.laneId,
      dryRun: false,
      force: false,
    });
    expect(removed).toMatchObject({ ok: true, outcome: 'removed' });
    expect(await unitNames()).toEqual([lookAlike]);
    await expect(access(join(f.config.dataDir, 'lanes', cmd.laneId))).rejects.toThrow();
    await expectLookAlikeUntouched();
  });

  it('persistent lane: config.sh registers it, then stop, start, restart and remove act on the real unit', async () => {
    const cmd = await persistentCreate(sim, 'systemd');
    const created = await f.send(core, cmd);
    expect(created).toMatchObject({ ok: true, lane: { state: 'starting' } });
    const runnerId = created.lane?.runnerId ?? 0;
    expect(runnerId).toBeGreaterThan(0);
    expect(JSON.stringify(core.auditLog())).not.toContain(
      (cmd.runner as { registrationToken: string }).registrationToken,
    );
    await waitForRunner(sim, runnerId, 'online');
    await core.healthPass();
    expect(core.ledger.lanes.get(cmd.laneId)?.state).toBe('online');

    const stopped = await f.send(core, { type: 'lane.stop', laneId: cmd.laneId, dryRun: false });
    expect(stopped).toMatchObject({ ok: true, lane: { state: 'drained' } });
    expect((await units.status(unitName(cmd.laneId)))?.activeState).toBe('inactive');
    await core.healthPass();
    expect(core.ledger.lanes.get(cmd.laneId)?.state).toBe('drained');

    const started = await f.send(core, { type: 'lane.start', laneId: cmd.laneId, dryRun: false });
    expect(started).toMatchObject({ ok: true, lane: { state: 'online' } });
    const before = (await units.status(unitName(cmd.laneId)))?.mainPid;
    const restarted = await f.send(core, {
      type: 'lane.restart',
      laneId: cmd.laneId,
      dryRun: false,
    });
    expect(restarted).toMatchObject({ ok: true, lane: { state: 'online', restarts: 1 } });
    expect((await units.status(unitName(cmd.laneId)))?.mainPid).not.toBe(before);
    await waitForRunner(sim, runnerId, 'online');

    const dry = await f.send(core, {
      type: 'lane.remove',
      laneId: cmd.laneId,
      dryRun: true,
      force: false,
    });
    expect(dry).toMatchObject({ ok: true, outcome: 'would-remove' });
    expect((await units.status(unitName(cmd.laneId)))?.activeState).toBe('active');
    const removed = await f.send(core, {
      type: 'lane.remove',
      laneId: cmd.laneId,
      dryRun: false,
      force: false,
    });
    expect(removed).toMatchObject({ ok: true, lane: { state: 'removed' } });
    expect(await unitNames()).toEqual([lookAlike]);
    await expect(stat(join(systemd().unitDir, unitName(cmd.laneId)))).rejects.toThrow();
    await expectLookAlikeUntouched();
  });

  it('a dead persistent lane is restarted by the health loop', async () => {
    const cmd = await persistentCreate(sim, 'systemd');
    expect((await f.send(core, cmd)).ok).toBe(true);
    await core.healthPass();
    const name = unitName(cmd.laneId);
    const pid = (await units.status(name))?.mainPid ?? 0;
    process.kill(pid, 'SIGKILL');
    await waitFor(async () => (await units.status(name))?.activeState !== 'active', {
      what: 'runner death',
    });
    // Passes until the backoff (≤ 2 s for the first failure) has passed and the unit was started again.
    await waitFor(
      async () => {
        await core.healthPass();
        return (
          core.ledger.lanes.get(cmd.laneId)?.state === 'online' &&
          (core.ledger.lanes.get(cmd.laneId)?.restarts ?? 0) >= 1
        );
      },
      { timeoutMs: 30_000, intervalMs: 250, what: 'health restart' },
    );
    expect((await units.status(name))?.activeState).toBe('active');
    expect(
      core
        .auditLog()
        .some(
          (a) => a.action === 'health.restart' && a.laneId === cmd.laneId && a.outcome === 'ok',
        ),
    ).toBe(true);
    expect(
      (await f.send(core, { type: 'lane.remove', laneId: cmd.laneId, dryRun: false, force: false }))
        .ok,
    ).toBe(true);
  });

  it('forged, tampered, expired, wrong-audience, replayed and out-of-sequence commands change nothing on systemd', async () => {
    const before = await unitNames();
    const auditBefore = core.auditLog().length;
    const cmd = await jitCreate(sim, 'systemd');
    const other = generateEd25519KeyPair();
    const now = Math.floor(Date.now() / 1000);
    const forged = signCommand(
      {
        iss: 'coord-test',
        aud: 'host-a',
        iat: now,
        exp: now + 60,
        jti: randomUUID(),
        seq: Date.now(),
        cmd,
      },
      { privateKey: other.privateKey, kid: fingerprint(f.keys.coordinator.publicKey) },
    );
    const good = f.sign(cmd);
    const [h64, p64, s64] = good.split('.');
    const payload = JSON.parse(Buffer.from(p64 ?? '', 'base64url').toString()) as {
      cmd: { labels: string[] };
    };
    payload.cmd.labels = ['launchplane', 'lp-pool-gpu'];
    const tampered = `${h64}.${Buffer.from(JSON.stringify(payload)).toString('base64url')}.${s64}`;
    const cases: [string, string][] = [
      [forged, 'LP_SIGNATURE_INVALID'],
      [tampered, 'LP_SIGNATURE_INVALID'],
      [f.sign(cmd, { iat: now - 500, exp: now - 300 }), 'LP_EXPIRED'],
      [f.sign(cmd, { aud: 'host-b' }), 'LP_WRONG_AUDIENCE'],
    ];
    for (const [jws, code] of cases)
      expect(f.read(await core.handleCommand(jws)).error?.code).toBe(code);
    expect(await unitNames()).toEqual(before);
    expect(core.ledger.lanes.get(cmd.laneId)).toBeUndefined();
    // A good command, then its replay and an older seq: executed once.
    const first = await core.handleCommand(good);
    expect(f.read(first).ok).toBe(true);
    expect(await core.handleCommand(good)).toBe(first);
    expect(f.read(await core.handleCommand(f.sign(cmd, { seq: 1 }))).error?.code).toBe(
      'LP_SEQ_REGRESSION',
    );
    expect((await unitNames()).filter((n) => !before.includes(n))).toEqual([unitName(cmd.laneId)]);
    const audit = core.auditLog().slice(auditBefore);
    expect(audit.map((a) => a.code ?? a.outcome)).toEqual([
      'LP_SIGNATURE_INVALID',
      'LP_SIGNATURE_INVALID',
      'LP_EXPIRED',
      'LP_WRONG_AUDIENCE',
      'ok',
      'LP_REPLAYED',
      'LP_SEQ_REGRESSION',
    ]);
    expect(
      (await f.send(core, { type: 'lane.remove', laneId: cmd.laneId, dryRun: false, force: true }))
        .ok,
    ).toBe(true);
  });

  it('the hand-made look-alike unit survives every command and every health pass', async () => {
    const cmds: Command[] = [
      { type: 'lane.start', laneId: lookAlikeId, dryRun: false },
      { type: 'lane.stop', laneId: lookAlikeId, dryRun: false },
      { type: 'lane.restart', laneId: lookAlikeId, dryRun: false },
      { type: 'lane.remove', laneId: lookAlikeId, dryRun: false, force: true },
      { type: 'lane.inspect', laneId: lookAlikeId, dryRun: false },
    ];
    for (const cmd of cmds) expect((await f.send(core, cmd)).error?.code).toBe('LP_NOT_OWNED');
    const create = await jitCreate(sim, 'systemd');
    expect((await f.send(core, { ...create, laneId: lookAlikeId })).error?.code).toBe(
      'LP_CONFLICT',
    );
    expect(
      (
        await core.removeLaneLocally(lookAlikeId, {
          dryRun: false,
          force: true,
          actor: 'cli:local',
        })
      ).error?.code,
    ).toBe('LP_NOT_OWNED');
    for (let i = 0; i < 3; i++) await core.healthPass();
    await expectLookAlikeUntouched();
    await expectLedgerMatchesReality(core, await unitNames(), f.config.dataDir, [lookAlike]);
  });
});
