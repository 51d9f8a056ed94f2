/**
 * A job owns its lane dir and can put anything where the agent reads: a FIFO where the hooks'
 * job record should be (a plain read blocks for ever), a link to /dev/zero (memory) or to the
 * agent's host key, a 1 GiB sparse file, a directory. On a real systemd lane, planted as the
 * lane's own user, each one: the health pass still finishes, commands about that lane and about
 * another lane still answer, and the record is reported unreadable — never trusted as "idle": the
 * lane counts as busy, so it is not stopped without force.
 */
import { execFile } from 'node:child_process';
import { lstat } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { beforeAll, describe, expect, it } from 'vitest';

import { recordScenario } from '../reliability/bad-input/record.js';
import { describeWithSystemd } from '../testbed/index.js';
import { jitCreate, waitForRunner } from './agent-fixture.js';
import { systemdLaneWorld } from './lane-world.js';

const run = promisify(execFile);

describeWithSystemd(
  'hostile files in a lane dir do not wedge the agent (real lanes)',
  (systemd) => {
    const world = systemdLaneWorld(systemd, 'hostile-');
    let hostile: string;
    let bystander: string;
    let stateDir: string;

    beforeAll(async () => {
      const { sim, f, core } = world();
      const a = await jitCreate(sim, 'systemd');
      const b = await jitCreate(sim, 'systemd');
      expect((await f.send(core, a)).ok).toBe(true);
      expect((await f.send(core, b)).ok).toBe(true);
      await waitForRunner(sim, a.runnerId ?? 0, 'online');
      await waitForRunner(sim, b.runnerId ?? 0, 'online');
      hostile = a.laneId;
      bystander = b.laneId;
      stateDir = join(f.config.dataDir, 'lanes', hostile, '_launchplane', 'state');
    });

    /** Runs `script` in the lane's state dir as the lane's user, as its job would. */
    async function asLaneUser(script: string): Promise<void> {
      const { f } = world();
      const owner = await lstat(join(f.config.dataDir, 'lanes', hostile));
      await run('/bin/sh', ['-c', script], {
        cwd: stateDir,
        uid: owner.uid,
        gid: owner.gid,
        env: {},
      });
    }

    const attacks: [string, string, RegExp][] = [
      ['a FIFO', 'mkfifo jobs', /jobs is a FIFO$/],
      ['a link to /dev/zero', 'ln -s /dev/zero jobs', /jobs is a symbolic link$/],
      ["a link to the agent's host key", 'ln -s "$KEY" jobs', /jobs is a symbolic link$/],
      [
        'a 1 GiB sparse file',
        'truncate -s 1G jobs',
        /jobs is 1073741824 bytes, more than the 1048576-byte limit$/,
      ],
      ['a directory', 'mkdir jobs', /jobs is a directory$/],
    ];

    describe.each(attacks)('%s where the job record should be', (what, plant, reason) => {
      it('the health pass finishes, both lanes answer, and the record is unreadable, never idle', async () => {
        const { f, core } = world();
        const key = join(f.config.dataDir, 'private', 'host.key');
        await asLaneUser(`rm -rf jobs; KEY='${key}'; ${plant}`);
        try {
          await core.healthPass();
          expect(core.status().lastHealthAt).toBeTypeOf('number');
          const inspect = await f.send(core, {
            type: 'lane.inspect',
            laneId: hostile,
            dryRun: false,
          });
          expect(inspect.ok).toBe(true);
          expect(inspect.lane?.local).toMatchObject({
            busy: true,
            unreadable: expect.stringMatching(reason),
          });
          expect(JSON.stringify(inspect)).not.toContain('PRIVATE KEY');
          // Not trusted as idle: no stop without force.
          const stop = await f.send(core, { type: 'lane.stop', laneId: hostile, dryRun: false });
          expect(stop.error?.code).toBe('LP_LANE_BUSY');
          const other = await f.send(core, {
            type: 'lane.inspect',
            laneId: bystander,
            dryRun: false,
          });
          const leaked = JSON.stringify(inspect).includes('PRIVATE KEY') ? 1 : 0;
          const wedged = inspect.ok && other.ok ? 0 : 1;
          const trustedIdle = inspect.lane?.local?.busy === true ? 0 : 1;
          recordScenario({
            area: 'hostile-job',
            scenario: `${what} where a lane's job record should be`,
            injected: '1 hostile file planted by the job',
            survived: leaked + wedged + trustedIdle === 0,
            counts: {
              agentsWedged: wedged,
              hostKeysReadableFromLane: leaked,
              unreadableRecordsTrustedAsIdle: trustedIdle,
            },
          });
          expect(other.ok).toBe(true);
          expect(other.lane?.local?.unreadable).toBeUndefined();
          expect(other.lane?.local?.busy).toBe(false);
        } finally {
          await asLaneUser('rm -rf jobs');
        }
        // Once the job record is sane again, the lane is idle again.
        await core.healthPass();
        const after = await f.send(core, { type: 'lane.inspect', laneId: hostile, dryRun: false });
        expect(after.lane?.local).toMatchObject({ busy: false });
        expect(after.lane?.local?.unreadable).toBeUndefined();
      });
    });
  },
);
