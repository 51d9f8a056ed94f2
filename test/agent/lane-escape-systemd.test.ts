/**
 * A job on a systemd lane cannot reach the host: a real lane (stub runner, a lane user of its
 * own, the unit as the agent writes it with the hardening its probe found) runs a job whose
 * job-started hook (a step of the job, run by the runner's worker as the lane's user inside the
 * lane's unit) attacks: read the agent's host key and ledger, another lane's `.credentials`, other
 * processes in /proc, remount `/` read-write, write into the host, make a namespace. Each attempt
 * must fail, and the host must show no trace of it.
 */
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { expect, it } from 'vitest';

import { recordJobAttack } from '../reliability/bad-input/record.js';
import { describeWithSystemd } from '../testbed/index.js';
import { jitCreate, persistentCreate } from './agent-fixture.js';
import { attackScript, runAttackJob, statusLines, systemdLaneWorld } from './lane-world.js';

/** The attack, as the job's hook runs it: one `name=blocked|escaped` line per attempt. */
function attack(o: { data: string; otherLane: string; agentPid: number }): string {
  return attackScript(
    [
      `read-host-key cat "${o.data}/private/host.key"`,
      `read-ledger cat "${o.data}/private/ledger.db"`,
      `list-private ls "${o.data}/private"`,
      `read-other-credentials cat "${o.otherLane}/.credentials"`,
      `list-other-lane ls "${o.otherLane}"`,
      'remount-root-rw mount -o remount,rw /',
      'write-root touch /lp-escape-probe',
      `write-data-dir touch "${o.data}/lp-escape-probe"`,
      `write-lanes-dir touch "${o.data}/lanes/lp-escape-probe"`,
      `see-agent-process test -e /proc/${o.agentPid}`,
      `read-agent-environ cat /proc/${o.agentPid}/environ`,
      'read-pid1-cmdline cat /proc/1/cmdline',
      'user-namespace unshare -r true',
      'mount-namespace unshare -m true',
      'read-kernel-log dmesg',
    ],
    [statusLines(['CapBnd', 'CapEff', 'CapPrm', 'NoNewPrivs'])],
  );
}

describeWithSystemd(
  'a job on a systemd lane cannot reach the host (real unit, real job)',
  (systemd) => {
    const world = systemdLaneWorld(systemd, 'escape-');

    it('every attempt of the job fails, and the unit carries the hardening the probe found', async () => {
      const w = world();
      const { sim, f, core } = w;
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
      const script = attack({
        data: f.config.dataDir,
        otherLane: victimDir,
        agentPid: process.pid,
      });
      const result = await runAttackJob(w, attacker, script, 'lane-escape');
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
