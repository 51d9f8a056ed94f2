/**
 * Faults 2: the coordinator is SIGKILLed mid-create and mid-drain (a restart with a job in
 * flight), then started again on the same data dir; then both the agent and the coordinator die
 * mid-remove (the agent right after stopping the unit, the coordinator with it) and both are
 * restarted. Promises under attack: a lane left mid-saga is marked for an operator with a
 * recovery hint (and audited); the job in flight is not killed; re-running the action converges;
 * nothing is lost, duplicated or orphaned — not even the GitHub registration of a lane the host
 * finished removing while the coordinator was down.
 */
import { CRASH_AT_ENV } from '@launchplane/agent';
import { afterAll, beforeAll, expect, it } from 'vitest';

import { describeWithSystemd } from '../../testbed/index.js';
import { waitFor } from '../../testbed/wait-for.js';
import { recordResult, startFaultWorld, type FaultWorld } from './fault-world.js';

describeWithSystemd(
  'faults: coordinator SIGKILL mid-create, mid-drain and with the agent',
  (systemd) => {
    let world: FaultWorld;

    beforeAll(async () => {
      world = await startFaultWorld({ systemd: systemd(), heartbeatSec: 2, createOnlineSec: 20 });
    });
    afterAll(async () => {
      await world?.close();
    });

    const restartCoordinator = async (): Promise<void> => {
      await world.killCoordinator();
      await world.startCoordinator();
      await waitFor(() => world.hostConnected(), {
        timeoutMs: 60_000,
        intervalMs: 300,
        what: 'the agent to reconnect to the restarted coordinator',
      });
    };

    it('marks interrupted sagas for an operator, keeps the job in flight, converges', async () => {
      // --- mid-create --------------------------------------------------------------------
      await world.applyPolicy(1);
      const apply = world.cliBg(world.operator, 'apply', '--wait', '--json');
      const cut = await waitFor(
        async () =>
          (await world.lanesFast()).find((l) =>
            ['pending', 'provisioning', 'starting'].includes(l.state),
          ),
        { timeoutMs: 30_000, intervalMs: 20, what: 'a lane mid-create' },
      );
      await restartCoordinator();
      const cliOutcome = await apply.done;
      expect(cliOutcome.code, 'the CLI saw its coordinator die').not.toBe(0);

      const marked = (await world.lanes()).find((l) => l.laneId === cut.laneId);
      expect(marked?.state).toBe('failed');
      const hint = marked?.recovery ?? marked?.lastError?.recovery ?? '';
      expect(hint).toContain(`launchplane lane remove ${cut.laneId}`);
      const recovered = (await world.audit('--lane', cut.laneId)).filter(
        (r) => r.action === 'lane.recover',
      );
      expect(recovered).toHaveLength(1);
      // The saga may have moved one step between our look and the kill.
      expect(recovered[0]?.params?.to).toBe('failed');
      expect(['pending', 'provisioning', 'starting']).toContain(recovered[0]?.params?.from);

      // The operator follows the hint; apply converges to exactly one lane.
      const rm = await world.cli(world.operator, 'lane', 'remove', cut.laneId, '--wait', '--json');
      expect(rm.code, rm.stderr).toBe(0);
      const again = await world.cli(world.operator, 'apply', '--wait', '--json');
      expect(again.code, again.stderr).toBe(0);
      await waitFor(async () => (await world.consistency()).lost.length === 0, {
        timeoutMs: 20_000,
        intervalMs: 500,
        what: 'the sources to agree after the create was cut',
      });
      const afterCreate = await world.consistency();
      expect(afterCreate.ledger).toHaveLength(1);
      expect(afterCreate.duplicated).toEqual([]);
      expect(afterCreate.orphanRegistrations).toEqual([]);
      expect(afterCreate.ledger).not.toContain(cut.laneId);

      // --- mid-drain, job in flight ------------------------------------------------------
      const [lane] = await world.lanes();
      const job = await world.enqueueJob(10_000);
      await waitFor(async () => (await world.job(job.id)).status === 'in_progress', {
        timeoutMs: 20_000,
        intervalMs: 200,
        what: 'the job to start',
      });
      const restart = world.cliBg(
        world.operator,
        'lane',
        'restart',
        lane!.laneId,
        '--wait',
        '--json',
      );
      await waitFor(
        async () =>
          (await world.lanesFast()).some(
            (l) => l.laneId === lane!.laneId && l.state === 'draining',
          ),
        { timeoutMs: 30_000, intervalMs: 20, what: 'the lane to drain' },
      );
      await restartCoordinator();
      expect((await restart.done).code).not.toBe(0);
      const finished = await waitFor(
        async () => {
          const j = await world.job(job.id);
          return j.status === 'completed' || j.status === 'cancelled' ? j : undefined;
        },
        { timeoutMs: 30_000, intervalMs: 300, what: 'the job to end' },
      );
      expect(finished.conclusion, 'the job in flight was not killed').toBe('success');
      const rerun = await world.cli(
        world.operator,
        'lane',
        'restart',
        lane!.laneId,
        '--wait',
        '--json',
      );
      expect(rerun.code, rerun.stderr).toBe(0);
      await waitFor(
        async () =>
          (await world.lanes()).find((l) => l.laneId === lane!.laneId)?.state === 'online',
        { timeoutMs: 30_000, intervalMs: 500, what: 'the lane back online' },
      );
      // Its routing labels are back: a new job runs on it.
      const job2 = await world.enqueueJob(500);
      const done2 = await waitFor(
        async () => {
          const j = await world.job(job2.id);
          return j.status === 'completed' ? j : undefined;
        },
        { timeoutMs: 30_000, intervalMs: 300, what: 'a job after the converged restart' },
      );
      expect(done2.conclusion).toBe('success');

      const afterDrain = await world.consistency();
      expect(afterDrain.lost).toEqual([]);
      expect(afterDrain.orphanRegistrations).toEqual([]);

      // --- both die mid-remove -------------------------------------------------------------
      const victim = lane!;
      const victimRunner = (await world.lanes()).find((l) => l.laneId === victim.laneId)?.runnerId;
      expect(victimRunner).toBeDefined();
      await world.applyPolicy(0);
      await world.killAgent();
      await world.startAgent({ env: { [CRASH_AT_ENV]: 'remove:stop' } });
      const removing = world.cliBg(
        world.operator,
        'lane',
        'remove',
        victim.laneId,
        '--wait',
        '--json',
      );
      await waitFor(() => !world.agentAlive(), {
        timeoutMs: 40_000,
        intervalMs: 20,
        what: 'the agent to die after stopping the unit',
      });
      await world.killCoordinator();
      expect((await removing.done).code, 'the CLI saw the remove cut off').not.toBe(0);
      await world.startCoordinator();
      await world.startAgent();
      const held = await waitFor(
        async () => {
          const l = (await world.lanes()).find((x) => x.laneId === victim.laneId);
          return l?.state === 'failed' ? l : undefined;
        },
        {
          timeoutMs: 30_000,
          intervalMs: 300,
          what: 'the cut-off remove to be held for an operator',
        },
      );
      // The host finished its part on restart; the registration is still there, and listed.
      expect(held.recovery ?? held.lastError?.recovery).toContain(
        `launchplane lane remove ${victim.laneId}`,
      );
      expect((await world.simRunners()).some((r) => r.id === victimRunner)).toBe(true);
      const finish = await world.cli(world.operator, 'lane', 'remove', victim.laneId, '--wait');
      expect(finish.code, finish.stderr).toBe(0);
      expect((await world.simRunners()).some((r) => r.id === victimRunner)).toBe(false);

      const c = await world.consistency();
      expect(c.ledger).toEqual([]);
      expect(c.lost).toEqual([]);
      expect(c.duplicated).toEqual([]);
      expect(c.orphanRegistrations).toEqual([]);
      expect(c.auditLost).toBe(0);
      expect(c.agentAuditVerified).toBe(true);
      expect(c.unmanagedTouched, 'the look-alike unit and runner were not touched').toEqual([]);
      expect(world.integrity()).toEqual({ agent: 'ok', coordinator: 'ok' });
      await recordResult({
        scenario: 'coordinator-sigkill-create-drain-remove',
        injected: `4 SIGKILLs: the coordinator mid-create (${String(recovered[0]?.params?.from)}) and mid-drain with a job in flight; agent and coordinator together mid-remove`,
        survived: true,
        counts: {
          lanesLost: c.lost.length,
          lanesDuplicated: c.duplicated.length,
          orphanRegistrations: c.orphanRegistrations.length,
          auditRecordsLost: c.auditLost,
          jobsKilled: finished.conclusion === 'success' ? 0 : 1,
          interruptedWithoutHint: hint === '' ? 1 : 0,
          unmanagedObjectsTouched: c.unmanagedTouched.length,
        },
      });
    }, 180_000);
  },
);
