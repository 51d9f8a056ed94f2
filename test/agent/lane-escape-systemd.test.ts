/**
 * A job on a systemd lane cannot reach the host: a real lane (stub runner, a lane user of its
 * own, the unit as the agent writes it with the hardening its probe found) runs a job whose
 * job-started hook (a step of the job, run by the runner's worker as the lane's user inside the
 * lane's unit) attacks: read the agent's host key and ledger, another lane's `.credentials`, other
 * processes in /proc, remount `/` read-write, write into the host, make a namespace. Each attempt
 * must fail, and the host must show no trace of it.
 */
import { existsSync } from 'node:fs';
import { lchown, lstat, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { GitHubSim } from '@launchplane/github-sim';
import { afterAll, beforeAll, expect, it } from 'vitest';

import { AgentCore } from '../../packages/agent/src/agent-core.js';
import { DbusUnitManager } from '../../packages/agent/src/adapters/systemd/dbus-unit-manager.js';
import { LANE_FILES } from '../../packages/agent/src/lanes/lane-layout.js';
import { recordJobAttack } from '../reliability/bad-input/record.js';
import { describeWithSystemd, tempDir, waitFor, type TempDir } from '../testbed/index.js';
import {
  agentFixture,
  enqueueJob,
  jitCreate,
  persistentCreate,
  removeLane,
  startSim,
  waitForJob,
  waitForRunner,
  type AgentFixture,
} from './agent-fixture.js';

/** The attack, as the job's hook runs it: one `name=blocked|escaped` line per attempt. */
function attackScript(o: { data: string; otherLane: string; agentPid: number }): string {
  return `#!/bin/sh
out="\${0%/*}/../state/attack.out"
try() {
  name=$1; shift
  if "$@" >/dev/null 2>&1; then echo "$name=escaped" >> "$out"; else echo "$name=blocked" >> "$out"; fi
}
try read-host-key cat "${o.data}/private/host.key"
try read-ledger cat "${o.data}/private/ledger.db"
try list-private ls "${o.data}/private"
try read-other-credentials cat "${o.otherLane}/.credentials"
try list-other-lane ls "${o.otherLane}"
try remount-root-rw mount -o remount,rw /
try write-root touch /lp-escape-probe
try write-data-dir touch "${o.data}/lp-escape-probe"
try write-lanes-dir touch "${o.data}/lanes/lp-escape-probe"
try see-agent-process test -e /proc/${o.agentPid}
try read-agent-environ cat /proc/${o.agentPid}/environ
try read-pid1-cmdline cat /proc/1/cmdline
try user-namespace unshare -r true
try mount-namespace unshare -m true
try read-kernel-log dmesg
grep -E '^(CapBnd|CapEff|CapPrm|NoNewPrivs):' /proc/self/status >> "$out"
echo "uid=$(id -u)" >> "$out"
echo done >> "$out"
`;
}

describeWithSystemd(
  'a job on a systemd lane cannot reach the host (real unit, real job)',
  (systemd) => {
    let sim: GitHubSim;
    let units: DbusUnitManager;
    let work: TempDir;
    let f: AgentFixture;
    let core: AgentCore;

    beforeAll(async () => {
      const sd = systemd();
      sim = await startSim();
      units = await DbusUnitManager.create({
        bus: 'user',
        unitDir: sd.unitDir,
        busAddress: sd.env.DBUS_SESSION_BUS_ADDRESS,
      });
      work = await tempDir({ base: sd.laneRoot, prefix: 'escape-', laneUsers: true });
      f = agentFixture(join(work.path, 'data'));
      core = await AgentCore.create(f.deps({ units }));
    });

    afterAll(async () => {
      for (const lane of core?.listLanes() ?? []) await removeLane(f, core, lane.laneId, true);
      await core?.stop();
      await units?.close();
      await sim?.close();
      await work?.cleanup();
    });

    it('every attempt of the job fails, and the unit carries the hardening the probe found', async () => {
      const hardening = core.hardening();
      process.stderr.write(`[lane-escape] hardening here: ${JSON.stringify(hardening)}\n`);
      expect(hardening?.applied).toEqual(
        expect.arrayContaining(['CapabilityBoundingSet', 'ProtectProc', 'SystemCallFilter']),
      );
      for (const o of hardening?.omitted ?? []) expect(o.reason).not.toBe('');

      // The victim: a persistent lane, whose .credentials config.sh wrote.
      const victim = await persistentCreate(sim, 'systemd');
      expect((await f.send(core, victim)).ok).toBe(true);
      const victimDir = join(f.config.dataDir, 'lanes', victim.laneId);
      expect(existsSync(join(victimDir, '.credentials'))).toBe(true);

      const attacker = await jitCreate(sim, 'systemd');
      expect((await f.send(core, attacker)).ok).toBe(true);
      const dir = join(f.config.dataDir, 'lanes', attacker.laneId);
      const unitText = await readFile(
        join(systemd().unitDir, `launchplane-lane-${attacker.laneId}.service`),
        'utf8',
      );
      for (const line of [
        'CapabilityBoundingSet=',
        'ProtectProc=invisible',
        'NoNewPrivileges=yes',
      ]) {
        expect(unitText).toContain(`\n${line}\n`);
      }
      // The job's code: what a workflow step would run (the hook is a step of the job).
      const hook = join(dir, LANE_FILES.jobStartedHook);
      const owner = await lstat(dir);
      await writeFile(
        hook,
        attackScript({ data: f.config.dataDir, otherLane: victimDir, agentPid: process.pid }),
      );
      await lchown(hook, owner.uid, owner.gid);
      await waitForRunner(sim, attacker.runnerId ?? 0, 'online');
      const job = await enqueueJob(sim, 500, { labels: [`lp-lane-${attacker.laneId}`] });
      await waitForJob(sim, job, 'completed');
      const out = await waitFor(
        async () => {
          const text = await readFile(
            join(dir, '_launchplane', 'state', 'attack.out'),
            'utf8',
          ).catch(() => '');
          return text.includes('done\n') ? text : undefined;
        },
        { timeoutMs: 30_000, intervalMs: 200, what: 'the attack to finish' },
      );
      process.stderr.write(`[lane-escape] the job saw:\n${out}`);
      const result = Object.fromEntries(
        out
          .trim()
          .split('\n')
          .map((l) => l.split(/=|:\s*/) as [string, string]),
      );
      recordJobAttack('a job on a systemd lane attacks the host and another lane', result, {
        hostKeys: ['read-host-key', 'read-ledger', 'list-private'],
        acrossLanes: ['read-other-credentials', 'list-other-lane'],
        host: [
          'remount-root-rw',
          'write-root',
          'write-data-dir',
          'write-lanes-dir',
          'see-agent-process',
          'read-agent-environ',
          'read-pid1-cmdline',
          'read-kernel-log',
        ],
      });
      for (const attempt of [
        'read-host-key',
        'read-ledger',
        'list-private',
        'read-other-credentials',
        'list-other-lane',
        'remount-root-rw',
        'write-root',
        'write-data-dir',
        'write-lanes-dir',
        'read-agent-environ',
        'read-kernel-log',
      ]) {
        expect(result[attempt], attempt).toBe('blocked');
      }
      // ProtectProc=invisible: the agent's process is not even there to look at.
      expect(result['see-agent-process']).toBe('blocked');
      expect(result['read-pid1-cmdline']).toBe('blocked');
      // RestrictNamespaces= (where the probe applied it): no namespace of its own either.
      if (hardening?.applied.includes('RestrictNamespaces')) {
        expect(result['user-namespace']).toBe('blocked');
        expect(result['mount-namespace']).toBe('blocked');
      }
      // Not root, no capability at all, and setuid binaries give none.
      expect(Number(result['uid'])).toBeGreaterThan(0);
      expect(result['CapBnd']).toBe('0000000000000000');
      expect(result['CapEff']).toBe('0000000000000000');
      expect(result['NoNewPrivs']).toBe('1');
      expect(existsSync('/lp-escape-probe')).toBe(false);
      expect(existsSync(join(f.config.dataDir, 'lp-escape-probe'))).toBe(false);
      expect(existsSync(join(f.config.dataDir, 'lanes', 'lp-escape-probe'))).toBe(false);
    });
  },
);
