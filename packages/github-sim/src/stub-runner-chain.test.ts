/**
 * The stub runner's process chain, signals and root refusals, as actions/runner has them
 * (docs/runner-contract.md): bash run.sh → bash run-helper.sh → Runner.Listener → Runner.Worker.
 */
import { chownSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  NOBODY,
  type Proc,
  type Started,
  type StubWorld,
  startStubWorld,
  waitFor,
} from './stub-runner.test-helper.js';

let w: StubWorld;

beforeEach(async () => {
  w = await startStubWorld();
});

afterEach(async () => {
  await w.close();
});

const byComm = (procs: Proc[], comm: string): Proc | undefined =>
  procs.find((p) => p.comm === comm);

/**
 * Waits for the whole chain of a runner running a job (the worker has begun the job, so it has
 * its signal handlers); returns it by role.
 */
async function runningChain(
  runner: Started,
): Promise<Record<'run' | 'helper' | 'listener' | 'worker', Proc>> {
  await waitFor('the worker sets up the job', () => runner.output().includes('Set up job: job-'));
  return waitFor('run.sh → run-helper.sh → Runner.Listener → Runner.Worker', () => {
    const procs = w.chain();
    const run = byComm(procs, 'run.sh');
    const helper = byComm(procs, 'run-helper.sh');
    const listener = byComm(procs, 'Runner.Listener');
    const worker = byComm(procs, 'Runner.Worker');
    return run && helper && listener && worker ? { run, helper, listener, worker } : undefined;
  });
}

async function startWithJob(env: NodeJS.ProcessEnv = {}) {
  expect((await w.configure()).code).toBe(0);
  const runner = w.spawnIn('run.sh', [], { env });
  const id = await w.enqueue(['gpu'], 60_000);
  await waitFor('job in progress', async () => (await w.job(id)).status === 'in_progress');
  return { runner, id, chain: await runningChain(runner) };
}

describe('stub runner processes and signals', { timeout: 60_000 }, () => {
  it('runs as bash run.sh → bash run-helper.sh → Runner.Listener → Runner.Worker, each the child of the one before', async () => {
    const { runner, chain } = await startWithJob();
    expect(chain.run.pid).toBe(runner.pid);
    expect(chain.helper.ppid).toBe(chain.run.pid);
    expect(chain.listener.ppid).toBe(chain.helper.pid);
    expect(chain.worker.ppid).toBe(chain.listener.pid);
    expect(chain.run.cmdline).toMatch(/^\/(usr\/)?bin\/bash /);
    expect(chain.helper.cmdline).toMatch(/^\/(usr\/)?bin\/bash /);
    // Without RUNNER_MANUALLY_TRAP_SIG the helper runs in the foreground, in run.sh's group.
    expect(chain.helper.pgid).toBe(chain.run.pgid);
  });

  it('without RUNNER_MANUALLY_TRAP_SIG a SIGTERM kills run.sh at once and never reaches the listener', async () => {
    const { runner, id, chain } = await startWithJob();
    process.kill(chain.run.pid, 'SIGTERM');
    expect(await runner.exited).toEqual({ code: null, signal: 'SIGTERM' });
    // The listener was not told: it still runs (orphaned), its job too.
    expect(w.chain().map((p) => p.pid)).toContain(chain.listener.pid);
    expect(runner.output()).not.toContain('Received SIG');
    expect((await w.job(id)).status).toBe('in_progress');
  });

  it('with RUNNER_MANUALLY_TRAP_SIG a SIGTERM to run.sh becomes a SIGINT to the listener group: the job ends cancelled, the session closes, run.sh exits 143', async () => {
    const { runner, id, chain } = await startWithJob({ RUNNER_MANUALLY_TRAP_SIG: '1' });
    // The helper is a background job in a process group of its own.
    expect(chain.helper.pgid).toBe(chain.helper.pid);
    expect(chain.listener.pgid).toBe(chain.helper.pid);
    process.kill(chain.run.pid, 'SIGTERM');
    expect(await runner.exited).toEqual({ code: 143, signal: null });
    expect(runner.output()).toContain('Received SIGINT');
    expect(runner.output()).not.toContain('Received SIGTERM');
    expect(runner.output()).toContain('Runner listener exit with 0 return code');
    expect(await w.job(id)).toMatchObject({ status: 'cancelled', conclusion: 'cancelled' });
    expect((await w.runnerByName())?.status).toBe('offline');
    expect(w.chain()).toEqual([]);
  });

  it('with RUNNER_MANUALLY_TRAP_SIG a SIGINT to run.sh ends it with 130', async () => {
    const { runner, id, chain } = await startWithJob({ RUNNER_MANUALLY_TRAP_SIG: '1' });
    process.kill(chain.run.pid, 'SIGINT');
    expect(await runner.exited).toEqual({ code: 130, signal: null });
    expect((await w.job(id)).status).toBe('cancelled');
  });

  it('a SIGTERM to the listener itself (every process signalled, as by KillMode=control-group) also cancels the job and exits 0', async () => {
    const { runner, id, chain } = await startWithJob();
    process.kill(chain.listener.pid, 'SIGTERM');
    expect(await runner.exited).toEqual({ code: 0, signal: null });
    expect(runner.output()).toContain('Received SIGTERM');
    expect(await w.job(id)).toMatchObject({ status: 'cancelled' });
    expect((await w.runnerByName())?.status).toBe('offline');
  });

  it('the worker ignores SIGINT: only the listener decides (a SIGINT to the worker alone leaves the job running)', async () => {
    const { runner, id, chain } = await startWithJob();
    process.kill(chain.worker.pid, 'SIGINT');
    await waitFor('the worker logs the SIGINT', () =>
      runner.output().includes('Runner.Worker received SIGINT'),
    );
    expect(w.chain().map((p) => p.pid)).toContain(chain.worker.pid);
    expect((await w.job(id)).status).toBe('in_progress');
  });

  it('SIGKILL of the listener does not leave its worker behind', async () => {
    const { runner, chain } = await startWithJob();
    process.kill(chain.listener.pid, 'SIGKILL');
    expect(await runner.exited).toEqual({ code: 0, signal: null });
    expect(runner.output()).toContain('Exiting with unknown error code: 137');
    await waitFor('worker gone', () => !w.chain().some((p) => p.pid === chain.worker.pid));
  });
});

describe('stub runner and root', { timeout: 60_000 }, () => {
  it('as root without RUNNER_ALLOW_RUNASROOT, config.sh refuses ("Must not run with sudo", 1) and registers nothing', async () => {
    const c = await w.configure([], { env: { RUNNER_ALLOW_RUNASROOT: undefined } });
    expect(c).toEqual({ code: 1, output: 'Must not run with sudo\n' });
    expect(await w.runnerByName()).toBeUndefined();
  });

  it('as root without RUNNER_ALLOW_RUNASROOT, run-helper.sh refuses: run.sh exits 0 (1 with RUNNER_MANUALLY_TRAP_SIG) and no listener starts', async () => {
    expect((await w.configure()).code).toBe(0);
    const plain = w.spawnIn('run.sh', [], { env: { RUNNER_ALLOW_RUNASROOT: undefined } });
    expect(await plain.exited).toEqual({ code: 0, signal: null });
    expect(plain.output()).toBe('Must not run interactively with sudo\nExiting runner...\n');
    const trapped = w.spawnIn('run.sh', [], {
      env: { RUNNER_ALLOW_RUNASROOT: undefined, RUNNER_MANUALLY_TRAP_SIG: '1' },
    });
    expect(await trapped.exited).toEqual({ code: 1, signal: null });
    expect((await w.runnerByName())?.status).toBe('offline');
  });

  it('as a non-root user (nobody) it configures and runs without RUNNER_ALLOW_RUNASROOT, with a minimal environment, and the whole chain runs as that user', async () => {
    w.chown(NOBODY);
    const env = { RUNNER_ALLOW_RUNASROOT: undefined, PATH: '/usr/local/bin:/usr/bin:/bin' };
    const c = w.spawnIn(
      'config.sh',
      ['--unattended', '--url', `${w.h.gh.url}/acme/api`, '--name', 'stub-1', '--labels', 'gpu'],
      {
        as: NOBODY,
        cleanEnv: true,
        env: { ...env, ACTIONS_RUNNER_INPUT_TOKEN: await w.token('registration') },
      },
    );
    expect((await c.exited).code).toBe(0);
    const runner = w.spawnIn('run.sh', [], { as: NOBODY, cleanEnv: true, env });
    const id = await w.enqueue(['gpu'], 60_000);
    await waitFor('job in progress', async () => (await w.job(id)).status === 'in_progress');
    const chain = await runningChain(runner);
    expect(Object.values(chain).map((p) => p.uid)).toEqual([
      NOBODY.uid,
      NOBODY.uid,
      NOBODY.uid,
      NOBODY.uid,
    ]);
    process.kill(-(runner.pid ?? 0), 'SIGINT');
    expect(await runner.exited).toEqual({ code: 0, signal: null });
    expect((await w.job(id)).status).toBe('cancelled');
  });

  it('where bin/ cannot be written, Runner.Listener and Runner.Worker are links in a private temp dir', async () => {
    w.chown(NOBODY);
    // bin/ belongs to root and nobody cannot write it.
    mkdirSync(join(w.dir, 'bin'), { mode: 0o755 });
    const tmp = mkdtempSync(join(tmpdir(), 'stub-tmp-'));
    w.chown(NOBODY);
    chownSync(join(w.dir, 'bin'), 0, 0);
    chownSync(tmp, NOBODY.uid, NOBODY.gid);
    try {
      const env = { RUNNER_ALLOW_RUNASROOT: undefined, TMPDIR: tmp };
      expect((await w.configure([], { as: NOBODY, env })).code).toBe(0);
      const runner = w.spawnIn('run.sh', [], { as: NOBODY, env });
      await w.enqueue(['gpu'], 60_000);
      const chain = await runningChain(runner);
      expect(chain.listener.cmdline).toContain(
        `${tmp}/launchplane-stub-runner-65534/Runner.Listener`,
      );
      expect(chain.worker.cmdline).toContain(`${tmp}/launchplane-stub-worker-`);
      process.kill(-(runner.pid ?? 0), 'SIGINT');
      expect((await runner.exited).code).toBe(0);
    } finally {
      rmSync(tmp, { recursive: true, force: true });
    }
  });
});
