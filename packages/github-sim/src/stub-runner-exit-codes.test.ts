/**
 * Each exit code of the stub's Runner.Listener (0/1/2/3/4/5/7), reached through a situation at
 * the simulator, and how run-helper.sh and run.sh map it, with and without
 * RUNNER_MANUALLY_TRAP_SIG (docs/runner-contract.md).
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import {
  type Started,
  type StubWorld,
  startStubWorld,
  waitFor,
} from './stub-runner.test-helper.js';

let w: StubWorld | undefined;

afterEach(async () => {
  await w?.close();
  w = undefined;
});

/** The exit code the listener reported, from its last line. */
function listenerCode(run: Started): number[] {
  return [...run.output().matchAll(/Runner execution has finished with return code (\d+)/g)].map(
    (m) => Number(m[1]),
  );
}

async function world(offlineAfterMs = 60_000): Promise<StubWorld> {
  w = await startStubWorld({ offlineAfterMs });
  return w;
}

async function online(s: StubWorld): Promise<void> {
  await waitFor('runner online', async () => (await s.runnerByName())?.status === 'online');
}

describe('stub runner exit codes', { timeout: 60_000 }, () => {
  describe('runner version deprecated (poll refused as RunnerVersionTooOld)', () => {
    const cases = [
      // [env value, RUNNER_MANUALLY_TRAP_SIG, listener code, run.sh code, helper line]
      ['1', '', 7, 7, 'Runner listener exit with deprecated version exit code: 7.'],
      ['1', '1', 7, 7, 'Runner listener exit with deprecated version exit code: 7.'],
      [undefined, '', 1, 0, 'Runner listener exit with terminated error'],
      [undefined, '1', 1, 0, 'Runner listener exit with terminated error'],
      // Program.cs reads "true" as true, but run-helper.sh and run.sh compare with "1" only.
      ['true', '', 7, 0, 'Exiting with unknown error code: 7'],
    ] as const;
    it.each(cases)(
      'ACTIONS_RUNNER_RETURN_VERSION_DEPRECATED_EXIT_CODE=%s, RUNNER_MANUALLY_TRAP_SIG=%s: listener %i, run.sh %i',
      async (value, trap, listener, runSh, line) => {
        const s = await world();
        expect((await s.configure()).code).toBe(0);
        await s.h.json('PUT', '/_sim/runner-faults', { minRunnerVersion: '2.331.0' });
        const run = s.spawnIn('run.sh', [], {
          env: {
            ACTIONS_RUNNER_RETURN_VERSION_DEPRECATED_EXIT_CODE: value,
            RUNNER_MANUALLY_TRAP_SIG: trap,
          },
        });
        expect(await run.exited).toEqual({ code: runSh, signal: null });
        expect(listenerCode(run)).toEqual([listener]);
        expect(run.output()).toContain(line);
        expect(run.output()).toContain('is deprecated and cannot receive messages');
        // The listener closed its session on the way out (the sim would wait a minute otherwise).
        expect((await s.runnerByName())?.status).toBe('offline');
      },
    );
  });

  it('a refused poll (401) exits 2: run-helper.sh sleeps, run.sh restarts the runner, which comes back online', async () => {
    const s = await world();
    expect((await s.configure()).code).toBe(0);
    await s.h.json('PUT', '/_sim/runner-faults', { pollUnauthorizedNext: 1 });
    const run = s.spawnIn('run.sh', [], { env: { RUNNER_MANUALLY_TRAP_SIG: '1' } });
    await waitFor('the restart', () => run.output().includes('Restarting runner...'));
    expect(listenerCode(run)).toEqual([2]);
    expect(run.output()).toContain(
      'Runner listener exit with retryable error, re-launch runner in 5 seconds.',
    );
    await online(s);
    const id = await s.enqueue(['gpu'], 100);
    await waitFor('job done', async () => (await s.job(id)).status === 'completed');
    process.kill(run.pid ?? 0, 'SIGTERM');
    expect(await run.exited).toEqual({ code: 143, signal: null });
    expect(listenerCode(run)).toEqual([2, 0]);
  });

  it('a self-update exits 3 (4 when ephemeral): run-helper.sh finds update.finished and run.sh restarts the runner', async () => {
    const s = await world();
    expect((await s.configure()).code).toBe(0);
    const run = s.spawnIn('run.sh');
    await online(s);
    const r = await s.runnerByName();
    expect((await s.h.json('POST', `/_sim/runners/${r?.id}/update`, {})).status).toBe(202);
    await waitFor('the restarted listener', () => run.output().includes('Restarting runner...'));
    expect(listenerCode(run)).toEqual([3]);
    expect(run.output()).toContain('Runner listener exit because of updating');
    expect(run.output()).toContain('Update finished successfully.');
    expect(existsSync(join(s.dir, 'update.finished'))).toBe(false);
    await waitFor('listening again', () => run.output().split('Listening for Jobs').length === 3);
    process.kill(-(run.pid ?? 0), 'SIGINT');
    expect(await run.exited).toEqual({ code: 0, signal: null });
    expect(listenerCode(run)).toEqual([3, 0]);
  });

  it('an ephemeral runner that updates exits 4, and is restarted the same way', async () => {
    const s = await world();
    expect((await s.configure(['--ephemeral'])).code).toBe(0);
    const run = s.spawnIn('run.sh');
    await online(s);
    const r = await s.runnerByName();
    await s.h.json('POST', `/_sim/runners/${r?.id}/update`, { targetVersion: '2.331.0' });
    await waitFor('the restarted listener', () => run.output().includes('Restarting runner...'));
    expect(listenerCode(run)).toEqual([4]);
    const id = await s.enqueue(['gpu'], 100);
    expect(await run.exited).toEqual({ code: 0, signal: null });
    expect(listenerCode(run)).toEqual([4, 0]);
    expect((await s.job(id)).conclusion).toBe('success');
  });

  it('a runner configured with --disableupdate is never sent an update (409)', async () => {
    const s = await world();
    expect((await s.configure(['--disableupdate'])).code).toBe(0);
    s.spawnIn('run.sh');
    await online(s);
    const r = await s.runnerByName();
    const res = await s.h.json<{ message: string }>('POST', `/_sim/runners/${r?.id}/update`, {});
    expect(res.status).toBe(409);
    expect(res.body.message).toContain('--disableupdate');
  });

  it('killed without closing its session, the next start meets a session conflict, retries for the configured time and exits 5; run.sh exits 0', async () => {
    const s = await world();
    expect((await s.configure()).code).toBe(0);
    const first = s.spawnIn('run.sh');
    await online(s);
    const listener = s.chain().find((p) => p.comm === 'Runner.Listener');
    process.kill(listener?.pid ?? 0, 'SIGKILL');
    expect(await first.exited).toEqual({ code: 0, signal: null });
    expect(first.output()).toContain('Exiting with unknown error code: 137');
    // The sim still holds the dead listener's session.
    expect((await s.runnerByName())?.status).toBe('online');

    const second = s.spawnIn('run.sh', [], {
      env: { LAUNCHPLANE_STUB_SESSION_CONFLICT_LIMIT_MS: '1000' },
    });
    expect(await second.exited).toEqual({ code: 0, signal: null });
    expect(listenerCode(second)).toEqual([5]);
    expect(second.output()).toContain('A session for this runner already exists.');
    expect(second.output()).toContain(
      'Stop retry on SessionConflictException after retried for 1 seconds.',
    );
    expect(second.output()).toContain('Runner listener exit with Session Conflict error');
  });

  it('a session conflict that clears within the limit (the old session timed out) is retried until the runner connects', async () => {
    const s = await world(1500);
    expect((await s.configure()).code).toBe(0);
    const first = s.spawnIn('run.sh');
    await online(s);
    process.kill(s.chain().find((p) => p.comm === 'Runner.Listener')?.pid ?? 0, 'SIGKILL');
    await first.exited;
    const second = s.spawnIn('run.sh');
    await waitFor('connected', () => second.output().includes('Listening for Jobs'));
    expect(second.output()).toContain('A session for this runner already exists.');
    await online(s);
  });

  it('a registration deleted while the runner was stopped: session creation fails, listener 1, run.sh 0, local config kept', async () => {
    const s = await world();
    expect((await s.configure()).code).toBe(0);
    const r = await s.runnerByName();
    expect((await s.h.api('DELETE', `/repos/acme/api/actions/runners/${r?.id}`)).status).toBe(204);
    const run = s.spawnIn('run.sh');
    expect(await run.exited).toEqual({ code: 0, signal: null });
    expect(listenerCode(run)).toEqual([1]);
    expect(run.output()).toContain('The runner registration has been deleted from the server');
    expect(existsSync(join(s.dir, '.runner'))).toBe(true);
  });

  it('server errors on session creation and polls are retried without exiting', async () => {
    const s = await world();
    expect((await s.configure()).code).toBe(0);
    await s.h.json('PUT', '/_sim/runner-faults', {
      sessionServerErrorNext: 2,
      pollServerErrorNext: 2,
    });
    const run = s.spawnIn('run.sh');
    const id = await s.enqueue(['gpu'], 100);
    await waitFor('job done', async () => (await s.job(id)).status === 'completed');
    expect(run.output()).toContain('Retrying until reconnected.');
    expect(run.output()).toContain('Runner reconnected.');
    expect(listenerCode(run)).toEqual([]);
    expect((await s.h.json('GET', '/_sim/runner-faults')).body).toMatchObject({
      sessionServerErrorNext: 0,
      pollServerErrorNext: 0,
    });
  });
});
