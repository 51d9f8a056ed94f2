/**
 * Who runs a lane: a user per systemd lane (made and deleted by the agent, marked), the shared
 * user, root only with the host's opt-in, the manager's own user when it cannot switch users, and
 * a docker lane's image user (resolved in the image's own files). On fakes of systemd, Docker and
 * the user database; the files and `config.sh` are real.
 */
import { chmod, mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { LaunchplaneError, containerName, unitName } from '@launchplane/shared';
import { afterEach, describe, expect, it } from 'vitest';
import {
  createHarness,
  HARNESS_IMAGES,
  SECRET_TOKEN,
  type Harness,
} from '../core-harness.test-helper.js';
import { FakeUnitManager } from '../ports/fake-unit-manager.test-helper.js';
import { FakeUserAccounts } from '../ports/fake-user-accounts.test-helper.js';
import { laneUserComment, laneUserName } from './lane-users.js';
import { runConfigSh } from './run-config.js';

const isRoot = process.getuid?.() === 0;
let h: Harness | undefined;
afterEach(async () => {
  await h?.cleanup();
  h = undefined;
});

function persistent(harness: Harness): ReturnType<Harness['createCmd']> {
  const cmd = harness.createCmd({
    ephemeral: false,
    runner: { url: 'http://127.0.0.1:9/acme/api', registrationToken: SECRET_TOKEN },
  });
  delete (cmd as { runnerId?: number }).runnerId;
  return cmd;
}

describe.runIf(isRoot)('a user per systemd lane (the default)', () => {
  it('two lanes run as two users of their own from the range, each owning its lane dir and running its config.sh', async () => {
    h = await createHarness({
      config: {
        runner: { users: { uidRange: '60600-60609' }, allowRoot: false, stopTimeoutSec: 42 },
      },
    });
    const a = persistent(h);
    const b = persistent(h);
    // createCmd ids come from the clock: keep them apart.
    b.laneId = `${a.laneId.slice(0, -1)}${a.laneId.endsWith('z') ? 'y' : 'z'}`;
    for (const cmd of [a, b]) expect((await h.send(cmd)).error).toBeUndefined();
    const uids = new Set<number>();
    for (const cmd of [a, b]) {
      const user = h.accounts.users.get(laneUserName(cmd.laneId));
      expect(user).toMatchObject({ comment: laneUserComment(cmd.laneId) });
      expect(user!.uid).toBeGreaterThanOrEqual(60600);
      expect(user!.uid).toBeLessThanOrEqual(60609);
      uids.add(user!.uid);
      const spec = h.units.units.get(unitName(cmd.laneId))?.spec;
      expect(spec?.user).toBe(laneUserName(cmd.laneId));
      expect(spec?.timeoutStopSec).toBe(42);
      expect(spec?.environment).toMatchObject({
        RUNNER_MANUALLY_TRAP_SIG: '1',
        ACTIONS_RUNNER_RETURN_VERSION_DEPRECATED_EXIT_CODE: '1',
      });
      expect(spec?.environment).not.toHaveProperty('RUNNER_ALLOW_RUNASROOT');
      const dir = join(h.dataDir, 'lanes', cmd.laneId);
      const st = await stat(dir);
      expect({ uid: st.uid, gid: st.gid, mode: st.mode & 0o777 }).toEqual({
        uid: user!.uid,
        gid: user!.gid,
        mode: 0o700,
      });
      for (const f of ['config.sh', 'run.sh', '_launchplane/launch.sh', '.runner']) {
        expect((await stat(join(dir, f))).uid).toBe(user!.uid);
      }
      // config.sh ran as the lane's user, and the token never was on its command line.
      const ran = await readFile(join(dir, 'config-ran'), 'utf8');
      expect(ran).toContain(`uid=${user!.uid} `);
      expect(ran).not.toContain(SECRET_TOKEN);
      expect(ran).not.toContain('--token');
    }
    expect(uids.size).toBe(2);
  });

  it('deletes the lane user with the lane, and hands uids out round-robin', async () => {
    h = await createHarness();
    const a = h.createCmd();
    await h.send(a);
    const first = h.accounts.users.get(laneUserName(a.laneId))!.uid;
    const removed = await h.send({
      type: 'lane.remove',
      laneId: a.laneId,
      dryRun: false,
      force: true,
    });
    expect(removed.steps).toContain(
      `delete user "${laneUserName(a.laneId)}" if the agent made it for this lane`,
    );
    expect(h.accounts.users.has(laneUserName(a.laneId))).toBe(false);
    h.clock.advance(1000);
    const b = h.createCmd();
    await h.send(b);
    // The freed uid is not handed to the very next lane.
    expect(h.accounts.users.get(laneUserName(b.laneId))!.uid).toBe(first + 1);
  });

  it("never deletes, nor reuses, a user of the lane's name that it did not make", async () => {
    h = await createHarness();
    const cmd = h.createCmd();
    const planted = h.accounts.plant({
      name: laneUserName(cmd.laneId),
      uid: 60650,
      gid: 60650,
      comment: 'someone else',
      home: '/home/x',
    });
    const r = await h.send(cmd);
    expect(r.error).toMatchObject({ code: 'LP_CONFLICT' });
    expect(h.accounts.users.get(planted.name)).toBe(planted);
    expect(h.accounts.calls.filter((c) => c.startsWith('remove'))).toEqual([]);
    // Nothing half-made is left: no unit, no lane dir.
    expect(h.units.units.has(unitName(cmd.laneId))).toBe(false);
    await expect(stat(join(h.dataDir, 'lanes', cmd.laneId))).rejects.toMatchObject({
      code: 'ENOENT',
    });
    // Removing the failed lane leaves the planted user alone too.
    await h.send({ type: 'lane.remove', laneId: cmd.laneId, dryRun: false, force: true });
    expect(h.accounts.users.get(planted.name)).toBe(planted);
  });

  it('finishes a remove when the lane user cannot be deleted, and leaves the user for doctor', async () => {
    h = await createHarness();
    const cmd = h.createCmd();
    await h.send(cmd);
    h.accounts.removeError = new LaunchplaneError('LP_BACKEND_FAILED', 'userdel: user is busy');
    const r = await h.send({ type: 'lane.remove', laneId: cmd.laneId, dryRun: false, force: true });
    expect(r.error).toBeUndefined();
    expect(h.core.ledger.lanes.get(cmd.laneId)?.state).toBe('removed');
    expect(h.accounts.users.has(laneUserName(cmd.laneId))).toBe(true);
  });

  it('skips uids that are taken and refuses when the range is full', async () => {
    h = await createHarness({
      config: {
        runner: { users: { uidRange: '60600-60601' }, allowRoot: false, stopTimeoutSec: 300 },
      },
    });
    h.accounts.plant({ name: 'taken', uid: 60600, gid: 60600, comment: '', home: '/' });
    const a = h.createCmd();
    expect((await h.send(a)).error).toBeUndefined();
    expect(h.accounts.users.get(laneUserName(a.laneId))!.uid).toBe(60601);
    h.clock.advance(1000);
    const b = h.createCmd();
    expect((await h.send(b)).error).toMatchObject({ code: 'LP_CAPACITY' });
  });

  it('finds a free uid in a crowded range with one look-up per 64 candidates, skipping gids in use', async () => {
    h = await createHarness({
      config: {
        runner: { users: { uidRange: '60600-60799' }, allowRoot: false, stopTimeoutSec: 300 },
      },
    });
    // 70 uids taken by users the agent did not make, and the next one by a group alone.
    for (let uid = 60600; uid < 60670; uid++) {
      h.accounts.plant({ name: `other${uid}`, uid, gid: uid, comment: '', home: '/' });
    }
    h.accounts.groups.add(60670);
    const a = h.createCmd();
    expect((await h.send(a)).error).toBeUndefined();
    expect(h.accounts.users.get(laneUserName(a.laneId))!.uid).toBe(60671);
    expect(h.accounts.idLookups.map((l) => [l[0], l.length])).toEqual([
      [60600, 64],
      [60664, 64],
    ]);
  });
});

describe.runIf(isRoot)('the shared user, root, and a manager that cannot switch users', () => {
  it('refuses at start lanes that would run as root without runner.allowRoot, with a hint', async () => {
    const e = await createHarness({
      config: { runner: { runAsUser: 'root', allowRoot: false, stopTimeoutSec: 300 } },
    }).catch((x: unknown) => x);
    expect(e).toMatchObject({ code: 'LP_CONFIG_INVALID' });
    expect((e as Error).message).toMatch(/would run as root/);
    expect((e as { recovery?: string }).recovery).toMatch(/runner\.allowRoot: true/);
  });

  it('refuses at start the deprecated systemd.runAsUser naming root, and a shared user that does not exist', async () => {
    const legacy = await createHarness({
      config: { systemd: { bus: 'system', runAsUser: 'root' } },
    }).catch((x: unknown) => x);
    expect(legacy).toMatchObject({ code: 'LP_CONFIG_INVALID' });
    const missing = await createHarness({
      config: { runner: { runAsUser: 'no-such-user', allowRoot: false, stopTimeoutSec: 300 } },
    }).catch((x: unknown) => x);
    expect(missing).toMatchObject({ code: 'LP_CONFIG_INVALID' });
    expect((missing as Error).message).toContain(
      '"no-such-user" (runner.runAsUser) does not exist',
    );
  });

  it('runs every lane as the shared user when the host chose one', async () => {
    const accounts = new FakeUserAccounts();
    accounts.plant({ name: 'runner', uid: 1001, gid: 1002, comment: '', home: '/home/runner' });
    h = await createHarness({
      accounts,
      config: { runner: { runAsUser: 'runner', allowRoot: false, stopTimeoutSec: 300 } },
    });
    const cmd = h.createCmd();
    await h.send(cmd);
    expect(h.units.units.get(unitName(cmd.laneId))?.spec?.user).toBe('runner');
    expect((await stat(join(h.dataDir, 'lanes', cmd.laneId))).uid).toBe(1001);
    expect(accounts.calls).toEqual([]);
    await h.send({ type: 'lane.remove', laneId: cmd.laneId, dryRun: false, force: true });
    expect(accounts.users.has('runner')).toBe(true);
  });

  it('runs lanes as root only with runner.allowRoot, and tells the runner it may', async () => {
    h = await createHarness({
      config: { runner: { runAsUser: 'root', allowRoot: true, stopTimeoutSec: 300 } },
    });
    const cmd = h.createCmd();
    await h.send(cmd);
    const spec = h.units.units.get(unitName(cmd.laneId))?.spec;
    expect(spec?.user).toBe('root');
    expect(spec?.environment).toMatchObject({ RUNNER_ALLOW_RUNASROOT: '1' });
  });

  it('a manager that does not run as root runs lanes as itself: no User=, the dir handed to it', async () => {
    const units = new FakeUnitManager();
    units.uid = 4321;
    h = await createHarness({ units });
    const cmd = h.createCmd();
    await h.send(cmd);
    expect(units.units.get(unitName(cmd.laneId))?.spec?.user).toBeUndefined();
    expect((await stat(join(h.dataDir, 'lanes', cmd.laneId))).uid).toBe(4321);
    expect(h.accounts.calls).toEqual([]);
  });

  it('refuses at start a lanes dir that lane users cannot reach, naming the directory', async () => {
    const root = await mkdtemp(join(tmpdir(), 'lp-reach-'));
    try {
      await chmod(root, 0o700);
      const e = await createHarness({ dataDir: join(root, 'data') }).catch((x: unknown) => x);
      expect(e).toMatchObject({ code: 'LP_CONFIG_INVALID' });
      expect((e as Error).message).toContain(`"${root}" has mode 0700`);
      expect((e as { recovery?: string }).recovery).toContain(`chmod o+rx ${root}`);
    } finally {
      await rm(root, { recursive: true, force: true });
    }
  });

  it('reports config.sh refusing root as what it is, never as an expired token', async () => {
    const root = await mkdtemp(join(tmpdir(), 'lp-cfg-'));
    try {
      const { makeTemplate } = await import('../core-harness.test-helper.js');
      const t = await makeTemplate(root);
      const e = await runConfigSh({
        laneDir: t,
        url: 'http://127.0.0.1:9/acme/api',
        token: SECRET_TOKEN,
        name: 'x',
        labels: ['a'],
        env: { PATH: process.env['PATH'] ?? '/usr/bin:/bin' },
      }).catch((x: unknown) => x);
      expect(e).toMatchObject({ code: 'LP_RUNNER_ROOT_REFUSED' });
      expect((e as Error).message).toContain('Must not run with sudo');
      expect((e as { recovery?: string }).recovery).not.toMatch(/token|expired/i);
      expect(JSON.stringify(e)).not.toContain(SECRET_TOKEN);
    } finally {
      await rm(root, { recursive: true, force: true });
    }
  });
});

/** A host that opts in to Docker lanes only, with room for failed attempts. */
const DOCKER_ONLY = {
  config: {
    optIn: {
      repositories: ['acme/api'],
      organizations: [],
      backends: ['docker' as const],
      maxLanes: 10,
      docker: { images: HARNESS_IMAGES, networks: ['bridge'] },
    },
  },
};

describe.runIf(isRoot)("a docker lane runs as its image's user", () => {
  const passwd =
    'root:x:0:0:root:/root:/bin/sh\nrunner:x:1001:1002:Runner:/home/runner:/bin/bash\n';
  const group = 'root:x:0:\nrunner:x:1002:\ndocker:x:123:runner\n';

  it("resolves a user name in the image's own /etc/passwd and hands it the lane dir", async () => {
    h = await createHarness();
    h.containers.imageUsers.set('runner-image', 'runner');
    h.containers.imageFiles.set('runner-image', { '/etc/passwd': passwd, '/etc/group': group });
    const cmd = h.createCmd({ backend: 'docker', docker: { image: 'runner-image' } });
    expect((await h.send(cmd)).error).toBeUndefined();
    const st = await stat(join(h.dataDir, 'lanes', cmd.laneId));
    expect({ uid: st.uid, gid: st.gid, mode: st.mode & 0o777 }).toEqual({
      uid: 1001,
      gid: 1002,
      mode: 0o700,
    });
    expect((await stat(join(h.dataDir, 'lanes', cmd.laneId, '_launchplane', 'jit'))).uid).toBe(
      1001,
    );
    const spec = h.containers.containers.get(containerName(cmd.laneId))?.spec;
    expect(spec?.stopTimeoutSec).toBe(300);
    expect(spec?.env).toMatchObject({ RUNNER_MANUALLY_TRAP_SIG: '1' });
    // No host user is made for a docker lane.
    expect(h.accounts.calls).toEqual([]);
  });

  it('takes "name:group" and numeric users the way Docker does', async () => {
    h = await createHarness(DOCKER_ONLY);
    h.containers.imageFiles.set('img', { '/etc/passwd': passwd, '/etc/group': group });
    for (const [user, ids] of [
      ['runner:docker', { uid: 1001, gid: 123 }],
      ['1001', { uid: 1001, gid: 1002 }],
      ['2000', { uid: 2000, gid: 0 }],
      ['2000:3000', { uid: 2000, gid: 3000 }],
    ] as const) {
      h.containers.imageUsers.set('img', user);
      h.clock.advance(1000);
      const cmd = h.createCmd({ backend: 'docker', docker: { image: 'img' } });
      expect((await h.send(cmd)).error).toBeUndefined();
      const st = await stat(join(h.dataDir, 'lanes', cmd.laneId));
      expect({ user, uid: st.uid, gid: st.gid }).toEqual({ user, ...ids });
    }
  });

  it('refuses an image that runs as root unless the host allows root lanes, leaving nothing behind', async () => {
    h = await createHarness(DOCKER_ONLY);
    h.containers.imageFiles.set('root-image', { '/etc/passwd': passwd, '/etc/group': group });
    for (const user of ['', 'root', '0', '0:0', 'root:docker']) {
      h.containers.imageUsers.set('root-image', user);
      h.clock.advance(1000);
      const cmd = h.createCmd({ backend: 'docker', docker: { image: 'root-image' } });
      const r = await h.send(cmd);
      expect({ user, code: r.error?.code }).toEqual({ user, code: 'LP_NOT_OPTED_IN' });
      expect(r.error?.recovery).toMatch(/non-root USER|runner\.allowRoot/);
      expect(h.containers.containers.has(containerName(cmd.laneId))).toBe(false);
      await expect(stat(join(h.dataDir, 'lanes', cmd.laneId))).rejects.toMatchObject({
        code: 'ENOENT',
      });
    }
    await h.cleanup();
    h = await createHarness({
      config: { runner: { allowRoot: true, stopTimeoutSec: 300 } },
    });
    h.containers.imageUsers.set('root-image', '');
    const ok = h.createCmd({ backend: 'docker', docker: { image: 'root-image' } });
    expect((await h.send(ok)).error).toBeUndefined();
    expect(h.containers.containers.get(containerName(ok.laneId))?.spec?.env).toMatchObject({
      RUNNER_ALLOW_RUNASROOT: '1',
    });
  });

  it('refuses a user name the image does not list, rather than guessing from the host', async () => {
    h = await createHarness();
    h.containers.imageUsers.set('odd', 'builder');
    h.containers.imageFiles.set('odd', { '/etc/passwd': passwd });
    const cmd = h.createCmd({ backend: 'docker', docker: { image: 'odd' } });
    const r = await h.send(cmd);
    expect(r.error).toMatchObject({ code: 'LP_CONFIG_INVALID' });
    expect(r.error?.message).toContain('"builder" is not in the image\'s /etc/passwd');
  });
});
