/**
 * The stub runner against the simulator: configuration, jobs, hooks and local config files, as
 * actions/runner has them (docs/runner-contract.md). Signals, the process chain and exit codes are
 * in stub-runner-chain.test.ts and stub-runner-exit-codes.test.ts.
 */
import { existsSync, lstatSync, readFileSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { type StubWorld, startStubWorld, waitFor } from './stub-runner.test-helper.js';

let w: StubWorld;
let hooks: NodeJS.ProcessEnv;

beforeEach(async () => {
  w = await startStubWorld();
  writeFileSync(
    join(w.dir, 'started.sh'),
    `echo "$GITHUB_JOB $GITHUB_RUN_ID $GITHUB_REPOSITORY" >> "${w.dir}/started.log"\n`,
  );
  writeFileSync(join(w.dir, 'completed.sh'), `echo "$GITHUB_JOB" >> "${w.dir}/completed.log"\n`);
  hooks = {
    ACTIONS_RUNNER_HOOK_JOB_STARTED: join(w.dir, 'started.sh'),
    ACTIONS_RUNNER_HOOK_JOB_COMPLETED: join(w.dir, 'completed.sh'),
  };
});

afterEach(async () => {
  await w.close();
});

const LOCAL_CONFIG = ['.runner', '.credentials', '.credentials_rsaparams'];

function localConfig(): string[] {
  return LOCAL_CONFIG.filter((f) => existsSync(join(w.dir, f)));
}

describe('stub runner', { timeout: 60_000 }, () => {
  it('configures like actions/runner (token from ACTIONS_RUNNER_INPUT_TOKEN), runs a job with hooks, and refuses a second configure', async () => {
    const configured = await w.configure(['--runnergroup', 'Default']);
    expect(configured.code).toBe(0);
    const cfg = JSON.parse(readFileSync(join(w.dir, '.runner'), 'utf8')) as {
      agentName: string;
      gitHubUrl: string;
    };
    expect(cfg).toMatchObject({ agentName: 'stub-1', gitHubUrl: `${w.h.gh.url}/acme/api` });
    expect(statSync(join(w.dir, '.credentials')).mode & 0o777).toBe(0o600);
    expect(statSync(join(w.dir, '.credentials_rsaparams')).mode & 0o777).toBe(0o600);
    expect(readFileSync(join(w.dir, '.path'), 'utf8').trim()).toBe(process.env['PATH']);
    const again = await w.configure();
    expect(again.code).toBe(1);
    expect(again.output).toContain('Cannot configure the runner because it is already configured');

    expect((await w.runnerByName())?.status).toBe('offline');
    const runner = w.spawnIn('run.sh', [], { env: hooks });
    await waitFor('runner online', async () => (await w.runnerByName())?.status === 'online');

    // A job the runner cannot take (missing label) stays queued.
    const other = await w.enqueue(['lp-pool-a', 'arm64'], 100);
    const id = await w.enqueue(['lp-pool-a', 'GPU'], 200);
    await waitFor('job done', async () => (await w.job(id)).status === 'completed');
    expect((await w.job(id)).conclusion).toBe('success');
    expect(readFileSync(join(w.dir, 'started.log'), 'utf8').trim()).toBe(
      `job-${id} ${1000 + id} acme/api`,
    );
    expect(readFileSync(join(w.dir, 'completed.log'), 'utf8').trim()).toBe(`job-${id}`);
    expect((await w.job(other)).status).toBe('queued');

    // Cancelled from the server side: the worker stops, the completed hook still runs.
    const long = await w.enqueue(['gpu'], 60_000);
    await waitFor('long job running', async () => (await w.job(long)).status === 'in_progress');
    await w.h.json('POST', `/_sim/jobs/${long}/cancel`);
    await waitFor('job cancelled', async () => (await w.job(long)).status === 'cancelled');
    await waitFor('completed hook', () =>
      readFileSync(join(w.dir, 'completed.log'), 'utf8').includes(`job-${long}`),
    );
    process.kill(-(runner.pid ?? 0), 'SIGINT');
    expect(await runner.exited).toEqual({ code: 0, signal: null });
    expect((await w.runnerByName())?.status).toBe('offline');
  });

  it('an ephemeral runner takes one job, exits 0, is deleted by the sim and deletes its local config', async () => {
    expect((await w.configure(['--ephemeral', '--replace', '--disableupdate'])).code).toBe(0);
    const runner = w.spawnIn('run.sh');
    const first = await w.enqueue(['gpu'], 100);
    const second = await w.enqueue(['gpu'], 100);
    expect(await runner.exited).toEqual({ code: 0, signal: null });
    expect((await w.job(first)).status).toBe('completed');
    expect((await w.job(second)).status).toBe('queued');
    expect(await w.runnerByName()).toBeUndefined();
    expect(localConfig()).toEqual([]);
    expect(runner.output()).toContain('Removed .runner');
  });

  it('runs from a JIT config in ACTIONS_RUNNER_INPUT_JITCONFIG: writes the files, hides the variable from jobs, deletes the files after the job; the config cannot be reused', async () => {
    const jit = await w.h.json<{ encoded_jit_config: string; runner: { id: number } }>(
      'POST',
      '/orgs/acme/actions/runners/generate-jitconfig',
      { name: 'jit-1', runner_group_id: 1, labels: ['lp-pool-b'] },
    );
    writeFileSync(
      join(w.dir, 'started.sh'),
      `echo "seen=\${ACTIONS_RUNNER_INPUT_JITCONFIG:-none}" >> "${w.dir}/started.log"\n` +
        `ls -a "${w.dir}" > "${w.dir}/files-during-job"\n`,
    );
    const runner = w.spawnIn('run.sh', [], {
      env: { ...hooks, ACTIONS_RUNNER_INPUT_JITCONFIG: jit.body.encoded_jit_config },
    });
    const id = (
      await w.h.json<{ id: number }>('POST', '/_sim/jobs', {
        organization: 'acme',
        labels: ['lp-pool-b'],
        durationMs: 100,
      })
    ).body.id;
    expect(await runner.exited).toEqual({ code: 0, signal: null });
    expect(await w.job(id)).toMatchObject({ status: 'completed', runnerName: 'jit-1' });
    expect(readFileSync(join(w.dir, 'started.log'), 'utf8')).toBe('seen=none\n');
    const during = readFileSync(join(w.dir, 'files-during-job'), 'utf8').split('\n');
    expect(during).toEqual(expect.arrayContaining(LOCAL_CONFIG));
    expect(localConfig()).toEqual([]);
    expect(runner.output()).not.toContain(jit.body.encoded_jit_config);
    expect((await w.h.api('GET', `/orgs/acme/actions/runners/${jit.body.runner.id}`)).status).toBe(
      404,
    );

    // The registration is gone with its job: a second start of the same config cannot connect
    // (the listener exits 1; run-helper.sh and run.sh turn that into 0).
    const reuse = w.spawnIn('run.sh', ['--jitconfig', jit.body.encoded_jit_config]);
    expect(await reuse.exited).toEqual({ code: 0, signal: null });
    expect(reuse.output()).toContain('Runner listener exit with terminated error');
  });

  it('a job that fails in set-up runs no hook, concludes failure, and the ephemeral runner still exits 0 and deletes its local config', async () => {
    expect((await w.configure(['--ephemeral'])).code).toBe(0);
    const runner = w.spawnIn('run.sh', [], { env: hooks });
    const id = await w.enqueue(['gpu'], 100, { failSetup: true });
    expect(await runner.exited).toEqual({ code: 0, signal: null });
    expect(await w.job(id)).toMatchObject({ status: 'completed', conclusion: 'failure' });
    expect(existsSync(join(w.dir, 'started.log'))).toBe(false);
    expect(existsSync(join(w.dir, 'completed.log'))).toBe(false);
    expect(localConfig()).toEqual([]);
  });

  it('fails the job when the job-started hook fails; the job-completed hook still runs', async () => {
    writeFileSync(join(w.dir, 'started.sh'), 'exit 3\n');
    expect((await w.configure()).code).toBe(0);
    w.spawnIn('run.sh', [], { env: hooks });
    const id = await w.enqueue(['gpu'], 60_000);
    await waitFor('job failed', async () => (await w.job(id)).status === 'completed');
    expect((await w.job(id)).conclusion).toBe('failure');
    expect(readFileSync(join(w.dir, 'completed.log'), 'utf8').trim()).toBe(`job-${id}`);
  });

  it('a hook whose name does not end in .sh or .js fails the job, as the real runner refuses it', async () => {
    writeFileSync(join(w.dir, 'started'), 'exit 0\n');
    expect((await w.configure()).code).toBe(0);
    const runner = w.spawnIn('run.sh', [], {
      env: { ACTIONS_RUNNER_HOOK_JOB_STARTED: join(w.dir, 'started') },
    });
    const id = await w.enqueue(['gpu'], 100);
    await waitFor('job failed', async () => (await w.job(id)).status === 'completed');
    expect((await w.job(id)).conclusion).toBe('failure');
    expect(runner.output()).toContain("Make sure it ends in '.sh', '.ps1' or '.js'");
  });

  it('a persistent runner whose registration is deleted deletes its local config and stops: listener 0, run.sh 0', async () => {
    expect((await w.configure()).code).toBe(0);
    const runner = w.spawnIn('run.sh');
    await waitFor('runner online', async () => (await w.runnerByName())?.status === 'online');
    const r = await w.runnerByName();
    expect((await w.h.api('DELETE', `/repos/acme/api/actions/runners/${r?.id}`)).status).toBe(204);
    expect(await runner.exited).toEqual({ code: 0, signal: null });
    expect(runner.output()).toContain(
      'The runner no longer exists on the server. Cleaning up local configuration.',
    );
    expect(runner.output()).toContain('Runner listener exit with 0 return code');
    expect(localConfig()).toEqual([]);
  });

  it('config.sh remove deregisters the runner and clears its files; a wrong token changes nothing', async () => {
    expect((await w.configure()).code).toBe(0);
    const wrong = w.spawnIn('config.sh', ['remove', '--token', 'wrong']);
    expect((await wrong.exited).code).toBe(1);
    expect(await w.runnerByName()).toBeDefined();
    expect(localConfig()).toEqual(LOCAL_CONFIG);
    const ok = w.spawnIn('config.sh', ['remove'], {
      env: { ACTIONS_RUNNER_INPUT_TOKEN: await w.token('remove') },
    });
    expect((await ok.exited).code).toBe(0);
    expect(await w.runnerByName()).toBeUndefined();
    expect(localConfig()).toEqual([]);
  });

  it('registers without default labels when asked, and never prints the registration token', async () => {
    const token = await w.token('registration');
    const c = w.spawnIn('config.sh', [
      '--unattended',
      '--url',
      `${w.h.gh.url}/acme/api`,
      '--token',
      token,
      '--name',
      'stub-1',
      '--labels',
      'lp-pool-a,gpu',
      '--no-default-labels',
    ]);
    expect((await c.exited).code).toBe(0);
    expect(c.output()).not.toContain(token);
    const r = await w.runnerByName();
    const labels = await w.h.json<{ labels: { name: string }[] }>(
      'GET',
      `/repos/acme/api/actions/runners/${r?.id}/labels`,
    );
    expect(labels.body.labels.map((l) => l.name)).toEqual(['lp-pool-a', 'gpu']);
  });

  it('keeps the JIT config off every command line and out of the worker’s environment', async () => {
    const jit = await w.h.json<{ encoded_jit_config: string }>(
      'POST',
      '/repos/acme/api/actions/runners/generate-jitconfig',
      { name: 'stub-1', runner_group_id: 1, labels: ['gpu'] },
    );
    const secret = jit.body.encoded_jit_config;
    const runner = w.spawnIn('run.sh', [], { env: { ACTIONS_RUNNER_INPUT_JITCONFIG: secret } });
    const id = await w.enqueue(['gpu'], 60_000);
    await waitFor('the worker sets up the job', () => runner.output().includes('Set up job'));
    const chain = w.chain();
    expect(chain.map((p) => p.comm)).toContain('Runner.Worker');
    for (const p of chain) expect(p.cmdline).not.toContain(secret.slice(0, 40));
    const worker = chain.find((p) => p.comm === 'Runner.Worker');
    const environ = readFileSync(`/proc/${worker?.pid}/environ`, 'utf8');
    expect(environ).not.toContain('ACTIONS_RUNNER_INPUT_JITCONFIG');
    expect(environ).not.toContain(secret.slice(0, 40));
    await w.h.json('POST', `/_sim/jobs/${id}/cancel`);
    expect((await runner.exited).code).toBe(0);
  });

  it('refuses a JIT config that names a file outside the runner root, and writes nothing', async () => {
    const file = (o: unknown): string => Buffer.from(JSON.stringify(o)).toString('base64');
    const evil = Buffer.from(
      JSON.stringify({
        '.runner': file({ agentId: 1, serverUrl: w.h.gh.url }),
        '.credentials': file({ data: { secret: 'x' } }),
        '../escaped': file({ pwned: true }),
      }),
    ).toString('base64');
    const runner = w.spawnIn('run.sh', [], { env: { ACTIONS_RUNNER_INPUT_JITCONFIG: evil } });
    expect(await runner.exited).toEqual({ code: 0, signal: null });
    expect(runner.output()).toContain('unexpected entry "../escaped"');
    expect(runner.output()).toContain('Runner execution has finished with return code 1');
    expect(existsSync(join(w.dir, '..', 'escaped'))).toBe(false);
    expect(localConfig()).toEqual([]);
  });

  it('replaces a link planted where a credential file goes instead of writing through it', async () => {
    const victim = join(w.dir, 'victim');
    writeFileSync(victim, 'untouched\n');
    symlinkSync(victim, join(w.dir, '.credentials'));
    expect((await w.configure()).code).toBe(0);
    expect(readFileSync(victim, 'utf8')).toBe('untouched\n');
    expect(lstatSync(join(w.dir, '.credentials')).isSymbolicLink()).toBe(false);
    expect(statSync(join(w.dir, '.credentials')).mode & 0o777).toBe(0o600);
  });

  it('a failed registration leaves no local config behind', async () => {
    const c = w.spawnIn('config.sh', [
      '--unattended',
      '--url',
      `${w.h.gh.url}/acme/api`,
      '--token',
      'not-a-token',
      '--name',
      'stub-1',
    ]);
    expect((await c.exited).code).toBe(1);
    expect(localConfig()).toEqual([]);
    expect(await w.runnerByName()).toBeUndefined();
  });
});
