// Stub of actions/runner (Runner.Listener) for launchplane-github-sim. Node builtins only, so the
// directory can be copied anywhere (a lane directory, a FROM scratch image) and run as is.
//
//   config.sh --unattended --url <url> --token <t> --name <n> --labels a,b --work _work
//             [--replace] [--ephemeral] [--disableupdate] [--no-default-labels] [--runnergroup g]
//   config.sh remove --token <removeToken>
//   run.sh [--jitconfig <encoded>]
//
// Secrets (tokens, the JIT config, the runner credential) are never printed.
import { spawn } from 'node:child_process';
import {
  chmodSync,
  existsSync,
  mkdirSync,
  readFileSync,
  rmSync,
  symlinkSync,
  unlinkSync,
  writeFileSync,
} from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const VERSION = '2.330.0';
const HEARTBEAT_MS = Number(process.env.LAUNCHPLANE_STUB_HEARTBEAT_MS ?? '1000');
const KILL_GRACE_MS = Number(process.env.LAUNCHPLANE_STUB_KILL_GRACE_MS ?? '2000');
const RUNNER_FILE = join(ROOT, '.runner');
const CREDENTIALS_FILE = join(ROOT, '.credentials');

class RunnerError extends Error {
  constructor(message, status) {
    super(message);
    this.status = status;
  }
}

function log(message) {
  const t = new Date()
    .toISOString()
    .replace('T', ' ')
    .replace(/\.\d+Z$/, 'Z');
  process.stdout.write(`${t}: ${message}\n`);
}

function fail(message, code = 1) {
  process.stderr.write(`${message}\n`);
  process.exit(code);
}

const ENV_INPUT_PREFIX = 'ACTIONS_RUNNER_INPUT_';

/**
 * Parses actions/runner-style flags: `--flag value` and boolean `--flag`. Like the real runner, a
 * flag may also come from the environment as `ACTIONS_RUNNER_INPUT_<FLAG>` (how secrets such as
 * `--jitconfig` stay off the command line); those variables are removed from this process's
 * environment so that jobs, hooks and the worker never inherit them.
 */
function parseFlags(argv, booleans) {
  const flags = {};
  const rest = [];
  for (const key of Object.keys(process.env)) {
    if (!key.startsWith(ENV_INPUT_PREFIX)) continue;
    const name = key.slice(ENV_INPUT_PREFIX.length).toLowerCase();
    const value = process.env[key] ?? '';
    delete process.env[key];
    if (booleans.includes(name)) flags[name] = value.toLowerCase() === 'true';
    else if (value !== '') flags[name] = value;
  }
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (!a.startsWith('--')) {
      rest.push(a);
      continue;
    }
    const name = a.slice(2).toLowerCase();
    if (booleans.includes(name)) flags[name] = true;
    else {
      const v = argv[i + 1];
      if (v === undefined || v.startsWith('--')) fail(`Missing value for --${name}`);
      flags[name] = v;
      i++;
    }
  }
  return { flags, rest };
}

async function call(origin, path, { method = 'POST', body, secret, signal } = {}) {
  const headers = {
    'content-type': 'application/json',
    'user-agent': `GitHubActionsRunner-stub/${VERSION}`,
  };
  if (secret !== undefined) headers.authorization = `RunnerSecret ${secret}`;
  const res = await fetch(`${origin}${path}`, {
    method,
    headers,
    body: body === undefined ? undefined : JSON.stringify(body),
    signal,
  });
  const text = await res.text();
  const data = text === '' ? undefined : JSON.parse(text);
  if (!res.ok) throw new RunnerError(data?.message ?? `HTTP ${res.status}`, res.status);
  return { status: res.status, data };
}

function originOf(url) {
  try {
    return new URL(url).origin;
  } catch {
    fail(`Invalid --url "${url}"`);
  }
}

// ---- config ---------------------------------------------------------------------------------

async function configure(argv) {
  if (argv[0] === 'remove') return remove(argv.slice(1));
  const { flags } = parseFlags(argv, [
    'unattended',
    'replace',
    'ephemeral',
    'disableupdate',
    'no-default-labels',
  ]);
  if (existsSync(RUNNER_FILE)) {
    fail(
      "Cannot configure the runner because it is already configured. To reconfigure the runner, run 'config.cmd remove' or './config.sh remove' first.",
    );
  }
  for (const f of ['url', 'token']) if (flags[f] === undefined) fail(`--${f} is required`);
  const name = flags.name ?? hostname();
  const labels = (flags.labels ?? '')
    .split(',')
    .map((l) => l.trim())
    .filter((l) => l !== '');
  log('Connecting to GitHub');
  let out;
  try {
    out = await call(originOf(flags.url), '/_runner/register', {
      body: {
        url: flags.url,
        token: flags.token,
        name,
        labels,
        noDefaultLabels: flags['no-default-labels'] === true,
        ephemeral: flags.ephemeral === true,
        replace: flags.replace === true,
        workFolder: flags.work ?? '_work',
      },
    });
  } catch (err) {
    fail(`Failed to register runner "${name}": ${err.message}`);
  }
  writeFileSync(RUNNER_FILE, JSON.stringify(out.data.runner, null, 2));
  writeFileSync(CREDENTIALS_FILE, JSON.stringify(out.data.credentials, null, 2), { mode: 0o600 });
  chmodSync(CREDENTIALS_FILE, 0o600);
  log(`Runner successfully added: "${name}" (id ${out.data.runner.agentId})`);
  log('Settings Saved.');
}

function readConfig() {
  if (!existsSync(RUNNER_FILE) || !existsSync(CREDENTIALS_FILE)) return null;
  return {
    runner: JSON.parse(readFileSync(RUNNER_FILE, 'utf8')),
    credentials: JSON.parse(readFileSync(CREDENTIALS_FILE, 'utf8')),
  };
}

function removeLocalConfig() {
  for (const f of [RUNNER_FILE, CREDENTIALS_FILE]) rmSync(f, { force: true });
}

async function remove(argv) {
  const { flags } = parseFlags(argv, ['unattended', 'local']);
  const cfg = readConfig();
  if (cfg === null) fail('The runner is not configured.');
  if (flags.local !== true) {
    if (flags.token === undefined) fail('--token is required');
    try {
      await call(cfg.runner.serverUrl, '/_runner/deregister', {
        body: { token: flags.token, runnerId: cfg.runner.agentId },
      });
    } catch (err) {
      fail(`Failed to remove runner "${cfg.runner.agentName}": ${err.message}`);
    }
  }
  removeLocalConfig();
  log('Runner removed successfully');
}

// ---- run ------------------------------------------------------------------------------------

function decodeJit(encoded) {
  try {
    const files = JSON.parse(Buffer.from(encoded, 'base64').toString('utf8'));
    return {
      runner: JSON.parse(Buffer.from(files['.runner'], 'base64').toString('utf8')),
      credentials: JSON.parse(Buffer.from(files['.credentials'], 'base64').toString('utf8')),
    };
  } catch {
    fail('The --jitconfig value is not a valid JIT configuration.');
  }
}

/** Makes `Runner.Worker` a name the kernel shows for the worker: a symlink to node. */
function workerExecutable() {
  for (const dir of [join(ROOT, 'bin'), join(tmpdir(), `lp-stub-runner-${process.pid}`)]) {
    const link = join(dir, 'Runner.Worker');
    try {
      mkdirSync(dir, { recursive: true });
      try {
        unlinkSync(link);
      } catch {
        // absent: fine
      }
      symlinkSync(process.execPath, link);
      return { file: link, argv0: undefined };
    } catch {
      // read-only directory: try the next one
    }
  }
  // Last resort: the name appears in /proc/<pid>/cmdline only.
  return { file: process.execPath, argv0: 'Runner.Worker' };
}

function runProcess(file, args, opts) {
  return new Promise((resolvePromise) => {
    const child = spawn(file, args, { stdio: 'inherit', ...opts });
    child.on('error', () => resolvePromise({ code: 127, child }));
    child.on('exit', (code, signal) =>
      resolvePromise({ code: code ?? (signal === null ? 1 : 128), child }),
    );
    opts.onSpawn?.(child);
  });
}

function sleep(ms, signal) {
  return new Promise((r) => {
    const t = setTimeout(r, ms);
    signal?.addEventListener('abort', () => {
      clearTimeout(t);
      r();
    });
  });
}

async function runHook(envName, env) {
  const hook = process.env[envName];
  if (hook === undefined || hook === '') return 0;
  const shell = existsSync('/bin/sh') ? '/bin/sh' : 'sh';
  log(
    `Running ${envName === 'ACTIONS_RUNNER_HOOK_JOB_STARTED' ? 'job-started' : 'job-completed'} hook`,
  );
  const { code } = await runProcess(shell, ['-e', hook], { env, cwd: ROOT });
  if (code !== 0) log(`Hook ${envName} exited with code ${code}`);
  return code;
}

async function run(argv) {
  const { flags } = parseFlags(argv, ['once', 'check']);
  const fromJit = flags.jitconfig !== undefined;
  const cfg = fromJit ? decodeJit(flags.jitconfig) : readConfig();
  if (cfg === null) fail('Not configured. Run config.(sh/cmd) to configure the runner.');
  const origin = cfg.runner.serverUrl;
  const secret = cfg.credentials.data.secret;
  const ephemeral = cfg.runner.ephemeral === true;
  const worker = workerExecutable();

  const stop = new AbortController();
  let current = null; // { job, child, cancelled }
  let stopping = false;
  const onSignal = (sig) => {
    if (stopping) return;
    stopping = true;
    log(`Received ${sig}, shutting down`);
    if (current !== null) cancelCurrent('runner shutdown');
    stop.abort();
  };
  process.on('SIGTERM', () => onSignal('SIGTERM'));
  process.on('SIGINT', () => onSignal('SIGINT'));

  function cancelCurrent(why) {
    if (current === null || current.cancelled) return;
    current.cancelled = true;
    log(`Cancelling job ${current.job.id}: ${why}`);
    const child = current.child;
    if (child !== null && child.exitCode === null) {
      child.kill('SIGTERM');
      setTimeout(() => {
        if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
      }, KILL_GRACE_MS).unref();
    }
  }

  let sessionId = null;
  while (sessionId === null) {
    try {
      sessionId = (await call(origin, '/_runner/sessions', { body: { version: VERSION }, secret }))
        .data.sessionId;
    } catch (err) {
      if (err.status === 401) fail(`Runner registration was deleted or is invalid: ${err.message}`);
      if (stopping) process.exit(0);
      log(`Cannot connect to the server (${err.message}); retrying`);
      await sleep(1000, stop.signal);
    }
  }
  log('Connected to GitHub');

  let deleted = false;
  const heartbeat = setInterval(() => {
    call(origin, `/_runner/sessions/${sessionId}/heartbeat`, { secret })
      .then(({ data }) => {
        if (current !== null && data?.cancelJob === current.job.id)
          cancelCurrent('cancelled on the server');
      })
      .catch((err) => {
        if (err.status === 401) deleted = true;
      });
  }, HEARTBEAT_MS);

  log('Listening for Jobs');
  let exitCode = 0;
  while (!stopping) {
    let job = null;
    try {
      const out = await call(origin, `/_runner/sessions/${sessionId}/poll`, {
        secret,
        signal: stop.signal,
      });
      job = out.status === 200 ? out.data.job : null;
    } catch (err) {
      if (stopping) break;
      if (err.status === 401 || deleted) {
        log('Runner registration has been deleted from the server');
        exitCode = 1;
        break;
      }
      if (err.status === 404) {
        // The server lost our session (e.g. heartbeat timeout): open a new one.
        try {
          sessionId = (
            await call(origin, '/_runner/sessions', { body: { version: VERSION }, secret })
          ).data.sessionId;
        } catch {
          await sleep(1000, stop.signal);
        }
        continue;
      }
      log(`Cannot poll for jobs (${err.message}); retrying`);
      await sleep(1000, stop.signal);
      continue;
    }
    if (job === null) continue;
    await runJob(job);
    if (ephemeral) {
      log('Ephemeral runner finished its job; exiting');
      if (!fromJit) removeLocalConfig();
      clearInterval(heartbeat);
      process.exit(0);
    }
  }

  clearInterval(heartbeat);
  try {
    await call(origin, `/_runner/sessions/${sessionId}`, { method: 'DELETE', secret });
  } catch {
    // The server is gone or already forgot us: it will mark us offline by heartbeat timeout.
  }
  log('Runner stopped');
  process.exit(exitCode);

  async function runJob(job) {
    current = { job, child: null, cancelled: false };
    log(`Running job: ${job.id} (run ${job.runId}, ${job.repository})`);
    const [owner, repo] = job.repository.split('/');
    const workFolder = resolve(ROOT, cfg.runner.workFolder ?? '_work');
    const env = {
      ...process.env,
      CI: 'true',
      GITHUB_ACTIONS: 'true',
      GITHUB_JOB: `job-${job.id}`,
      GITHUB_RUN_ID: String(job.runId),
      GITHUB_RUN_ATTEMPT: '1',
      GITHUB_REPOSITORY: job.repository,
      GITHUB_REPOSITORY_OWNER: owner,
      GITHUB_WORKSPACE: join(workFolder, repo ?? 'repo', repo ?? 'repo'),
      RUNNER_NAME: cfg.runner.agentName,
      RUNNER_TEMP: join(workFolder, '_temp'),
      RUNNER_WORKSPACE: join(workFolder, repo ?? 'repo'),
      LAUNCHPLANE_SIM_JOB_ID: String(job.id),
      LAUNCHPLANE_SIM_JOB_LABELS: job.labels.join(','),
    };
    let result = 'succeeded';
    const started = await runHook('ACTIONS_RUNNER_HOOK_JOB_STARTED', env);
    if (started !== 0) result = 'failed';
    else if (!current.cancelled) {
      const { code } = await runProcess(
        worker.file,
        [join(ROOT, 'lib', 'worker.mjs'), String(job.durationMs)],
        {
          env,
          cwd: ROOT,
          ...(worker.argv0 === undefined ? {} : { argv0: worker.argv0 }),
          onSpawn: (child) => {
            current.child = child;
            if (current.cancelled) child.kill('SIGTERM');
          },
        },
      );
      if (current.cancelled) result = 'cancelled';
      else if (code !== 0) result = 'failed';
    }
    if (current.cancelled) result = 'cancelled';
    await runHook('ACTIONS_RUNNER_HOOK_JOB_COMPLETED', env);
    try {
      await call(origin, `/_runner/jobs/${job.id}/complete`, { body: { result }, secret });
    } catch (err) {
      log(`Cannot report job ${job.id} (${err.message})`);
    }
    log(`Job job-${job.id} completed with result: ${result[0].toUpperCase()}${result.slice(1)}`);
    current = null;
  }
}

const [command, ...args] = process.argv.slice(2);
if (command === 'config') await configure(args);
else if (command === 'run') await run(args);
else fail('Usage: runner.mjs config|run [options]');
