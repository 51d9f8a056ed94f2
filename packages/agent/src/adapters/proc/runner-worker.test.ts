import { spawn } from 'node:child_process';
import { mkdtemp, rm, symlink } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { findRunnerWorkers, isRunnerWorker, readProc } from './runner-worker.js';

describe('isRunnerWorker()', () => {
  it('recognises the apphost by comm or argv[0], and the dll under dotnet', () => {
    expect(isRunnerWorker({ comm: 'Runner.Worker', argv: [] })).toBe(true);
    expect(
      isRunnerWorker({
        comm: 'x',
        argv: ['/opt/runner/bin/Runner.Worker', 'spawnclient', '1', '2'],
      }),
    ).toBe(true);
    expect(
      isRunnerWorker({ comm: 'dotnet', argv: ['dotnet', '/opt/runner/bin/Runner.Worker.dll'] }),
    ).toBe(true);
  });

  it('does not mistake the listener or a look-alike for a worker', () => {
    expect(
      isRunnerWorker({ comm: 'Runner.Listener', argv: ['/opt/runner/bin/Runner.Listener', 'run'] }),
    ).toBe(false);
    expect(isRunnerWorker({ comm: 'bash', argv: ['bash', '-c', 'echo Runner.Worker'] })).toBe(
      false,
    );
    expect(isRunnerWorker({ comm: 'Runner.Workers', argv: ['Runner.Workers'] })).toBe(false);
  });
});

describe('findRunnerWorkers()', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'lp-proc-'));
    await symlink(process.execPath, join(dir, 'Runner.Worker'));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('finds a live process named Runner.Worker among the given pids, and skips gone ones', async () => {
    const worker = spawn(join(dir, 'Runner.Worker'), ['-e', 'setInterval(() => {}, 1e6)'], {
      stdio: 'ignore',
    });
    const other = spawn(process.execPath, ['-e', 'setInterval(() => {}, 1e6)'], {
      stdio: 'ignore',
    });
    try {
      const pids = [worker.pid ?? -1, other.pid ?? -1, 2 ** 22 + 12345];
      const found = await findRunnerWorkers(pids);
      expect(found.map((p) => p.pid)).toEqual([worker.pid]);
      expect(found[0]?.comm).toBe('Runner.Worker');
      expect(await readProc(2 ** 22 + 12345)).toBeUndefined();
    } finally {
      worker.kill('SIGKILL');
      other.kill('SIGKILL');
    }
  });
});
