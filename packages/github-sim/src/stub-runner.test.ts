import { type ChildProcess, execFile, spawn } from 'node:child_process';
import {
  cpSync,
  existsSync,
  mkdtempSync,
  readFileSync,
  readdirSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { type Harness, startHarness } from './harness.test.helper.js';
import { stubRunnerTemplateDir } from './stub-runner-dir.js';

const run = promisify(execFile);

interface Job {
  id: number;
  status: string;
  conclusion: string | null;
  runnerName: string | null;
}
interface Runner {
  id: number;
  name: string;
  status: string;
  busy: boolean;
}

let h: Harness;
let dir: string;
const children: ChildProcess[] = [];

beforeEach(async () => {
  h = await startHarness({
    realClock: true,
    config: {
      pollWaitMs: 300,
      offlineAfterMs: 1500,
      busyLag: { lagMs: 600_000, flipAfterMs: 0, flipMs: 0, trailMs: 0 },
    },
  });
  dir = mkdtempSync(join(tmpdir(), 'stub-runner-'));
  cpSync(stubRunnerTemplateDir(), dir, { recursive: true });
  writeFileSync(
    join(dir, 'started.sh'),
    `echo "$GITHUB_JOB $GITHUB_RUN_ID $GITHUB_REPOSITORY" >> "${dir}/started.log"\n`,
  );
  writeFileSync(join(dir, 'completed.sh'), `echo "$GITHUB_JOB" >> "${dir}/completed.log"\n`);
});

afterEach(async () => {
  for (const c of children.splice(0))
    if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
  await h.close();
  rmSync(dir, { recursive: true, force: true });
});

async function waitFor<T>(
  what: string,
  probe: () => Promise<T | undefined | false> | T | undefined | false,
): Promise<T> {
  const deadline = Date.now() + 20_000;
  for (;;) {
    const v = await probe();
    if (v !== undefined && v !== false) return v;
    if (Date.now() > deadline) throw new Error(`Timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

async function token(kind: 'registration' | 'remove', scope = 'repos/acme/api'): Promise<string> {
  return (await h.json<{ token: string }>('POST', `/${scope}/actions/runners/${kind}-token`)).body
    .token;
}

async function configure(extra: string[] = [], url = 'acme/api'): Promise<void> {
  const scope = url.includes('/') ? `repos/${url}` : `orgs/${url}`;
  await run(join(dir, 'config.sh'), [
    '--unattended',
    '--url',
    `${h.gh.url}/${url}`,
    '--token',
    await token('registration', scope),
    '--name',
    'stub-1',
    '--labels',
    'lp-pool-a,gpu',
    '--work',
    '_work',
    ...extra,
  ]);
}

function start(
  args: string[] = [],
  env: NodeJS.ProcessEnv = {},
): ChildProcess & { exited: Promise<number | null> } {
  const child = spawn(join(dir, 'run.sh'), args, {
    cwd: dir,
    stdio: ['ignore', 'pipe', 'pipe'],
    env: {
      ...process.env,
      ...env,
      ACTIONS_RUNNER_HOOK_JOB_STARTED: join(dir, 'started.sh'),
      ACTIONS_RUNNER_HOOK_JOB_COMPLETED: join(dir, 'completed.sh'),
      LAUNCHPLANE_STUB_HEARTBEAT_MS: '200',
    },
  });
  children.push(child);
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  return Object.assign(child, { exited });
}

async function runnerByName(name = 'stub-1'): Promise<Runner | undefined> {
  const res = await h.json<{ runners: Runner[] }>(
    'GET',
    `/repos/acme/api/actions/runners?name=${name}`,
  );
  return res.body.runners[0];
}

async function job(id: number): Promise<Job> {
  return (await h.json<Job>('GET', `/_sim/jobs/${id}`)).body;
}

async function enqueue(labels: string[], durationMs: number): Promise<number> {
  return (
    await h.json<{ id: number }>('POST', '/_sim/jobs', {
      repository: 'acme/api',
      labels,
      durationMs,
    })
  ).body.id;
}

/** Pids of processes whose /proc/<pid>/comm is `Runner.Worker` and whose parent is `ppid`. */
function workersOf(ppid: number): number[] {
  const out: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const comm = readFileSync(`/proc/${entry}/comm`, 'utf8').trim();
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      const parent = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      if (comm === 'Runner.Worker' && parent === ppid) out.push(Number(entry));
    } catch {
      // the process went away while we looked
    }
  }
  return out;
}

describe('stub runner', { timeout: 60_000 }, () => {
  it('configures like actions/runner, goes online, runs a job with hooks and a Runner.Worker, then stops offline', async () => {
    await configure();
    const cfg = JSON.parse(readFileSync(join(dir, '.runner'), 'utf8')) as {
      agentName: string;
      gitHubUrl: string;
    };
    expect(cfg).toMatchObject({ agentName: 'stub-1', gitHubUrl: `${h.gh.url}/acme/api` });
    expect(statSync(join(dir, '.credentials')).mode & 0o777).toBe(0o600);
    const again = run(join(dir, 'config.sh'), [
      '--unattended',
      '--url',
      `${h.gh.url}/acme/api`,
      '--token',
      'x',
    ]);
    await expect(again).rejects.toMatchObject({ code: 1 });

    expect((await runnerByName())?.status).toBe('offline');
    const runner = start();
    await waitFor('runner online', async () => (await runnerByName())?.status === 'online');

    // A job the runner cannot take (missing label) stays queued.
    const other = await enqueue(['lp-pool-a', 'arm64'], 100);
    const id = await enqueue(['lp-pool-a', 'GPU'], 60_000);
    await waitFor('job in progress', async () => (await job(id)).status === 'in_progress');
    expect((await job(id)).runnerName).toBe('stub-1');
    const workers = await waitFor('Runner.Worker', () => {
      const w = workersOf(runner.pid ?? -1);
      return w.length > 0 ? w : undefined;
    });
    expect(workers).toHaveLength(1);
    await waitFor('started hook', () => existsSync(join(dir, 'started.log')));
    expect(readFileSync(join(dir, 'started.log'), 'utf8').trim()).toBe(
      `job-${id} ${1000 + id} acme/api`,
    );
    // GitHub's busy flag lags: with a long lag it still reads false while the job runs…
    expect((await runnerByName())?.busy).toBe(false);
    // …and reads true once the lag is over.
    await h.json('PATCH', '/_sim/config', { busyLagMs: 0 });
    expect((await runnerByName())?.busy).toBe(true);
    // DELETE is refused while the job runs.
    expect(
      (await h.api('DELETE', `/repos/acme/api/actions/runners/${(await runnerByName())?.id}`))
        .status,
    ).toBe(422);

    // Cancel from the server side: the runner kills the worker and reports the job cancelled.
    await h.json('POST', `/_sim/jobs/${id}/cancel`);
    await waitFor('job cancelled', async () => (await job(id)).status === 'cancelled');
    await waitFor('worker gone', () => workersOf(runner.pid ?? -1).length === 0);
    expect(readFileSync(join(dir, 'completed.log'), 'utf8').trim()).toBe(`job-${id}`);
    expect((await job(other)).status).toBe('queued');

    // A short job completes successfully.
    const quick = await enqueue(['gpu'], 200);
    await waitFor('quick job done', async () => (await job(quick)).status === 'completed');
    expect((await job(quick)).conclusion).toBe('success');

    runner.kill('SIGTERM');
    expect(await runner.exited).toBe(0);
    expect((await runnerByName())?.status).toBe('offline');
  });

  it('cancels the running job on SIGTERM, kills the worker and exits', async () => {
    await configure();
    const runner = start();
    const id = await enqueue(['gpu'], 60_000);
    await waitFor('job in progress', async () => (await job(id)).status === 'in_progress');
    const [worker] = await waitFor('Runner.Worker', () => {
      const w = workersOf(runner.pid ?? -1);
      return w.length > 0 ? w : undefined;
    });
    runner.kill('SIGTERM');
    expect(await runner.exited).toBe(0);
    expect((await job(id)).status).toBe('cancelled');
    expect(existsSync(`/proc/${worker}`)).toBe(false);
    expect((await runnerByName())?.status).toBe('offline');
    expect(readFileSync(join(dir, 'completed.log'), 'utf8').trim()).toBe(`job-${id}`);
  });

  it('goes offline when killed without a goodbye, once heartbeats stop', async () => {
    await configure();
    const runner = start();
    await waitFor('runner online', async () => (await runnerByName())?.status === 'online');
    runner.kill('SIGKILL');
    await runner.exited;
    await waitFor('runner offline', async () => (await runnerByName())?.status === 'offline');
  });

  it('an ephemeral runner takes one job, exits, and is deleted by the sim', async () => {
    await configure(['--ephemeral', '--replace', '--disableupdate']);
    const runner = start();
    const first = await enqueue(['gpu'], 100);
    const second = await enqueue(['gpu'], 100);
    expect(await runner.exited).toBe(0);
    expect((await job(first)).status).toBe('completed');
    expect((await job(second)).status).toBe('queued');
    expect(await runnerByName()).toBeUndefined();
    expect(existsSync(join(dir, '.runner'))).toBe(false);
  });

  it('runs from a JIT config: one job, then exit; the config cannot be reused', async () => {
    const jit = await h.json<{ encoded_jit_config: string; runner: { id: number } }>(
      'POST',
      '/orgs/acme/actions/runners/generate-jitconfig',
      { name: 'jit-1', runner_group_id: 1, labels: ['lp-pool-b'] },
    );
    const runner = start(['--jitconfig', jit.body.encoded_jit_config]);
    const id = (
      await h.json<{ id: number }>('POST', '/_sim/jobs', {
        organization: 'acme',
        labels: ['lp-pool-b'],
        durationMs: 100,
      })
    ).body.id;
    expect(await runner.exited).toBe(0);
    expect(await job(id)).toMatchObject({ status: 'completed', runnerName: 'jit-1' });
    expect((await h.api('GET', `/orgs/acme/actions/runners/${jit.body.runner.id}`)).status).toBe(
      404,
    );
    const reuse = start(['--jitconfig', jit.body.encoded_jit_config]);
    expect(await reuse.exited).toBe(1);
  });

  it('takes --jitconfig from ACTIONS_RUNNER_INPUT_JITCONFIG, off the command line, and hides it from jobs', async () => {
    const jit = await h.json<{ encoded_jit_config: string }>(
      'POST',
      '/orgs/acme/actions/runners/generate-jitconfig',
      { name: 'jit-env', runner_group_id: 1, labels: ['lp-pool-e'] },
    );
    writeFileSync(
      join(dir, 'started.sh'),
      `echo "seen=\${ACTIONS_RUNNER_INPUT_JITCONFIG:-none}" >> "${dir}/started.log"\n`,
    );
    const runner = start([], { ACTIONS_RUNNER_INPUT_JITCONFIG: jit.body.encoded_jit_config });
    const id = (
      await h.json<{ id: number }>('POST', '/_sim/jobs', {
        organization: 'acme',
        labels: ['lp-pool-e'],
        durationMs: 100,
      })
    ).body.id;
    expect(await runner.exited).toBe(0);
    expect(await job(id)).toMatchObject({ status: 'completed', runnerName: 'jit-env' });
    expect(readFileSync(join(dir, 'started.log'), 'utf8')).toBe('seen=none\n');
  });

  it('config.sh remove deregisters the runner and clears its files', async () => {
    await configure();
    expect(await runnerByName()).toBeDefined();
    await expect(run(join(dir, 'config.sh'), ['remove', '--token', 'wrong'])).rejects.toMatchObject(
      { code: 1 },
    );
    expect(await runnerByName()).toBeDefined();
    await run(join(dir, 'config.sh'), ['remove', '--token', await token('remove')]);
    expect(await runnerByName()).toBeUndefined();
    expect(existsSync(join(dir, '.runner'))).toBe(false);
    expect(existsSync(join(dir, '.credentials'))).toBe(false);
  });

  it('fails the job when the job-started hook fails, without starting a worker', async () => {
    writeFileSync(join(dir, 'started.sh'), 'exit 3\n');
    await configure();
    const runner = start();
    const id = await enqueue(['gpu'], 60_000);
    await waitFor('job failed', async () => (await job(id)).status === 'completed');
    expect((await job(id)).conclusion).toBe('failure');
    expect(workersOf(runner.pid ?? -1)).toEqual([]);
    expect(readFileSync(join(dir, 'completed.log'), 'utf8').trim()).toBe(`job-${id}`);
  });

  it('exits 1 when its registration is deleted on the server', async () => {
    await configure();
    const runner = start();
    await waitFor('runner online', async () => (await runnerByName())?.status === 'online');
    const r = await runnerByName();
    expect((await h.api('DELETE', `/repos/acme/api/actions/runners/${r?.id}`)).status).toBe(204);
    expect(await runner.exited).toBe(1);
  });

  it('registers without default labels when asked', async () => {
    await configure(['--no-default-labels']);
    const r = await runnerByName();
    const labels = await h.json<{ labels: { name: string }[] }>(
      'GET',
      `/repos/acme/api/actions/runners/${r?.id}/labels`,
    );
    expect(labels.body.labels.map((l) => l.name)).toEqual(['lp-pool-a', 'gpu']);
  });
});
