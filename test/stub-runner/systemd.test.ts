/**
 * The stub runner as a systemd service on a real (private) systemd user manager, run as a
 * non-root user: what `systemctl stop` does to the run.sh → run-helper.sh → Runner.Listener chain
 * with and without RUNNER_MANUALLY_TRAP_SIG, and what exit status the unit sees
 * (docs/runner-contract.md, "Under systemd (measured)").
 */
import { execFile } from 'node:child_process';
import { readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';

import { afterEach, beforeEach, expect, it } from 'vitest';

import {
  NOBODY,
  type StubWorld,
  startStubWorld,
  waitFor,
} from '../../packages/github-sim/src/stub-runner.test-helper.js';
import { type SystemdTestbed, describeWithSystemd } from '../testbed/index.js';

const run = promisify(execFile);

describeWithSystemd('stub runner under systemd (KillMode=mixed, User=nobody)', (systemd) => {
  let w: StubWorld;
  let sd: SystemdTestbed;
  const units: string[] = [];

  const systemctl = async (...args: string[]): Promise<string> =>
    (await run('systemctl', ['--user', ...args], { env: { ...process.env, ...sd.env } })).stdout;

  /** `$SERVICE_RESULT $EXIT_CODE $EXIT_STATUS` as ExecStopPost= saw them. */
  const unitResult = async (): Promise<string> =>
    (await readFile(join(w.dir, '_unit-result'), 'utf8')).trim();

  const activeState = async (unit: string): Promise<string> =>
    (await systemctl('show', unit, '-p', 'ActiveState', '--value')).trim();

  beforeEach(async () => {
    sd = systemd();
    // offlineAfterMs long: a job of a killed listener stays in_progress for the whole test.
    w = await startStubWorld({ offlineAfterMs: 60_000 });
    w.chown(NOBODY);
    const configured = await w.configure([], {
      as: NOBODY,
      env: { RUNNER_ALLOW_RUNASROOT: undefined },
    });
    expect(configured.code).toBe(0);
  });

  afterEach(async () => {
    for (const unit of units.splice(0)) {
      await systemctl('stop', unit).catch(() => undefined);
      await systemctl('reset-failed', unit).catch(() => undefined);
      await rm(join(sd.unitDir, unit), { force: true });
    }
    await systemctl('daemon-reload').catch(() => undefined);
    await w.close();
  });

  /** Writes and starts a unit running the stub's run.sh; resolves its name and log file. */
  async function startUnit(opts: {
    trap: boolean;
    successExitStatus: boolean;
  }): Promise<{ unit: string; log: string }> {
    const unit = `lp-stub-runner-${process.pid}-${units.length}.service`;
    const log = join(w.dir, '_diag.log');
    await writeFile(
      join(sd.unitDir, unit),
      [
        '[Unit]',
        'Description=stub runner test',
        '[Service]',
        'Type=simple',
        `User=${NOBODY.uid}`,
        `Group=${NOBODY.gid}`,
        `WorkingDirectory=${w.dir}`,
        `ExecStart=${w.dir}/run.sh`,
        'Environment=PATH=/usr/local/bin:/usr/bin:/bin LAUNCHPLANE_STUB_HEARTBEAT_MS=200',
        ...(opts.trap ? ['Environment=RUNNER_MANUALLY_TRAP_SIG=1'] : []),
        'KillMode=mixed',
        'TimeoutStopSec=30',
        ...(opts.successExitStatus ? ['SuccessExitStatus=130 143'] : []),
        // What the manager saw of the main process, kept after the unit is unloaded.
        `ExecStopPost=/bin/sh -c 'echo "$SERVICE_RESULT $EXIT_CODE $EXIT_STATUS" > ${w.dir}/_unit-result'`,
        `StandardOutput=append:${log}`,
        'StandardError=inherit',
        '',
      ].join('\n'),
    );
    units.push(unit);
    await systemctl('daemon-reload');
    await systemctl('start', unit);
    return { unit, log };
  }

  /** Starts a unit, gives its runner a long job and waits until the worker set it up. */
  async function unitWithJob(opts: { trap: boolean; successExitStatus: boolean }) {
    const started = await startUnit(opts);
    const id = await w.enqueue(['gpu'], 120_000);
    await waitFor('job in progress', async () => (await w.job(id)).status === 'in_progress');
    await waitFor('the worker sets up the job', async () =>
      (await readFile(started.log, 'utf8')).includes('Set up job: job-'),
    );
    const listener = w.chain().find((p) => p.comm === 'Runner.Listener');
    expect(listener?.uid).toBe(NOBODY.uid);
    return { ...started, id };
  }

  it('with RUNNER_MANUALLY_TRAP_SIG=1 and SuccessExitStatus=130 143: stop delivers SIGINT to the listener, the job ends cancelled, the unit sees 143 and is not failed', async () => {
    const { unit, log, id } = await unitWithJob({ trap: true, successExitStatus: true });
    await systemctl('stop', unit);
    const output = await readFile(log, 'utf8');
    expect(output).toContain('Received SIGINT');
    expect(output).not.toContain('Received SIGTERM');
    expect(output).toContain('Runner listener exit with 0 return code');
    expect(await w.job(id)).toMatchObject({ status: 'cancelled', conclusion: 'cancelled' });
    expect((await w.runnerByName())?.status).toBe('offline');
    // run.sh exits with 143 (128 + SIGTERM) itself: the unit sees an exit, not a signal.
    expect(await unitResult()).toBe('success exited 143');
    expect(await activeState(unit)).toBe('inactive');
  });

  it('with RUNNER_MANUALLY_TRAP_SIG=1 but no SuccessExitStatus, the same clean stop leaves the unit failed (exit-code 143)', async () => {
    const { unit, id } = await unitWithJob({ trap: true, successExitStatus: false });
    await systemctl('stop', unit);
    expect((await w.job(id)).status).toBe('cancelled');
    expect(await unitResult()).toBe('exit-code exited 143');
    expect(await activeState(unit)).toBe('failed');
  });

  it('without RUNNER_MANUALLY_TRAP_SIG, stop kills run.sh with SIGTERM and the rest with SIGKILL: the listener never hears a signal and its job is not cancelled', async () => {
    const { unit, log, id } = await unitWithJob({ trap: false, successExitStatus: true });
    await systemctl('stop', unit);
    expect(await readFile(log, 'utf8')).not.toContain('Received SIG');
    expect((await w.job(id)).status).toBe('in_progress');
    // The session was never closed: GitHub still reads the runner online until it times out.
    expect((await w.runnerByName())?.status).toBe('online');
    expect(w.chain()).toEqual([]);
    // SIGTERM is a clean signal for systemd: the unit does not read failed either way.
    expect(await unitResult()).toBe('success killed TERM');
    expect(await activeState(unit)).toBe('inactive');
  });
});
