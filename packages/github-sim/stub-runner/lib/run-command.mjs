// `run.sh` → `Runner.Listener run`: the stub listener's main loop, shaped like actions/runner's
// Runner.RunAsync and MessageListener (docs/runner-contract.md):
//
// - a JIT config (--jitconfig / ACTIONS_RUNNER_INPUT_JITCONFIG) is written to the root first;
// - session creation retries while the server is away; a session conflict is retried for
//   LAUNCHPLANE_STUB_SESSION_CONFLICT_LIMIT_MS, then the listener exits 5; a deleted registration
//   or a refused credential exits 1;
// - the poll loop runs jobs one at a time; a runner update message exits 3 (4 when ephemeral);
//   "runner version too old" exits 7 with ACTIONS_RUNNER_RETURN_VERSION_DEPRECATED_EXIT_CODE, else
//   1; a deleted registration deletes the local config and exits 0; any other refusal exits 2;
// - SIGINT and SIGTERM cancel the running job, close the session and exit 0 (after SIGTERM, at
//   the latest LAUNCHPLANE_STUB_UNLOAD_TIMEOUT_MS later, as the real runner waits at most 30 s);
// - an ephemeral runner deletes its local config after its job and exits 0.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { JobDispatcher } from './job-dispatcher.mjs';
import {
  deleteLocalConfig,
  isConfigured,
  readLocalConfig,
  writeJitConfig,
} from './local-config.mjs';
import { log, logError } from './log.mjs';
import { VERSION, call } from './server.mjs';

const num = (name, fallback) => {
  const v = Number(process.env[name]);
  return Number.isFinite(v) && v >= 0 ? v : fallback;
};
const HEARTBEAT_MS = num('LAUNCHPLANE_STUB_HEARTBEAT_MS', 1000);
const RETRY_MS = num('LAUNCHPLANE_STUB_RETRY_MS', 1000);
const CONFLICT_LIMIT_MS = num('LAUNCHPLANE_STUB_SESSION_CONFLICT_LIMIT_MS', 10_000);
const UNLOAD_TIMEOUT_MS = num('LAUNCHPLANE_STUB_UNLOAD_TIMEOUT_MS', 30_000);

/** Runner.Listener exit codes (Constants.Runner.ReturnCode). */
export const RETURN = {
  Success: 0,
  TerminatedError: 1,
  RetryableError: 2,
  RunnerUpdating: 3,
  RunOnceRunnerUpdating: 4,
  SessionConflict: 5,
  RunnerVersionDeprecated: 7,
};

/** Program.GetRunnerVersionDeprecatedExitCode: 7 only when the variable reads true. */
function versionDeprecatedCode() {
  const v = (process.env.ACTIONS_RUNNER_RETURN_VERSION_DEPRECATED_EXIT_CODE ?? '').toLowerCase();
  return ['1', 'true', '$true'].includes(v)
    ? RETURN.RunnerVersionDeprecated
    : RETURN.TerminatedError;
}

function sleep(ms, signal) {
  return new Promise((done) => {
    const finish = () => {
      clearTimeout(timer);
      signal.removeEventListener('abort', finish);
      done();
    };
    const timer = setTimeout(finish, ms);
    signal.addEventListener('abort', finish);
  });
}

export async function run(settings) {
  const shutdown = new AbortController();
  let dispatcher = null;
  const onSignal = (sig) => {
    log(`Received ${sig}: shutting down the runner`);
    if (shutdown.signal.aborted) return;
    log('Exiting...');
    shutdown.abort();
    dispatcher?.cancel('RunnerShutdown');
    if (sig === 'SIGTERM') {
      setTimeout(() => {
        logError(`The runner did not stop within ${UNLOAD_TIMEOUT_MS} ms of SIGTERM; exiting`);
        process.exit(RETURN.Success);
      }, UNLOAD_TIMEOUT_MS).unref();
    }
  };
  process.on('SIGINT', () => onSignal('SIGINT'));
  process.on('SIGTERM', () => onSignal('SIGTERM'));

  const jit = settings.arg('jitconfig');
  if (jit !== undefined) {
    try {
      writeJitConfig(jit);
    } catch (err) {
      logError(err.message);
      return RETURN.TerminatedError;
    }
  }
  if (!isConfigured()) {
    logError('Runner is not configured.');
    return RETURN.TerminatedError;
  }
  const cfg = readLocalConfig();
  const origin = cfg.runner.serverUrl;
  const secret = cfg.credentials.data.secret;
  const disableUpdate = cfg.runner.disableUpdate === true;
  const runOnce = settings.flag('once') || cfg.runner.ephemeral === true;
  const rpc = (path, opts = {}) => call(origin, path, { secret, ...opts });

  const opened = await createSession();
  if (opened.code !== undefined) return opened.code;
  let sessionId = opened.sessionId;
  log(`Current runner version: '${VERSION}'`);
  log('Listening for Jobs');

  dispatcher = new JobDispatcher({
    name: cfg.runner.agentName,
    workFolder: cfg.runner.workFolder,
  });
  const heartbeat = setInterval(() => {
    rpc(`/_runner/sessions/${sessionId}/heartbeat`)
      .then(({ data }) => {
        const job = dispatcher.busyWith;
        if (job !== null && data?.cancelJob === job.id) dispatcher.cancel('CancelRequest');
      })
      .catch(() => undefined);
  }, HEARTBEAT_MS);

  let code = RETURN.Success;
  let skipSessionDeletion = false;
  let deleteConfig = false;
  let erroring = false;
  while (!shutdown.signal.aborted) {
    let message;
    try {
      const out = await rpc(`/_runner/sessions/${sessionId}/poll`, {
        body: { disableUpdate },
        signal: shutdown.signal,
      });
      message = out.status === 200 ? out.data : null;
      if (erroring) log('Runner reconnected.');
      erroring = false;
    } catch (err) {
      if (shutdown.signal.aborted) break;
      if (err.kind === 'RunnerNotFound') {
        logError('The runner no longer exists on the server. Cleaning up local configuration.');
        skipSessionDeletion = true;
        deleteConfig = true;
        break;
      }
      if (err.kind === 'RunnerVersionTooOld') {
        logError(`An error occurred: ${err.message}`);
        code = versionDeprecatedCode();
        break;
      }
      if (err.kind === 'SessionInvalid') {
        const again = await createSession();
        if (again.sessionId !== undefined) {
          sessionId = again.sessionId;
          continue;
        }
        code = shutdown.signal.aborted ? RETURN.Success : RETURN.RetryableError;
        break;
      }
      if (!err.transient) {
        logError(`An error occurred: ${err.message}`);
        code = RETURN.RetryableError;
        break;
      }
      if (!erroring) logError(`Runner connect error: ${err.message}. Retrying until reconnected.`);
      erroring = true;
      await sleep(RETRY_MS, shutdown.signal);
      continue;
    }
    if (message === null) continue;
    if (message.update !== undefined) {
      log(
        `Runner update to version ${message.update.targetVersion} requested; exiting to apply it`,
      );
      // The real update script touches this file in the listener's working directory once the
      // update is in place; run-helper.sh waits for it. The stub's update is done at once.
      writeFileSync(join(process.cwd(), 'update.finished'), '');
      code = runOnce ? RETURN.RunOnceRunnerUpdating : RETURN.RunnerUpdating;
      break;
    }
    if (message.job !== undefined) {
      const job = message.job;
      log(`Running job: job-${job.id} (run ${job.runId}, ${job.repository})`);
      const result = await dispatcher.run(job);
      try {
        await rpc(`/_runner/jobs/${job.id}/complete`, { body: { result } });
      } catch (err) {
        logError(`Cannot report job ${job.id} (${err.message})`);
      }
      log(`Job job-${job.id} completed with result: ${result[0].toUpperCase()}${result.slice(1)}`);
      if (runOnce) {
        deleteConfig = true;
        break;
      }
    }
  }

  clearInterval(heartbeat);
  if (!skipSessionDeletion) {
    try {
      await rpc(`/_runner/sessions/${sessionId}`, { method: 'DELETE' });
    } catch {
      // Gone already, or the server is away: it marks us offline once heartbeats stop.
    }
  }
  if (deleteConfig) deleteLocalConfig();
  log('Runner stopped');
  return code;

  /** Resolves `{sessionId}`, or `{code}` to exit with. */
  async function createSession() {
    let conflicts = 0;
    let reported = false;
    for (;;) {
      if (shutdown.signal.aborted) return { code: RETURN.Success };
      try {
        const { data } = await rpc('/_runner/sessions', {
          body: { version: VERSION, disableUpdate },
          signal: shutdown.signal,
        });
        log('Connected to GitHub');
        if (reported) log('Runner reconnected.');
        return { sessionId: data.sessionId };
      } catch (err) {
        if (shutdown.signal.aborted) return { code: RETURN.Success };
        if (err.kind === 'RunnerNotFound') {
          logError(
            'Failed to create a session. The runner registration has been deleted from the server, please re-configure. Runner registrations are automatically deleted for runners that have not connected to the service recently.',
          );
          return { code: RETURN.TerminatedError };
        }
        if (err.kind === 'SessionConflict') {
          logError('A session for this runner already exists.');
          conflicts++;
          if (conflicts > 1 && conflicts * RETRY_MS >= CONFLICT_LIMIT_MS) {
            logError(
              `Stop retry on SessionConflictException after retried for ${CONFLICT_LIMIT_MS / 1000} seconds.`,
            );
            logError(`Failed to create session. ${err.message}`);
            return { code: RETURN.SessionConflict };
          }
        } else if (!err.transient) {
          logError(`Failed to create session. ${err.message}`);
          return { code: RETURN.TerminatedError };
        }
        if (!reported)
          logError(`Runner connect error: ${err.message}. Retrying until reconnected.`);
        reported = true;
        await sleep(RETRY_MS, shutdown.signal);
      }
    }
  }
}
