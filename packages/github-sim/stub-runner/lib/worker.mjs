// The stub's Runner.Worker: runs one job sent by its listener over the IPC channel. It runs as
// bin/Runner.Worker (a symlink to node), so /proc/<pid>/comm reads "Runner.Worker" like the real
// worker. As in the real worker, the job hooks are steps of the job, after "Set up job":
//
//   Set up job        workspace made; a job posted with failSetup fails here, and then no hook runs
//   Set up runner     ACTIONS_RUNNER_HOOK_JOB_STARTED (when set); a failing hook fails the job
//   the job's steps   a wait of durationMs, unless the job is cancelled or already failed
//   Complete runner   ACTIONS_RUNNER_HOOK_JOB_COMPLETED (when set), always, even after a cancel
//
// Exit code: 100 + TaskResult (100 succeeded, 102 failed, 103 cancelled). SIGINT is ignored (the
// listener decides, as with the real worker); SIGTERM or a lost listener cancels the job.
import { spawn } from 'node:child_process';
import { accessSync, constants, existsSync, mkdirSync } from 'node:fs';
import { delimiter, extname, join, resolve } from 'node:path';
import { ROOT } from './local-config.mjs';
import { log, logError } from './log.mjs';

const SUCCEEDED = 100;
const FAILED = 102;
const CANCELLED = 103;

let cancelled = false;
let stepChild = null;
const cancelWaiters = new Set();

function cancel(reason) {
  if (cancelled) return;
  cancelled = true;
  log(`Job cancellation requested: ${reason}`);
  if (stepChild !== null && stepChild.exitCode === null) stepChild.kill('SIGTERM');
  for (const w of cancelWaiters) w();
}

process.on('SIGINT', () => log('Runner.Worker received SIGINT; the listener handles the shutdown'));
process.on('SIGTERM', () => cancel('SIGTERM'));
process.on('disconnect', () => {
  // The listener is gone (killed): a worker never outlives it.
  process.exit(FAILED);
});
process.on('message', (m) => {
  if (m?.type === 'cancel') cancel(m.reason ?? 'CancelRequest');
  else if (m?.type === 'job') {
    runJob(m.job, m.runner).then(
      (code) => process.exit(code),
      (err) => {
        logError(`Runner.Worker failed: ${err.message}`);
        process.exit(FAILED);
      },
    );
  }
});

function onPath(name) {
  for (const dir of (process.env.PATH ?? '').split(delimiter)) {
    if (dir === '') continue;
    try {
      accessSync(join(dir, name), constants.X_OK);
      return join(dir, name);
    } catch {
      // not here
    }
  }
  return undefined;
}

/** The command line the real runner uses for a hook script, by its extension. */
function hookCommand(path) {
  switch (extname(path)) {
    case '.sh': {
      const bash = onPath('bash');
      return bash === undefined
        ? [onPath('sh') ?? '/bin/sh', '-e', path]
        : [bash, '--noprofile', '--norc', '-e', '-o', 'pipefail', path];
    }
    case '.js':
      return [process.execPath, path];
    default:
      return undefined;
  }
}

function runStep(argv, env, cwd) {
  return new Promise((done) => {
    const [file, ...args] = argv;
    const child = spawn(file, args, { env, cwd, stdio: ['ignore', 'inherit', 'inherit'] });
    stepChild = child;
    child.on('error', (err) => {
      logError(`Cannot start ${file}: ${err.message}`);
      done(127);
    });
    child.on('exit', (code, signal) => {
      stepChild = null;
      done(code ?? (signal === null ? 1 : 128));
    });
  });
}

/** Runs hook `envName` as a step; resolves whether it succeeded. */
async function runHook(envName, title, env, cwd) {
  const path = process.env[envName];
  log(
    `${title}: a job ${envName.endsWith('STARTED') ? 'started' : 'completed'} hook has been configured by the self-hosted runner administrator`,
  );
  if (!existsSync(path)) {
    logError(`##[error]${title}: File doesn't exist`);
    return false;
  }
  const argv = hookCommand(path);
  if (argv === undefined) {
    logError(
      `##[error]${title}: ${path} is not a valid path to a script. Make sure it ends in '.sh', '.ps1' or '.js'.`,
    );
    return false;
  }
  const code = await runStep(argv, env, cwd);
  if (code !== 0) logError(`##[error]${title}: Process completed with exit code ${code}.`);
  return code === 0;
}

function wait(ms) {
  return new Promise((done) => {
    const finish = () => {
      clearTimeout(timer);
      cancelWaiters.delete(finish);
      done();
    };
    const timer = setTimeout(finish, ms);
    cancelWaiters.add(finish);
    if (cancelled) finish();
  });
}

async function runJob(job, runner) {
  const [owner, repo = 'repo'] = job.repository.split('/');
  const workFolder = resolve(ROOT, runner.workFolder ?? '_work');
  const workspace = join(workFolder, repo, repo);
  const env = {
    ...process.env,
    CI: 'true',
    GITHUB_ACTIONS: 'true',
    GITHUB_JOB: `job-${job.id}`,
    GITHUB_RUN_ID: String(job.runId),
    GITHUB_RUN_ATTEMPT: '1',
    GITHUB_REPOSITORY: job.repository,
    GITHUB_REPOSITORY_OWNER: owner,
    GITHUB_WORKSPACE: workspace,
    RUNNER_NAME: runner.name,
    RUNNER_TEMP: join(workFolder, '_temp'),
    RUNNER_WORKSPACE: join(workFolder, repo),
    LAUNCHPLANE_SIM_JOB_ID: String(job.id),
    LAUNCHPLANE_SIM_JOB_LABELS: job.labels.join(','),
  };

  log(`Set up job: job-${job.id}`);
  if (job.failSetup) {
    logError('##[error]Set up job: failed to prepare the job (simulated by failSetup)');
    return FAILED;
  }
  mkdirSync(workspace, { recursive: true });
  mkdirSync(env.RUNNER_TEMP, { recursive: true });
  const completedHook = (process.env.ACTIONS_RUNNER_HOOK_JOB_COMPLETED ?? '') !== '';

  let ok = true;
  if ((process.env.ACTIONS_RUNNER_HOOK_JOB_STARTED ?? '') !== '' && !cancelled) {
    ok = await runHook('ACTIONS_RUNNER_HOOK_JOB_STARTED', 'Set up runner', env, workspace);
  }
  if (ok && !cancelled) await wait(job.durationMs);
  if (completedHook) {
    const hookOk = await runHook(
      'ACTIONS_RUNNER_HOOK_JOB_COMPLETED',
      'Complete runner',
      env,
      workspace,
    );
    ok &&= hookOk;
  }
  if (cancelled) return CANCELLED;
  return ok ? SUCCEEDED : FAILED;
}
