/**
 * Faults 1b: the agent is SIGKILLed after every step of create, restart and remove — the steps its
 * journal records — on a real systemd, with the real coordinator and GitHub simulator, then
 * started again. The kill comes from the agent itself (`LAUNCHPLANE_AGENT_CRASH_AT=<step>`), so
 * each step is hit exactly, where the timing-based kills of agent-kill.test.ts land wherever a
 * poll catches them. (`stop:*` steps are swept by the agent's unit tests: no coordinator action
 * sends `lane.stop`.)
 *
 * CI kills the agent at one step of each recovery phase ({@link PHASES}: the steps of a phase
 * leave the ledger in the same state, so the agent's start-up makes the same recovery of them);
 * `npm run soak` (`LP_SOAK=1`) sweeps every step. docs/testing.md "Soak runs" lists what is
 * swept where.
 *
 * After each crash, what an operator sees and does: the action fails with a code and a hint; they
 * follow it; the lanes converge. Promises under attack: no lane lost or duplicated (ledger, units,
 * coordinator and GitHub agree), no orphan registration, no audit record lost, a bystander lane's
 * unit never restarted, and both databases pass `PRAGMA integrity_check`.
 */
import { CRASH_AT_ENV, CRASH_POINTS, type CrashPointName } from '@launchplane/agent';
import { afterAll, beforeAll, expect, it } from 'vitest';

import { describeWithSystemd } from '../../testbed/index.js';
import { waitFor } from '../../testbed/wait-for.js';
import {
  agree,
  converge,
  recordResult,
  startFaultWorld,
  type CliRun,
  type FaultWorld,
  type HintTally,
  type LaneView,
} from './fault-world.js';

const TAG = 'faults/crash-points';
const say = (msg: string): void => {
  process.stderr.write(`[${TAG} ${new Date().toISOString().slice(14, 23)}] ${msg}\n`);
};

const SOAK = process.env.LP_SOAK === '1';

/** The crash points this suite sweeps (`stop:*` are the agent's unit tests'). */
type SweptPoint = Exclude<CrashPointName, `stop:${string}`>;

/**
 * The recovery phase of each swept step: what the agent finds in its ledger after a crash there,
 * and so what its start-up does (`decideRecovery` in packages/agent/src/domain/recovery-decision.ts).
 * A new crash point fails the typecheck here until it is given a phase.
 */
const PHASES: Record<SweptPoint, string> = {
  'create:record': 'create, nothing made yet: forget the lane',
  'create:layout': 'create, provisioning: roll back, lane failed',
  'create:configure': 'create, provisioning: roll back, lane failed',
  'create:install': 'create, provisioning: roll back, lane failed',
  'create:start': 'create, unit started: finish the start',
  'restart:record': 'restart: finish the start',
  'restart:restart': 'restart: finish the start',
  'remove:record': 'remove: finish the remove',
  'remove:stop': 'remove: finish the remove',
  'remove:uninstall': 'remove: finish the remove',
  'remove:delete-dir': 'remove: finish the remove',
};

/**
 * The step CI kills at for each phase. `create:configure` stands for provisioning because its
 * runner is already registered on GitHub (the orphan an operator fears); `remove:uninstall` for
 * the remove because its unit is gone while the lane dir and user are not.
 */
const CI_POINTS: readonly SweptPoint[] = [
  'create:record',
  'create:configure',
  'create:start',
  'restart:restart',
  'remove:uninstall',
];

const stepsOf = (op: string): CrashPointName[] =>
  CRASH_POINTS.filter(
    (p) => p.startsWith(`${op}:`) && (SOAK || (CI_POINTS as readonly string[]).includes(p)),
  );

if (!SOAK) {
  const skipped = (Object.keys(PHASES) as SweptPoint[]).filter((p) => !CI_POINTS.includes(p));
  process.stderr.write(
    `[${TAG}] one step per recovery phase (${CI_POINTS.join(', ')}); the other steps (${skipped.join(', ')}) run with LP_SOAK=1 (npm run soak)\n`,
  );
}

it('CI kills the agent in every recovery phase, and every swept step has a phase', () => {
  const swept = CRASH_POINTS.filter((p) => !p.startsWith('stop:'));
  expect(Object.keys(PHASES).sort()).toEqual([...swept].sort());
  const phases = new Set(Object.values(PHASES));
  expect(new Set(CI_POINTS.map((p) => PHASES[p]))).toEqual(phases);
  expect(CI_POINTS).toHaveLength(phases.size);
});

describeWithSystemd('faults: agent SIGKILL after every journal step', (systemd) => {
  let world: FaultWorld;
  const tally: HintTally = { withoutHint: [], followed: 0 };
  let bystander: LaneView;
  let bystanderInvocation: string;
  const survived: string[] = [];

  beforeAll(async () => {
    world = await startFaultWorld({ systemd: systemd(), heartbeatSec: 2, createOnlineSec: 20 });
    await world.applyPolicy(1);
    const apply = await world.cli(world.operator, 'apply', '--wait', '--json');
    expect(apply.code, apply.stderr).toBe(0);
    [bystander] = (await world.lanes()) as [LaneView];
    bystanderInvocation = await world.unitInvocation(bystander.laneId);
  });
  afterAll(async () => {
    await world?.close();
  });

  /** Restarts the agent armed to kill itself after `step`. */
  const arm = async (step: CrashPointName): Promise<void> => {
    await world.killAgent();
    await world.startAgent({ env: { [CRASH_AT_ENV]: step } });
  };

  /** Runs `action` against the armed agent; waits for it to die; starts it unarmed. */
  const crashDuring = async (
    step: CrashPointName,
    action: () => Promise<CliRun>,
  ): Promise<CliRun> => {
    await arm(step);
    const running = action();
    await waitFor(() => !world.agentAlive(), {
      timeoutMs: 40_000,
      intervalMs: 50,
      what: `the agent to kill itself after ${step}`,
    });
    const log = await world.log('agent');
    expect(log, 'the crash was injected, not an accident').toContain(
      `kills itself (SIGKILL) after ${step}`,
    );
    await world.startAgent();
    const r = await running;
    say(`${step}: action exit ${r.code} ${r.stderr.trim().split('\n')[0] ?? ''}`);
    if (r.code !== 0) {
      expect(r.stderr, `a failed action after ${step} names a code`).toMatch(/LP_[A-Z_]+/);
      if (!/hint:/.test(r.stdout + r.stderr) && !/"recovery"/.test(r.stdout))
        tally.withoutHint.push(`${step}: ${r.stderr.trim()}`);
    }
    return r;
  };

  const assertConsistent = async (step: string, want: number): Promise<void> => {
    const c = await agree(world, `the sources to agree after ${step}`);
    expect(c.lost, `${step}: ${JSON.stringify(c)}`).toEqual([]);
    expect(c.duplicated).toEqual([]);
    expect(c.orphanRegistrations).toEqual([]);
    expect(c.ledger).toHaveLength(want);
    expect(c.auditLost).toBe(0);
    expect(c.auditDuplicated).toBe(0);
    expect(c.agentAuditVerified).toBe(true);
    expect(c.unmanagedTouched, 'the look-alike unit and runner were not touched').toEqual([]);
    expect(c.ledger).toContain(bystander.laneId);
    expect(await world.unitInvocation(bystander.laneId), 'the bystander lane was not touched').toBe(
      bystanderInvocation,
    );
    expect(world.integrity()).toEqual({ agent: 'ok', coordinator: 'ok' });
    survived.push(step);
  };

  let lanesWanted = 1;

  it.each(stepsOf('create'))(
    'create, killed after %s',
    async (step) => {
      lanesWanted += 1;
      await world.applyPolicy(lanesWanted);
      const r = await crashDuring(step, () =>
        world.cli(world.operator, 'apply', '--wait', '--json'),
      );
      expect(r.code, 'the apply reports the interrupted create').not.toBe(0);
      await converge(world, lanesWanted, tally, TAG);
      await assertConsistent(step, lanesWanted);
    },
    120_000,
  );

  it.each(stepsOf('restart'))(
    'restart, killed after %s',
    async (step) => {
      const target = (await world.lanes()).find(
        (l) => l.state === 'online' && l.laneId !== bystander.laneId,
      )!;
      const before = await world.unitInvocation(target.laneId);
      const r = await crashDuring(step, () =>
        world.cli(world.operator, 'lane', 'restart', target.laneId, '--wait', '--json'),
      );
      if (r.code !== 0) {
        // The operator follows the hint: inspect, run the restart again.
        const again = await world.cli(world.operator, 'lane', 'restart', target.laneId, '--wait');
        expect(again.code, again.stderr).toBe(0);
        tally.followed += 1;
      }
      await waitFor(
        async () =>
          (await world.lanes()).find((l) => l.laneId === target.laneId)?.state === 'online',
        { timeoutMs: 30_000, intervalMs: 300, what: `lane ${target.laneId} online again` },
      );
      expect(await world.unitActive(target.laneId)).toBe(true);
      if (step === 'restart:restart')
        expect(await world.unitInvocation(target.laneId), 'the unit was restarted').not.toBe(
          before,
        );
      await assertConsistent(step, lanesWanted);
    },
    120_000,
  );

  it.each(stepsOf('remove'))(
    'remove, killed after %s',
    async (step) => {
      const target = (await world.lanes()).find(
        (l) => l.state === 'online' && l.laneId !== bystander.laneId,
      )!;
      lanesWanted -= 1;
      await world.applyPolicy(lanesWanted);
      const r = await crashDuring(step, () =>
        world.cli(world.operator, 'lane', 'remove', target.laneId, '--wait', '--json'),
      );
      if (r.code !== 0) {
        // Remove is idempotent: the operator runs it again until the lane is gone.
        await waitFor(
          async () => {
            const l = (await world.lanes()).find((x) => x.laneId === target.laneId);
            if (l === undefined || l.state === 'removed') return true;
            const again = await world.cli(
              world.operator,
              'lane',
              'remove',
              target.laneId,
              '--wait',
            );
            tally.followed += again.code === 0 ? 1 : 0;
            return false;
          },
          { timeoutMs: 60_000, intervalMs: 1000, what: `lane ${target.laneId} to be removed` },
        );
      }
      expect(await world.unitActive(target.laneId)).toBe(false);
      await assertConsistent(step, lanesWanted);
    },
    120_000,
  );

  it('every failed action named a recovery', async () => {
    const swept = [...stepsOf('create'), ...stepsOf('restart'), ...stepsOf('remove')];
    expect(survived).toEqual(swept);
    expect(tally.withoutHint).toEqual([]);
    const c = await world.consistency();
    await recordResult({
      scenario: 'agent-sigkill-every-step',
      injected: `${swept.length} agent SIGKILLs, one after each journal step: ${swept.join(', ')}`,
      survived: true,
      counts: {
        lanesLost: c.lost.length,
        lanesDuplicated: c.duplicated.length,
        orphanRegistrations: c.orphanRegistrations.length,
        auditRecordsLost: c.auditLost,
        sagasWithoutHint: tally.withoutHint.length,
        unmanagedObjectsTouched: c.unmanagedTouched.length,
      },
      figures: {
        kills: swept.length,
        hintsFollowed: tally.followed,
        agentAuditRecords: c.agentAuditRecords,
      },
    });
  });
});
