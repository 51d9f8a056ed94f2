import { access, stat, writeFile } from 'node:fs/promises';
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
