/**
 * Faults 1: the agent is SIGKILLed while the coordinator drives a create (right after the
 * command is sent, while waiting for the runner to come online), a drain with a job in flight,
 * and a remove; then it is started again. Promises under attack: no lane lost, none duplicated
 * (ledger, systemd units, coordinator lanes and simulator runners agree), no orphan registration,
 * no audit record lost, every saga finished or rolled back with a recovery hint, no job killed.
 */
import { afterAll, beforeAll, expect, it } from 'vitest';

import { describeWithSystemd } from '../../testbed/index.js';
import { waitFor } from '../../testbed/wait-for.js';
import {
  agree as agreeIn,
  converge as convergeIn,
  judgeApply as judgeApplyIn,
  recordResult,
  startFaultWorld,
  type CliRun,
  type FaultWorld,
  type HintTally,
  type LaneView,
} from './fault-world.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describeWithSystemd('faults: agent SIGKILL during create, drain and remove', (systemd) => {
  let world: FaultWorld;
  let kills = 0;
  const tally: HintTally = { withoutHint: [], followed: 0 };
  const judgeApply = (r: CliRun): void => judgeApplyIn(r, tally);
  const converge = (want: number): Promise<LaneView[]> =>
    convergeIn(world, want, tally, 'faults/agent-kill');
  const agree = async (what: string): Promise<void> => {
    await agreeIn(world, what);
  };

  beforeAll(async () => {
    world = await startFaultWorld({ systemd: systemd(), heartbeatSec: 2, createOnlineSec: 20 });
  });
  afterAll(async () => {
    await world?.close();
  });

  const killWhen = async (
    what: string,
    predicate: (lanes: LaneView[]) => boolean,
  ): Promise<void> => {
    await waitFor(async () => predicate(await world.lanesFast()), {
      timeoutMs: 30_000,
      intervalMs: 20,
      what,
    });
    await world.killAgent();
    kills += 1;
    process.stderr.write(
      `[faults/agent-kill ${new Date().toISOString().slice(14, 23)}] killed the agent: ${what}\n`,
    );
  };

  const assertConsistent = async (want: number): Promise<void> => {
    const c = await world.consistency();
    expect(c.lost, JSON.stringify(c)).toEqual([]);
    expect(c.duplicated).toEqual([]);
    expect(c.orphanRegistrations).toEqual([]);
    expect(c.ledger).toHaveLength(want);
    expect(c.auditLost).toBe(0);
    expect(c.auditDuplicated).toBe(0);
    expect(c.agentAuditVerified).toBe(true);
    expect(c.unmanagedTouched, 'the look-alike unit and runner were not touched').toEqual([]);
  };

  it('keeps every lane, job and audit record across kills at each step', async () => {
    const t0 = Date.now();
    const phaseMs: Record<string, number> = {};
    let tPhase = t0;
    const phase = (name: string): void => {
      phaseMs[name] = Date.now() - tPhase;
      process.stderr.write(
        `[faults/agent-kill ${new Date().toISOString().slice(14, 23)}] ${name} ${phaseMs[name]} ms\n`,
      );
      tPhase = Date.now();
    };
    // 1. create: killed right after the command is sent.
    await world.applyPolicy(1);
    const a1 = world.cliBg(world.operator, 'apply', '--wait', '--json');
    await killWhen('a lane being created', (ls) => ls.length > 0);
    await sleep(1000);
    await world.startAgent();
    const r1 = await a1.done;
    process.stderr.write(
      `[faults/agent-kill ${new Date().toISOString().slice(14, 23)}] apply 1: ${r1.code} ${r1.stderr}\n`,
    );
    judgeApply(r1);
    await converge(1);
    await agree('the sources to agree after create/kill 1');
    phase('createSentMs');
    await assertConsistent(1);

    // 2. create: killed while waiting for the runner to come online.
    await world.applyPolicy(2);
    const a2 = world.cliBg(world.operator, 'apply', '--wait', '--json');
    await killWhen('a lane starting', (ls) => ls.some((l) => l.state === 'starting'));
    await sleep(1000);
    await world.startAgent();
    judgeApply(await a2.done);
    const lanes = await converge(2);
    await agree('the sources to agree after create/kill 2');
    await assertConsistent(2);
    phase('createStartingMs');

    // 3. drain with a job in flight: restart the busy lane, kill the agent mid-drain.
    const job = await world.enqueueJob(12_000);
    const running = await waitFor(
      async () => {
        const j = await world.job(job.id);
        return j.status === 'in_progress' ? j : undefined;
      },
      { timeoutMs: 20_000, intervalMs: 200, what: 'the job to start' },
    );
    const busyLane = lanes.find((l) => l.runnerId === running.runnerId);
    expect(busyLane, 'the job runs on one of our lanes').toBeDefined();
    const restart = world.cliBg(
      world.operator,
      'lane',
      'restart',
      busyLane!.laneId,
      '--wait',
      '--timeout',
      '2m',
      '--json',
    );
    await killWhen('the lane draining', (ls) =>
      ls.some((l) => l.laneId === busyLane!.laneId && l.state === 'draining'),
    );
    await sleep(2000);
    await world.startAgent();
    const restarted = await restart.done;
    process.stderr.write(
      `[faults/agent-kill ${new Date().toISOString().slice(14, 23)}] restart: ${restarted.code} ${restarted.stderr}\n`,
    );
    if (restarted.code !== 0) {
      expect(restarted.stderr, 'a failed restart names a recovery').toMatch(/hint:/);
      const again = await world.cli(
        world.operator,
        'lane',
        'restart',
        busyLane!.laneId,
        '--wait',
        '--json',
      );
      expect(again.code, again.stderr).toBe(0);
      tally.followed += 1;
    }
    const finished = await waitFor(
      async () => {
        const j = await world.job(job.id);
        return j.status === 'completed' || j.status === 'cancelled' ? j : undefined;
      },
      { timeoutMs: 30_000, intervalMs: 300, what: 'the job to end' },
    );
    const jobsKilled = finished.conclusion === 'success' ? 0 : 1;
    expect(finished.conclusion, 'the job in flight was not killed').toBe('success');
    await converge(2);
    await assertConsistent(2);
    phase('drainMs');

    // 4. remove: killed as soon as the coordinator sends it.
    const victim = (await world.lanes()).find((l) => l.state === 'online')!;
    const rm = world.cliBg(world.operator, 'lane', 'remove', victim.laneId, '--wait', '--json');
    await killWhen('the lane being removed', (ls) =>
      ls.some(
        (l) =>
          l.laneId === victim.laneId &&
          ['draining', 'drained', 'stopping', 'removed'].includes(l.state),
      ),
    );
    await sleep(1000);
    await world.startAgent();
    const removed = await rm.done;
    process.stderr.write(
      `[faults/agent-kill ${new Date().toISOString().slice(14, 23)}] remove: ${removed.code} ${removed.stderr}\n`,
    );
    if (removed.code !== 0) {
      expect(removed.stderr, 'a failed remove names a recovery').toMatch(/hint:/);
    }
    // Remove converges: re-run until the lane is gone everywhere (a removed lane is idempotent).
    await waitFor(
      async () => {
        const l = (await world.lanes()).find((x) => x.laneId === victim.laneId);
        if (l === undefined || l.state === 'removed') return true;
        const again = await world.cli(world.operator, 'lane', 'remove', victim.laneId, '--wait');
        tally.followed += again.code === 0 ? 1 : 0;
        return false;
      },
      { timeoutMs: 60_000, intervalMs: 1000, what: `lane ${victim.laneId} to be removed` },
    );
    await world.applyPolicy(1);
    await agree('the sources to agree after remove/kill');
    const c = await world.consistency();
    await assertConsistent(1);
    phase('removeMs');
    expect(tally.withoutHint).toEqual([]);
    const integrity = world.integrity();
    expect(integrity).toEqual({ agent: 'ok', coordinator: 'ok' });

    await recordResult({
      scenario: 'agent-sigkill-create-drain-remove',
      injected: `${kills} agent SIGKILLs (create/sent, create/starting, drain/job-in-flight, remove)`,
      survived: true,
      counts: {
        lanesLost: c.lost.length,
        lanesDuplicated: c.duplicated.length,
        orphanRegistrations: c.orphanRegistrations.length,
        auditRecordsLost: c.auditLost,
        jobsKilled,
        sagasWithoutHint: tally.withoutHint.length,
        unmanagedObjectsTouched: c.unmanagedTouched.length,
      },
      figures: {
        kills,
        hintsFollowed: tally.followed,
        agentAuditRecords: c.agentAuditRecords,
        ...phaseMs,
      },
    });
  }, 300_000);
});
