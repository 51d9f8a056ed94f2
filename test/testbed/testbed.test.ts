import { spawn } from 'node:child_process';
import { access, mkdir, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';

import * as dbus from 'dbus-next';
import { describe, expect, it } from 'vitest';

import {
  requireDocker,
  requireSystemd,
  startDockerd,
  startSystemdUserManager,
  tempDir,
  waitFor,
} from './index.js';
import { DAEMON_PID_FILE, sweepAbandoned } from './cleanup.js';

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

async function exists(path: string): Promise<boolean> {
  return access(path).then(
    () => true,
    () => false,
  );
}

describe('testbed helpers', () => {
  it('waitFor() returns the first truthy value and names what timed out', async () => {
    let n = 0;
    await expect(waitFor(() => (++n >= 3 ? n : undefined), { intervalMs: 1 })).resolves.toBe(3);
    await expect(
      waitFor(() => false, { timeoutMs: 30, intervalMs: 5, what: 'the moon' }),
    ).rejects.toThrow(/Timed out after 30 ms waiting for the moon/);
  });

  it('tempDir() creates a directory and cleanup() removes it with its contents', async () => {
    const dir = await tempDir();
    await writeFile(join(dir.path, 'f'), 'x');
    expect((await stat(dir.path)).isDirectory()).toBe(true);
    await dir.cleanup();
    expect(await exists(dir.path)).toBe(false);
  });
});

describe('sweepAbandoned()', () => {
  it('stops the daemon of a run that died and removes its state dir, but leaves live runs alone', async () => {
    const base = await tempDir({ prefix: 'lp-sweep-' });
    try {
      const deadOwner = spawn('true');
      await new Promise((resolve) => deadOwner.once('exit', resolve));
      const abandoned = join(base.path, 'sd-dead');
      await mkdir(abandoned);
      await writeFile(join(abandoned, 'owner.pid'), String(deadOwner.pid));
      // An orphan "daemon": its environment names the state dir, as the testbed's daemons' do.
      const orphan = spawn('sleep', ['1000'], {
        env: { XDG_RUNTIME_DIR: join(abandoned, 'run') },
        stdio: 'ignore',
      });
      await writeFile(join(abandoned, DAEMON_PID_FILE), String(orphan.pid));
      const exited = new Promise((resolve) => orphan.once('exit', resolve));

      const live = join(base.path, 'sd-live');
      await mkdir(live);
      await writeFile(join(live, 'owner.pid'), String(process.pid));

      await sweepAbandoned(base.path);
      await exited;
      expect(await exists(abandoned)).toBe(false);
      expect(await exists(live)).toBe(true);
    } finally {
      await base.cleanup();
    }
  });

  it('never kills a process whose PID was reused by something unrelated', async () => {
    const base = await tempDir({ prefix: 'lp-sweep-' });
    const bystander = spawn('sleep', ['1000'], { stdio: 'ignore' });
    try {
      const abandoned = join(base.path, 'd-dead');
      await mkdir(abandoned);
      await writeFile(join(abandoned, 'owner.pid'), '999999999');
      await writeFile(join(abandoned, DAEMON_PID_FILE), String(bystander.pid));
      await sweepAbandoned(base.path);
      expect(alive(bystander.pid ?? -1)).toBe(true);
      expect(await exists(abandoned)).toBe(false);
    } finally {
      bystander.kill('SIGKILL');
      await base.cleanup();
    }
  });
});

describe('testbed parts', () => {
  it('the shared systemd user manager answers on its own bus', async (ctx) => {
    const systemd = requireSystemd(ctx);
    expect(alive(systemd.pid)).toBe(true);
    const bus = dbus.sessionBus({ busAddress: systemd.env.DBUS_SESSION_BUS_ADDRESS });
    try {
      const reply = await bus.call(
        new dbus.Message({
          destination: 'org.freedesktop.systemd1',
          path: '/org/freedesktop/systemd1',
          interface: 'org.freedesktop.DBus.Properties',
          member: 'Get',
          signature: 'ss',
          body: ['org.freedesktop.systemd1.Manager', 'UnitPath'],
        }),
      );
      const unitPath = (reply?.body[0] as dbus.Variant<string[]>).value;
      expect(unitPath).toContain(systemd.unitDir);
    } finally {
      bus.disconnect();
    }
  });

  it('a second systemd user manager starts beside it and stop() leaves no process or file behind', async (ctx) => {
    requireSystemd(ctx);
    const manager = await startSystemdUserManager();
    const runtimeDir = manager.env.XDG_RUNTIME_DIR;
    expect(await exists(join(runtimeDir, 'bus'))).toBe(true);
    await manager.stop();
    expect(alive(manager.pid)).toBe(false);
    expect(await exists(runtimeDir)).toBe(false);
  });

  it('a second dockerd starts beside the shared one and stop() leaves no process or file behind', async (ctx) => {
    requireDocker(ctx);
    const daemon = await startDockerd();
    expect(await exists(daemon.socketPath)).toBe(true);
    await daemon.stop();
    expect(alive(daemon.pid)).toBe(false);
    expect(await exists(daemon.socketPath)).toBe(false);
  });
});
