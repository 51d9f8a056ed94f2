import { mkdir, readFile, readdir, rm, stat, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';

import { LaunchplaneError, newLaneId } from '@launchplane/shared';
import { afterAll, beforeAll, expect, it } from 'vitest';

import { DbusUnitManager } from '../../packages/agent/src/adapters/systemd/dbus-unit-manager.js';
import {
  findRunnerWorkers,
  readProc,
} from '../../packages/agent/src/adapters/proc/runner-worker.js';
import type { UnitSpec } from '../../packages/agent/src/ports/unit-manager.js';
import { describeWithSystemd, startSystemdUserManager, tempDir, waitFor } from './index.js';
import type { TempDir } from './index.js';

let seq = 0;
/** Distinct lane ids within one millisecond, too. */
function laneId(): string {
  seq += 1;
  return newLaneId(Date.now() + seq);
}

describeWithSystemd('DbusUnitManager on a real systemd user manager', (systemd) => {
  let units: DbusUnitManager;
  let work: TempDir;
  let worker: string;
  const created: string[] = [];

  /** A lane dir holding `script` as run.sh, and a spec that runs it. */
  async function lane(
    script: string,
    overrides: Partial<UnitSpec> = {},
  ): Promise<UnitSpec & { dir: string }> {
    const id = overrides.laneId ?? laneId();
    const dir = join(work.path, id);
    await mkdir(dir, { recursive: true });
    await writeFile(join(dir, 'run.sh'), `#!/bin/sh\n${script}\n`, { mode: 0o755 });
    created.push(`launchplane-lane-${id}.service`);
    return {
      laneId: id,
      description: `test lane ${id}`,
      execStart: ['/bin/sh', join(dir, 'run.sh')],
      workingDirectory: dir,
      environment: { WORKER: worker },
      timeoutStopSec: 10,
      ...overrides,
      dir,
    };
  }

  beforeAll(async () => {
    const sd = systemd();
    units = await DbusUnitManager.create({
      bus: 'user',
      unitDir: sd.unitDir,
      busAddress: sd.env.DBUS_SESSION_BUS_ADDRESS,
    });
    // PrivateTmp=yes hides /tmp from units: lane dirs live under the testbed's laneRoot.
    work = await tempDir({ base: sd.laneRoot, prefix: 'units-' });
    await mkdir(join(work.path, 'bin'));
    // node under the name the agent looks for; a symlink gives the process that comm.
    worker = join(work.path, 'bin', 'Runner.Worker');
    await symlink(process.execPath, worker);
  });

  afterAll(async () => {
    if (units !== undefined) {
      for (const name of created) await units.removeUnit(name).catch(() => undefined);
      // The manager is shared with other suites: leave no unit of ours behind.
      const left = (await units.list()).filter((u) => created.includes(u.name));
      await units.close();
      expect(left.map((u) => u.name)).toEqual([]);
    }
    await work?.cleanup();
  });

  it('start() runs a lane in its own cgroup, where pids() and the proc helper find Runner.Worker', async () => {
    const spec = await lane('"$WORKER" -e "setInterval(() => {}, 1e6)" &\nexec sleep 1000');
    const name = await units.writeUnit(spec);
    expect(name).toBe(`launchplane-lane-${spec.laneId}.service`);
    await units.start(name);

    const status = await units.status(name);
    expect(status).toMatchObject({
      name,
      loadState: 'loaded',
      activeState: 'active',
      subState: 'running',
      nRestarts: 0,
      marker: spec.laneId,
      fragmentPath: join(systemd().unitDir, name),
    });
    expect(status?.mainPid).toBeGreaterThan(0);
    expect(status?.controlGroup).toMatch(new RegExp(`/${name.replaceAll('.', '\\.')}$`));

    const workers = await waitFor(
      async () => {
        const found = await findRunnerWorkers(await units.pids(name));
        return found.length > 0 ? found : undefined;
      },
      { what: 'Runner.Worker in the unit cgroup' },
    );
    expect(workers[0]?.comm).toBe('Runner.Worker');
    expect(await units.pids(name)).toContain(status?.mainPid);

    await units.stop(name);
    expect(await units.status(name)).toMatchObject({ activeState: 'inactive', subState: 'dead' });
    expect(await units.pids(name)).toEqual([]);
    // KillMode=mixed: the worker got SIGKILL once the main process was gone.
    expect(await readProc(workers[0]?.pid ?? -1)).toBeUndefined();
  });

  it('environment values and arguments with spaces, %, quotes, $ and newlines reach the process as written', async () => {
    const tricky = `hello world 100% %n %% "double" 'single' $HOME \${X} \\back\\slash \`tick\` ;#x\nsecond line`;
    const spec = await lane(
      'printf "%s" "$TRICKY" > env.out\nprintf "%s" "$1" > arg.out\ntouch done\nexec sleep 1000',
      {
        environment: { TRICKY: tricky, EMPTY: '', RUNNER_TOKEN: 'AAAA-secret-token-value' },
      },
    );
    spec.execStart = [...spec.execStart, tricky];
    const name = await units.writeUnit(spec);
    await units.start(name);
    await waitFor(() => stat(join(spec.dir, 'done')).then(() => true), {
      what: 'the unit to write its outputs',
    });
    expect(JSON.stringify(await readFile(join(spec.dir, 'env.out'), 'utf8'))).toBe(
      JSON.stringify(tricky),
    );
    expect(JSON.stringify(await readFile(join(spec.dir, 'arg.out'), 'utf8'))).toBe(
      JSON.stringify(tricky),
    );
    // Values live in a 0600 environment file, not in the world-readable unit file (nor on the bus).
    const unitText = await readFile(join(systemd().unitDir, name), 'utf8');
    expect(unitText).not.toContain('secret-token');
    const envFile = /^EnvironmentFile=(.+)$/m.exec(unitText)?.[1] ?? '';
    expect(await readFile(envFile, 'utf8')).toContain('AAAA-secret-token-value');
    expect((await stat(envFile)).mode & 0o777).toBe(0o600);
    await units.stop(name);
  });

  it('start() rejects with LP_BACKEND_FAILED when the unit cannot start', async () => {
    const spec = await lane('exit 0', { execStart: ['/nonexistent/launchplane-runner', 'run'] });
    const name = await units.writeUnit(spec);
    const error = await units.start(name).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(LaunchplaneError);
    expect((error as LaunchplaneError).code).toBe('LP_BACKEND_FAILED');
    expect((error as LaunchplaneError).message).toContain(name);
    expect(await units.status(name)).toMatchObject({ activeState: 'failed' });
  });

  it('start() rejects when the unit dir is missing the unit', async () => {
    const name = `launchplane-lane-${laneId()}.service`;
    await expect(units.start(name)).rejects.toMatchObject({ code: 'LP_BACKEND_FAILED' });
  });

  it('a start refused by the start limit (crash loop) is a rejection, never a success', async () => {
    // A lane that dies shortly after starting, as a broken runner would; the health loop would
    // start it again. systemd counts starts of a unit that failed; clean stops reset the count.
    const spec = await lane('sleep 0.2\nexit 1', {
      startLimitBurst: 2,
      startLimitIntervalSec: 600,
    });
    const name = await units.writeUnit(spec);
    for (let attempt = 1; attempt <= 2; attempt++) {
      await units.start(name);
      await waitFor(async () => (await units.status(name))?.activeState === 'failed', {
        what: `failure ${attempt}`,
      });
    }
    const error = await units.start(name).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(LaunchplaneError);
    expect((error as LaunchplaneError).code).toBe('LP_BACKEND_FAILED');
    expect((error as LaunchplaneError).recovery).toContain('reset-failed');
    const status = await units.status(name);
    expect(status?.activeState).toBe('failed');
    expect(status?.mainPid).toBe(0);
    // removeUnit() resets the failed state, so a rewritten unit can start again.
    await units.removeUnit(name);
    await units.writeUnit({ ...spec, execStart: ['/bin/sleep', '1000'] });
    await units.start(name);
    expect((await units.status(name))?.activeState).toBe('active');
    await units.stop(name);
  });

  it('a restart refused by the start limit is a rejection, never a success', async () => {
    const spec = await lane('exec sleep 1000', { startLimitBurst: 2, startLimitIntervalSec: 600 });
    const name = await units.writeUnit(spec);
    await units.restart(name);
    await units.restart(name);
    await expect(units.restart(name)).rejects.toMatchObject({
      name: 'LaunchplaneError',
      code: 'LP_BACKEND_FAILED',
    });
    expect((await units.status(name))?.activeState).not.toBe('active');
  });

  it('restart() replaces the main process', async () => {
    const spec = await lane('exec sleep 1000');
    const name = await units.writeUnit(spec);
    await units.start(name);
    const before = (await units.status(name))?.mainPid;
    await units.restart(name);
    const after = await units.status(name);
    expect(after?.activeState).toBe('active');
    expect(after?.mainPid).not.toBe(before);
    await units.stop(name);
  });

  it('units written side by side (their reloads shared) each start as written, and a rewrite is read', async () => {
    const specs = await Promise.all(
      [0, 1, 2, 3, 4, 5].map((i) => lane(`echo lane-${i} > "$PWD/out"\nexec sleep 1000`)),
    );
    const names = await Promise.all(specs.map((s) => units.writeUnit(s)));
    await Promise.all(names.map((n) => units.start(n)));
    for (const [i, s] of specs.entries()) {
      await waitFor(
        async () => (await readFile(join(s.dir, 'out'), 'utf8').catch(() => '')) !== '',
      );
      expect(await readFile(join(s.dir, 'out'), 'utf8')).toBe(`lane-${i}\n`);
    }
    // Rewritten while others are written: the start after it runs the new text.
    await units.stop(names[0]!);
    const rewritten = {
      ...specs[0]!,
      execStart: ['/bin/sh', '-c', 'echo rewritten > out; exec sleep 1000'],
    };
    await Promise.all([
      units.writeUnit(rewritten),
      ...specs.slice(1).map((s) => units.writeUnit(s)),
    ]);
    await units.start(names[0]!);
    await waitFor(
      async () => (await readFile(join(specs[0]!.dir, 'out'), 'utf8')) === 'rewritten\n',
    );
    await Promise.all(names.map((n) => units.removeUnit(n)));
  });

  it('removeUnit() stops a running unit and deletes its files; removing again succeeds', async () => {
    const spec = await lane('exec sleep 1000');
    const name = await units.writeUnit(spec);
    await units.start(name);
    const mainPid = (await units.status(name))?.mainPid ?? -1;
    await units.removeUnit(name);
    expect(await readProc(mainPid)).toBeUndefined();
    expect(await readdir(systemd().unitDir)).not.toContain(name);
    expect(await units.status(name)).toBeUndefined();
    expect((await units.list()).map((u) => u.name)).not.toContain(name);
    await expect(units.removeUnit(name)).resolves.toBeUndefined();
    await expect(units.stop(name)).resolves.toBeUndefined();
  });

  it('list() shows every launchplane-lane-*.service, a hand-made one without marker included', async () => {
    const ours = await lane('exec sleep 1000');
    const oursName = await units.writeUnit(ours);
    const handmade = `launchplane-lane-${laneId()}.service`;
    created.push(handmade);
    await writeFile(
      join(systemd().unitDir, handmade),
      '[Unit]\nDescription=hand-made\n\n[Service]\nExecStart=/bin/sleep 1000\n',
    );
    // One in another directory of the manager's search path, with a marker.
    const elsewhereDir = join(systemd().env.XDG_RUNTIME_DIR, 'systemd', 'user');
    await mkdir(elsewhereDir, { recursive: true });
    const elsewhereId = laneId();
    const elsewhere = `launchplane-lane-${elsewhereId}.service`;
    created.push(elsewhere);
    await writeFile(
      join(elsewhereDir, elsewhere),
      `[Unit]\nX-Launchplane-Lane=${elsewhereId}\n\n[Service]\nExecStart=/bin/sleep 1000\n`,
    );
    // Not reloaded yet: list() must still see them on disk.
    const listed = await units.list();
    await rm(join(elsewhereDir, elsewhere));
    const byName = new Map(listed.map((u) => [u.name, u]));
    expect(byName.get(elsewhere)?.marker).toBe(elsewhereId);
    expect(byName.get(elsewhere)?.fragmentPath).toBe(join(elsewhereDir, elsewhere));
    expect(byName.get(oursName)?.marker).toBe(ours.laneId);
    expect(byName.has(handmade)).toBe(true);
    expect(byName.get(handmade)?.marker).toBeUndefined();
    for (const unit of listed) expect(unit.name).toMatch(/^launchplane-lane-.*\.service$/);
    expect(listed.some((u) => u.name === 'dbus.service')).toBe(false);
  });

  it('a marker outside [Unit] does not count', async () => {
    const name = `launchplane-lane-${laneId()}.service`;
    created.push(name);
    await writeFile(
      join(systemd().unitDir, name),
      '[Service]\nX-Launchplane-Lane=01jxxxxxxxxxxxxxxxxxxxxxxx\nExecStart=/bin/true\n',
    );
    expect((await units.status(name))?.marker).toBeUndefined();
  });

  it('refuses a lane id that is not a canonical lowercase ULID, so no path escapes the unit dir', async () => {
    const base = await lane('exec sleep 1');
    for (const bad of [
      '../../../etc/evil',
      '01J0000000000000000000000A',
      'x',
      `${base.laneId}/..`,
      '',
    ]) {
      const error = await units.writeUnit({ ...base, laneId: bad }).then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(error, bad).toBeInstanceOf(LaunchplaneError);
      expect((error as LaunchplaneError).code).toBe('LP_INVALID_MESSAGE');
    }
    for (const bad of [
      '../x.service',
      'launchplane-lane-../../x.service',
      'sshd.service',
      'launchplane-lane-a/b.service',
    ]) {
      await expect(units.status(bad), bad).rejects.toMatchObject({ code: 'LP_INVALID_MESSAGE' });
      await expect(units.removeUnit(bad), bad).rejects.toMatchObject({
        code: 'LP_INVALID_MESSAGE',
      });
    }
  });

  it('stop() sends SIGKILL after TimeoutStopSec to a lane that ignores SIGTERM', async () => {
    const spec = await lane("trap '' TERM\nwhile :; do sleep 0.1; done", { timeoutStopSec: 1 });
    const name = await units.writeUnit(spec);
    await units.start(name);
    const mainPid = (await units.status(name))?.mainPid ?? -1;
    await units.stop(name);
    expect(await readProc(mainPid)).toBeUndefined();
    expect(await units.pids(name)).toEqual([]);
    expect((await units.status(name))?.activeState).not.toBe('active');
  });

  it('a manager that goes away is LP_BACKEND_UNAVAILABLE, and so are calls after it', async () => {
    const doomed = await startSystemdUserManager();
    const lost = await DbusUnitManager.create({
      bus: 'user',
      unitDir: doomed.unitDir,
      busAddress: doomed.env.DBUS_SESSION_BUS_ADDRESS,
      callTimeoutMs: 20_000,
    });
    try {
      await lost.ping();
      await doomed.stop();
      const error = await waitFor(
        () =>
          lost.ping().then(
            () => undefined,
            (e: unknown) => e,
          ),
        { timeoutMs: 15_000, what: 'ping to fail' },
      );
      expect(error).toBeInstanceOf(LaunchplaneError);
      expect((error as LaunchplaneError).code).toBe('LP_BACKEND_UNAVAILABLE');
      await expect(lost.list()).rejects.toMatchObject({ code: 'LP_BACKEND_UNAVAILABLE' });
      await expect(lost.start('launchplane-lane-x.service')).rejects.toMatchObject({
        code: 'LP_BACKEND_UNAVAILABLE',
      });
    } finally {
      await lost.close();
      await doomed.stop();
    }
  });

  it('ping() answers, and create() on a dead bus is LP_BACKEND_UNAVAILABLE with a recovery hint', async () => {
    await expect(units.ping()).resolves.toBeUndefined();
    const error = await DbusUnitManager.create({
      bus: 'user',
      unitDir: systemd().unitDir,
      busAddress: `unix:path=${join(work.path, 'no-such-bus')}`,
      callTimeoutMs: 2_000,
    }).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(LaunchplaneError);
    expect((error as LaunchplaneError).code).toBe('LP_BACKEND_UNAVAILABLE');
    expect((error as LaunchplaneError).recovery).toBeTruthy();
  });
});
