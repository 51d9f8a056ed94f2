/**
 * The agent with the stub runner's real process chain (bash run.sh → run-helper.sh →
 * Runner.Listener → Runner.Worker) on a real systemd user manager running as root, lanes as users
 * of their own:
 *
 * - two lanes run as two different non-root users (read from /proc), each owning its lane dir,
 *   config.sh and run.sh;
 * - stop, restart and remove of an idle lane reach the listener as SIGINT through run.sh's trap;
 *   the unit ends with run.sh's 143 and is not failed;
 * - a forced remove of a busy lane lets the listener cancel the job (`cancelled` at the sim);
 * - an ephemeral lane whose job fails in set-up ends `completed`; its JIT config is deleted once
 *   the runner wrote `.runner`;
 * - a persistent lane whose registration was deleted on GitHub fails with LP_RUNNER_DELETED and
 *   is not restarted.
 *
 * What the runner prints goes to the journal in production; here a drop-in the test writes before
 * the lane exists appends it to a file, so the test can read what the listener was told.
 */
import { execFile } from 'node:child_process';
import { mkdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import type { GitHubSim } from '@launchplane/github-sim';
import { unitName } from '@launchplane/shared';
import { afterAll, beforeAll, expect, it } from 'vitest';

import { AgentCore } from '../../packages/agent/src/agent-core.js';
import { DbusUnitManager } from '../../packages/agent/src/adapters/systemd/dbus-unit-manager.js';
import {
  describeWithSystemd,
  tempDir,
  testLaneUsers,
  waitFor,
  type TempDir,
} from '../testbed/index.js';
import {
  agentFixture,
  enqueueJob,
  jitCreate,
  persistentCreate,
  procInfo,
  removeLane,
  simJob,
  simJson,
  startSim,
  waitForJob,
  waitForRunner,
  waitForWorker,
  type AgentFixture,
  type SimRunner,
} from './agent-fixture.js';

const exec = promisify(execFile);

describeWithSystemd(
  "lanes as users of their own, stopped through the runner's own chain (systemd)",
  (systemd) => {
    let sim: GitHubSim;
    let units: DbusUnitManager;
    let work: TempDir;
    let f: AgentFixture;
    let core: AgentCore;
    const dropIns: string[] = [];

    beforeAll(async () => {
      const sd = systemd();
      // A listener that vanished without closing its session would read online for a minute: a
      // runner that reads offline right after a stop closed its session itself.
      sim = await startSim({ offlineAfterMs: 60_000 });
      units = await DbusUnitManager.create({
        bus: 'user',
        unitDir: sd.unitDir,
        busAddress: sd.env.DBUS_SESSION_BUS_ADDRESS,
      });
      work = await tempDir({ base: sd.laneRoot, prefix: 'chain-', laneUsers: true });
      f = agentFixture(join(work.path, 'data'));
      core = await AgentCore.create(f.deps({ units }));
    });

    afterAll(async () => {
      for (const lane of core?.listLanes() ?? []) {
        await removeLane(f, core, lane.laneId, true);
      }
      await core?.stop();
      for (const d of dropIns) await rm(d, { recursive: true, force: true });
      await units?.close();
      await sim?.close();
      await work?.cleanup();
    });

    /** Appends the lane's output to a file (a drop-in written before the lane exists). */
    async function captureOutput(laneId: string): Promise<string> {
      const dir = join(systemd().unitDir, `${unitName(laneId)}.d`);
      const log = join(work.path, `${laneId}.log`);
      await mkdir(dir, { recursive: true });
      await writeFile(
        join(dir, '10-test-output.conf'),
        `[Service]\nStandardOutput=append:${log}\nStandardError=inherit\n`,
      );
      dropIns.push(dir);
      return log;
    }

    const output = async (log: string): Promise<string> => readFile(log, 'utf8').catch(() => '');
    const count = (text: string, needle: string): number => text.split(needle).length - 1;
    const runner = (id: number): Promise<SimRunner> =>
      simJson<SimRunner>(sim, 'GET', `/repos/acme/api/actions/runners/${id}`);

    /** The lane's processes as /proc shows them. */
    async function laneProcesses(laneId: string) {
      return procInfo(await units.pids(unitName(laneId)));
    }

    async function onlinePersistent(): Promise<{ laneId: string; runnerId: number; log: string }> {
      const cmd = await persistentCreate(sim, 'systemd');
      const log = await captureOutput(cmd.laneId);
      const created = await f.send(core, cmd);
      expect(created.error).toBeUndefined();
      const runnerId = created.lane?.runnerId ?? 0;
      await waitForRunner(sim, runnerId, 'online');
      await core.healthPass();
      expect(core.ledger.lanes.get(cmd.laneId)?.state).toBe('online');
      return { laneId: cmd.laneId, runnerId, log };
    }

    let a: { laneId: string; runnerId: number; log: string };
    let b: { laneId: string; runnerId: number; log: string };

    it('two lanes run as two different non-root users, each owning its lane dir, config.sh and run.sh', async () => {
      a = await onlinePersistent();
      b = await onlinePersistent();
      const uids: number[] = [];
      for (const lane of [a, b]) {
        const procs = await waitFor(
          async () => {
            const p = await laneProcesses(lane.laneId);
            return p.some((x) => x.comm === 'Runner.Listener') ? p : undefined;
          },
          { timeoutMs: 30_000, what: 'the listener of the lane' },
        );
        const users = [...new Set(procs.map((p) => p.uid))];
        // Every process of the lane (bash run.sh, run-helper.sh, the listener) runs as one user.
        expect(users).toHaveLength(1);
        const uid = users[0] ?? 0;
        expect(uid).not.toBe(0);
        uids.push(uid);
        const user = (await testLaneUsers()).find((u) => u.name === `lp-${lane.laneId}`);
        expect(user?.uid).toBe(uid);
        const dir = join(f.config.dataDir, 'lanes', lane.laneId);
        expect(user?.home).toBe(dir);
        const st = await stat(dir);
        expect({ uid: st.uid, mode: st.mode & 0o777 }).toEqual({ uid, mode: 0o700 });
        for (const file of ['config.sh', 'run.sh', '.runner', '.credentials']) {
          expect((await stat(join(dir, file))).uid).toBe(uid);
        }
      }
      expect(uids[0]).not.toBe(uids[1]);
      // One lane's user cannot read the other lane's credentials.
      const other = join(f.config.dataDir, 'lanes', b.laneId, '.credentials');
      const peek: { code?: number; stderr?: string } = await exec('setpriv', [
        `--reuid=${uids[0]}`,
        `--regid=${uids[0]}`,
        '--clear-groups',
        'cat',
        other,
      ]).then(
        () => ({ code: 0 }),
        (e: unknown) => e as { code?: number; stderr?: string },
      );
      expect(peek.code).not.toBe(0);
      expect(peek.stderr ?? '').toMatch(/Permission denied/);
      // Nor the agent's secrets, nor the record of how its runner ended (the health loop trusts it).
      const asLaneUser = (...argv: string[]) =>
        exec('setpriv', [
          `--reuid=${uids[0]}`,
          `--regid=${uids[0]}`,
          '--clear-groups',
          ...argv,
        ]).then(
          () => 0,
          (e: unknown) => (e as { code?: number }).code ?? 1,
        );
      expect(await asLaneUser('ls', join(f.config.dataDir, 'private'))).not.toBe(0);
      expect(await asLaneUser('cat', join(f.config.dataDir, 'private', 'host.key'))).not.toBe(0);
      const exitRecord = join(
        systemd().env.XDG_CONFIG_HOME,
        'launchplane',
        'lanes',
        `${unitName(a.laneId).replace(/\.service$/, '')}.exit`,
      );
      expect(await asLaneUser('sh', '-c', `echo "success exited 0" > ${exitRecord}`)).not.toBe(0);
      // It may list the data dir (the runner lists every directory above its own): no secret there.
      expect(await asLaneUser('ls', f.config.dataDir)).toBe(0);
    });

    it('stop, restart and remove of an idle lane reach the listener as SIGINT through run.sh; the unit is not failed', async () => {
      const { laneId, runnerId, log } = a;
      const name = unitName(laneId);

      expect(
        (await f.send(core, { type: 'lane.stop', laneId, dryRun: false })).error,
      ).toBeUndefined();
      let text = await output(log);
      expect(count(text, 'Received SIGINT')).toBe(1);
      expect(text).not.toContain('Received SIGTERM');
      // The listener closed its session itself: offline at once, not a minute later.
      expect((await runner(runnerId)).status).toBe('offline');
      // run.sh ended the trapped stop with 128 + SIGTERM, which the unit counts as success.
      expect(await units.status(name)).toMatchObject({
        activeState: 'inactive',
        execMainCode: 1,
        execMainStatus: 143,
        result: 'success',
      });

      expect(
        (await f.send(core, { type: 'lane.start', laneId, dryRun: false })).error,
      ).toBeUndefined();
      await waitForRunner(sim, runnerId, 'online');
      expect(
        (await f.send(core, { type: 'lane.restart', laneId, dryRun: false })).error,
      ).toBeUndefined();
      text = await output(log);
      expect(count(text, 'Received SIGINT')).toBe(2);
      await waitForRunner(sim, runnerId, 'online');

      const removed = await removeLane(f, core, laneId);
      expect(removed.error).toBeUndefined();
      text = await output(log);
      expect(count(text, 'Received SIGINT')).toBe(3);
      expect(text).not.toContain('Received SIGTERM');
      expect((await runner(runnerId)).status).toBe('offline');
      // The lane's user went with the lane.
      expect((await testLaneUsers()).map((u) => u.name)).not.toContain(`lp-${laneId}`);
    });

    it('a forced remove of a busy lane lets the listener cancel the job: the simulator sees it cancelled', async () => {
      const { laneId, log } = b;
      const job = await enqueueJob(sim, 120_000);
      await waitForWorker(f, core, laneId);
      expect((await simJob(sim, job)).status).toBe('in_progress');
      const refused = await removeLane(f, core, laneId);
      expect(refused.error?.code).toBe('LP_LANE_BUSY');
      const removed = await removeLane(f, core, laneId, true);
      expect(removed.error).toBeUndefined();
      expect(await simJob(sim, job)).toMatchObject({
        status: 'cancelled',
        conclusion: 'cancelled',
      });
      expect(await output(log)).toContain('Received SIGINT');
    });

    it('an ephemeral lane whose job fails in set-up ends completed; its JIT config went once the runner wrote .runner', async () => {
      const cmd = await jitCreate(sim, 'systemd');
      expect((await f.send(core, cmd)).error).toBeUndefined();
      await waitForRunner(sim, cmd.runnerId ?? 0, 'online');
      const dir = join(f.config.dataDir, 'lanes', cmd.laneId);
      await core.healthPass();
      expect((await stat(join(dir, '.runner'))).isFile()).toBe(true);
      await expect(stat(join(dir, '_launchplane', 'jit'))).rejects.toMatchObject({
        code: 'ENOENT',
      });

      const job = await enqueueJob(sim, 1000, { failSetup: true });
      await waitForJob(sim, job, 'completed');
      expect((await simJob(sim, job)).conclusion).toBe('failure');
      await waitFor(
        async () => (await units.status(unitName(cmd.laneId)))?.activeState !== 'active',
        {
          timeoutMs: 30_000,
          what: 'the ephemeral runner to exit',
        },
      );
      await core.healthPass();
      const lane = core.ledger.lanes.get(cmd.laneId);
      // No hook ran (set-up failed first), and the lane still completed.
      expect(
        await readFile(join(dir, '_launchplane', 'state', 'jobs'), 'utf8').catch(() => ''),
      ).toBe('');
      expect(lane?.state).toBe('completed');
      expect((await removeLane(f, core, cmd.laneId)).error).toBeUndefined();
    });

    it('a persistent lane whose registration was deleted on GitHub fails with LP_RUNNER_DELETED and is not restarted', async () => {
      const lane = await onlinePersistent();
      const name = unitName(lane.laneId);
      await simJson(sim, 'DELETE', `/repos/acme/api/actions/runners/${lane.runnerId}`);
      await waitFor(async () => (await units.status(name))?.activeState !== 'active', {
        timeoutMs: 30_000,
        what: 'the runner to find its registration gone and exit',
      });
      // The runner deleted its own config and exited 0.
      await expect(
        stat(join(f.config.dataDir, 'lanes', lane.laneId, '.runner')),
      ).rejects.toMatchObject({
        code: 'ENOENT',
      });
      for (let i = 0; i < 3; i++) await core.healthPass();
      const record = core.ledger.lanes.get(lane.laneId);
      expect(record?.state).toBe('failed');
      expect(record?.recovery).toMatch(/LP_RUNNER_DELETED/);
      const audit = core.auditLog().filter((r) => r.laneId === lane.laneId);
      expect(audit.find((r) => r.action === 'health.fail')).toMatchObject({
        code: 'LP_RUNNER_DELETED',
      });
      expect(audit.filter((r) => r.action === 'health.restart')).toEqual([]);
      expect((await units.status(name))?.activeState).not.toBe('active');
    });
  },
);
