// `config.sh` (`Runner.Listener configure …`) and `config.sh remove` of the stub runner.
import { hostname } from 'node:os';
import {
  deleteLocalConfig,
  isConfigured,
  readLocalConfig,
  writeLocalConfig,
} from './local-config.mjs';
import { log, logError } from './log.mjs';
import { call } from './server.mjs';

/** Exit codes of Runner.Listener (Constants.Runner.ReturnCode). */
const SUCCESS = 0;
const TERMINATED_ERROR = 1;

function originOf(url) {
  try {
    return new URL(url).origin;
  } catch {
    return undefined;
  }
}

/** Registers the runner and writes its local configuration. Resolves the exit code. */
export async function configure(settings) {
  if (isConfigured()) {
    logError(
      "Cannot configure the runner because it is already configured. To reconfigure the runner, run 'config.cmd remove' or './config.sh remove' first.",
    );
    return TERMINATED_ERROR;
  }
  const url = settings.arg('url');
  const token = settings.arg('token');
  const origin = url === undefined ? undefined : originOf(url);
  if (origin === undefined) {
    logError(`Invalid configuration provided for url. Terminating unattended configuration.`);
    return TERMINATED_ERROR;
  }
  if (token === undefined) {
    logError('Invalid configuration provided for token. Terminating unattended configuration.');
    return TERMINATED_ERROR;
  }
  const name = settings.arg('name') ?? hostname();
  const labels = (settings.arg('labels') ?? '')
    .split(',')
    .map((l) => l.trim())
    .filter((l) => l !== '');
  if (settings.flag('no-default-labels') && labels.length === 0) {
    logError('--labels is required when --no-default-labels is used');
    return TERMINATED_ERROR;
  }
  const disableUpdate = settings.flag('disableupdate');
  log('Connecting to GitHub');
  let files;
  try {
    files = (
      await call(origin, '/_runner/register', {
        body: {
          url,
          token,
          name,
          labels,
          noDefaultLabels: settings.flag('no-default-labels'),
          ephemeral: settings.flag('ephemeral'),
          replace: settings.flag('replace'),
          disableUpdate,
          runnerGroup: settings.arg('runnergroup'),
          workFolder: settings.arg('work') ?? '_work',
        },
      })
    ).data;
  } catch (err) {
    logError(`Failed to add the runner "${name}": ${err.message}`);
    return TERMINATED_ERROR;
  }
  writeLocalConfig(files);
  log(`Runner successfully added: "${name}" (id ${files.runner.agentId})`);
  log('Settings Saved.');
  return SUCCESS;
}

/** Deregisters the runner (or, with --local, only forgets it) and deletes its local configuration. */
export async function remove(settings) {
  if (!isConfigured()) {
    logError('The runner is not configured.');
    return TERMINATED_ERROR;
  }
  const cfg = readLocalConfig();
  if (!settings.flag('local')) {
    const token = settings.arg('token');
    if (token === undefined) {
      logError('Invalid configuration provided for token. Terminating unattended configuration.');
      return TERMINATED_ERROR;
    }
    try {
      await call(cfg.runner.serverUrl, '/_runner/deregister', {
        body: { token, runnerId: cfg.runner.agentId },
      });
    } catch (err) {
      logError(`Failed: Removing runner from the server: ${err.message}`);
      return TERMINATED_ERROR;
    }
    log('Runner removed successfully');
  }
  deleteLocalConfig();
  return SUCCESS;
}
