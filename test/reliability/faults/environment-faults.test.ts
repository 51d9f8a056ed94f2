/**
 * Faults 5: the host's environment fails under the agent — its clock is 5 minutes ahead or
 * behind (the real agent run with a shifted `Date`, clock-shift.mjs), D-Bus cannot be reached,
 * its data dir is full (a small tmpfs), its Docker daemon is stopped. Promises under attack: a clear refusal or failure with a
 * stable code, state does not advance (no lane in the ledger, no unit, no runner registered),
 * the refusal is audited, nothing is corrupted (`PRAGMA integrity_check` = ok on both stores).
 */
import { execFile } from 'node:child_process';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterEach, expect, it } from 'vitest';

import { describeWithSystemd } from '../../testbed/index.js';
import { tempDir, type TempDir } from '../../testbed/temp-dir.js';
import { waitFor } from '../../testbed/wait-for.js';
import { recordResult, startFaultWorld, type FaultWorld } from './fault-world.js';

const exec = promisify(execFile);
const CLOCK_SHIFT = fileURLToPath(new URL('./clock-shift.mjs', import.meta.url));

interface AgentAudit {
  records: { seq: number; action: string; outcome: string; code?: string }[];
  verify?: { ok: boolean };
}

describeWithSystemd('faults: clock skew, D-Bus down, data dir full, Docker stopped', (systemd) => {
  let world: FaultWorld | undefined;
  const undo: (() => Promise<unknown>)[] = [];
  afterEach(async () => {
    await world?.close();
    world = undefined;
    for (const fn of undo.splice(0).reverse()) await fn().catch(() => undefined);
  });

  /** Nothing advanced: no lane on the host, no unit, no runner registered for it. */
  const assertNothingAdvanced = async (w: FaultWorld): Promise<void> => {
    const c = await w.consistency();
    expect(c.ledger).toEqual([]);
    expect(c.units).toEqual([]);
    expect(c.simRunners).toEqual([]);
    expect(c.auditLost).toBe(0);
    expect(c.agentAuditVerified).toBe(true);
    expect(c.unmanagedTouched).toEqual([]);
    expect(w.integrity()).toEqual({ agent: 'ok', coordinator: 'ok' });
  };

  for (const shiftSec of [300, -300]) {
    const code = shiftSec > 0 ? 'LP_EXPIRED' : 'LP_NOT_YET_VALID';
    it(`refuses every command when the host clock is ${shiftSec > 0 ? 'ahead' : 'behind'} by 5 min (${code})`, async () => {
      const w = await startFaultWorld({
        systemd: systemd(),
        agentNodeArgs: ['--import', CLOCK_SHIFT],
        agentEnv: { LP_CLOCK_SHIFT_SEC: String(shiftSec) },
        createOnlineSec: 15,
      });
      world = w;
      await w.applyPolicy(1);
      const apply = await w.cli(w.operator, 'apply', '--wait', '--json');
      expect(apply.code).not.toBe(0);
      expect(apply.stderr).toContain(code);
      // The agent audited the refusal, and the coordinator holds that record.
      const local = (await w.agentRead('audit', '--json')).json<AgentAudit>();
      const refusals = local.records.filter((r) => r.outcome === 'refused' && r.code === code);
      expect(refusals.length).toBeGreaterThanOrEqual(1);
      await waitFor(
        async () =>
          (await w.audit('--host', 'fault-host')).some(
            (r) => r.code === code && r.params?.agentSeq === refusals[0]!.seq,
          ),
        { timeoutMs: 10_000, intervalMs: 300, what: 'the refusal to reach the coordinator' },
      );
      // The failed create left a lane record at the coordinator, marked with a hint.
      const lanes = await w.lanes();
      for (const l of lanes) expect(l.recovery ?? l.lastError?.recovery ?? '').not.toBe('');
      // (Removing it needs the agent, which refuses every command while its clock is off.)
      const c = await w.consistency();
      expect(c.ledger).toEqual([]);
      expect(c.units).toEqual([]);
      expect(c.orphanRegistrations).toEqual([]);
      expect(c.agentAuditVerified).toBe(true);
      expect(w.integrity()).toEqual({ agent: 'ok', coordinator: 'ok' });
      await recordResult({
        scenario: `clock-skew-${shiftSec > 0 ? 'plus' : 'minus'}-5min`,
        injected: `agent clock ${shiftSec > 0 ? '+' : ''}${shiftSec} s; apply creates a lane`,
        survived: true,
        counts: {
          commandsExecuted: c.ledger.length + c.units.length,
          orphanRegistrations: c.orphanRegistrations.length,
          refusalsUnaudited: refusals.length === 0 ? 1 : 0,
        },
        figures: { refusals: refusals.length },
        code,
      });
    }, 120_000);
  }

  it('fails a create with a code when D-Bus cannot be reached, and changes nothing', async () => {
    const w = await startFaultWorld({
      systemd: systemd(),
      agentEnv: { DBUS_SESSION_BUS_ADDRESS: 'unix:path=/nonexistent/launchplane-faults/bus' },
      createOnlineSec: 15,
    });
    world = w;
    await w.applyPolicy(1);
    const plan = await w.cli(w.viewer, 'plan', '--json');
    const apply = await w.cli(w.operator, 'apply', '--wait', '--json');
    const refused = apply.code !== 0;
    const codeSeen = /LP_BACKEND_UNAVAILABLE|LP_BACKEND_FAILED|LP_NOT_OPTED_IN/.exec(
      `${apply.stderr}${plan.stdout}`,
    )?.[0];
    expect(refused || plan.json<{ actions: unknown[] }>().actions.length === 0).toBe(true);
    expect(codeSeen, `${apply.stderr}\n${plan.stdout}`).toBeDefined();
    for (const l of await w.lanes())
      await w.cli(w.operator, 'lane', 'remove', l.laneId, '--wait', '--json');
    await assertNothingAdvanced(w);
    await recordResult({
      scenario: 'dbus-unreachable',
      injected: 'agent D-Bus address points nowhere; apply creates a systemd lane',
      survived: true,
      counts: { lanesCreated: (await w.consistency()).ledger.length },
      figures: {},
      ...(codeSeen === undefined ? {} : { code: codeSeen }),
    });
  }, 120_000);

  it('fails a create with a code when the data dir is full, then recovers intact', async () => {
    const mount: TempDir = await tempDir({
      base: systemd().laneRoot,
      prefix: 'faults-full-',
      laneUsers: true,
    });
    undo.push(() => mount.cleanup());
    const dataDir = join(mount.path, 'data');
    await mkdir(dataDir);
    await exec('mount', ['-t', 'tmpfs', '-o', 'size=4m,mode=0700', 'tmpfs', dataDir]);
    undo.push(() => exec('umount', ['-l', dataDir]));
    const w = await startFaultWorld({
      systemd: systemd(),
      agentDataDir: dataDir,
      createOnlineSec: 15,
    });
    world = w;
    // Fill what is left of the data dir.
    const filler = join(dataDir, 'filler');
    await exec('sh', ['-c', `dd if=/dev/zero of=${filler} bs=64k 2>/dev/null; true`]);
    const before = (await w.agentRead('audit', '--json')).json<AgentAudit>().records.length;
    await w.applyPolicy(1);
    const apply = await w.cli(w.operator, 'apply', '--wait', '--json');
    expect(apply.code).not.toBe(0);
    const code = /error (LP_[A-Z_]+)/.exec(apply.stderr)?.[1];
    expect(code, apply.stderr).toBeDefined();
    expect(w.agentAlive()).toBe(true);
    // Nothing advanced on the host and both stores are intact.
    const c = await w.consistency();
    const ledgerRows = (await w.agentRead('lanes', '--json')).stdout;
    expect(c.ledger, `${ledgerRows}\n${apply.stderr}`).toEqual([]);
    expect(c.units).toEqual([]);
    expect(w.integrity()).toEqual({ agent: 'ok', coordinator: 'ok' });
    // Space back: the agent works again — the operator follows the hint and the lane record
    // is cleared through it. (A new lane cannot be started from this tmpfs: the testbed's
    // systemd manager lives in its own mount namespace and does not see the mount.)
    await writeFile(filler, '');
    for (const l of await w.lanes()) {
      const rm = await w.cli(w.operator, 'lane', 'remove', l.laneId, '--wait', '--json');
      expect(rm.code, rm.stderr).toBe(0);
    }
    await waitFor(async () => (await w.consistency()).lost.length === 0, {
      timeoutMs: 20_000,
      intervalMs: 500,
      what: 'the sources to agree after space came back',
    });
    const after = await w.consistency();
    expect(after.ledger).toEqual([]);
    expect(after.coordinator).toEqual([]);
    expect(after.agentAuditVerified).toBe(true);
    expect(after.agentAuditRecords).toBeGreaterThan(before);
    expect(after.auditLost).toBe(0);
    expect(after.unmanagedTouched).toEqual([]);
    const integrity = w.integrity();
    expect(integrity).toEqual({ agent: 'ok', coordinator: 'ok' });
    await recordResult({
      scenario: 'data-dir-full',
      injected: 'agent dataDir on a 4 MiB tmpfs filled to the last block; apply creates a lane',
      survived: true,
      counts: {
        lanesCreatedWhileFull: c.ledger.length,
        corruptStores: Object.values(integrity).filter((v) => v !== 'ok').length,
        auditRecordsLost: after.auditLost,
        unmanagedObjectsTouched: after.unmanagedTouched.length,
      },
      figures: { auditRecordsAfter: after.agentAuditRecords - before },
      code,
    });
  }, 150_000);

  it('refuses a Docker lane with a code when the Docker daemon is stopped', async () => {
    // A stopped dockerd leaves no one listening on its socket path.
    const gone = await tempDir({ base: systemd().laneRoot, prefix: 'faults-nodocker-' });
    undo.push(() => gone.cleanup());
    const w = await startFaultWorld({
      systemd: systemd(),
      backend: 'docker',
      dockerSocket: join(gone.path, 'docker.sock'),
      createOnlineSec: 15,
    });
    world = w;
    await w.applyPolicy(1);
    const plan = await w.cli(w.viewer, 'plan', '--json');
    const apply = await w.cli(w.operator, 'apply', '--wait', '--json');
    const codeSeen = /LP_BACKEND_UNAVAILABLE|LP_BACKEND_FAILED/.exec(
      `${apply.stderr}${plan.stdout}`,
    )?.[0];
    expect(codeSeen, `${apply.stderr}\n${plan.stdout}`).toBeDefined();
    expect(w.agentAlive()).toBe(true);
    for (const l of await w.lanes())
      await w.cli(w.operator, 'lane', 'remove', l.laneId, '--wait', '--json');
    const c = await w.consistency();
    expect(c.ledger).toEqual([]);
    expect(c.simRunners).toEqual([]);
    expect(c.agentAuditVerified).toBe(true);
    expect(w.integrity()).toEqual({ agent: 'ok', coordinator: 'ok' });
    await recordResult({
      scenario: 'docker-daemon-stopped',
      injected: 'agent opted in to Docker whose daemon is stopped; apply creates a Docker lane',
      survived: true,
      counts: { lanesCreated: c.ledger.length },
      figures: {},
      code: codeSeen,
    });
  }, 120_000);
});
