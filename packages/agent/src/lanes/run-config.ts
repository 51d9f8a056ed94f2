/**
 * Runs a persistent lane's `config.sh` in its directory, as the user the lane runs as. The
 * registration token goes to this child's environment only, as `ACTIONS_RUNNER_INPUT_TOKEN` (the
 * runner takes every `--<arg>` from `ACTIONS_RUNNER_INPUT_<ARG>` and removes the variable:
 * actions/runner src/Runner.Listener/CommandSettings.cs): never to its command line (world-readable
 * in /proc), a file, a log line, an error message or the audit.
 */
import { spawn } from 'node:child_process';
import { LaunchplaneError, redactText } from '@launchplane/shared';

/** The variable that carries the registration token to `config.sh`. */
export const TOKEN_ENV = 'ACTIONS_RUNNER_INPUT_TOKEN';

/** What `config.sh` prints when it runs as root without `RUNNER_ALLOW_RUNASROOT` (config.sh). */
const ROOT_REFUSAL = 'Must not run with sudo';

/** Options of {@link runConfigSh}. */
export interface RunConfigOptions {
  laneDir: string;
  url: string;
  token: string;
  name: string;
  labels: readonly string[];
  /** `--runnergroup NAME`: the runner group to register into (the default group when absent). */
  runnerGroup?: string | undefined;
  /** Environment of the child (PATH etc.); the token is added to it. */
  env: Readonly<Record<string, string>>;
  /** Deadline in ms. Default 120 000. */
  timeoutMs?: number;
  /** Runs config.sh as this user (the user the lane runs as). */
  owner?: { uid: number; gid: number } | undefined;
}

/** The argv of `config.sh`; it holds no secret. */
export function configArgs(
  opts: Pick<RunConfigOptions, 'url' | 'name' | 'labels' | 'runnerGroup'>,
): string[] {
  return [
    './config.sh',
    '--unattended',
    '--url',
    opts.url,
    '--name',
    opts.name,
    '--labels',
    opts.labels.join(','),
    '--work',
    '_work',
    '--replace',
    '--no-default-labels',
    '--disableupdate',
    ...(opts.runnerGroup === undefined ? [] : ['--runnergroup', opts.runnerGroup]),
  ];
}

/**
 * Runs `config.sh`; rejects with LP_RUNNER_ROOT_REFUSED when the runner refused to run as root,
 * LP_BACKEND_FAILED (output redacted) when it failed otherwise.
 */
export async function runConfigSh(options: RunConfigOptions): Promise<void> {
  const [cmd, ...args] = configArgs(options);
  const timeoutMs = options.timeoutMs ?? 120_000;
  const output: Buffer[] = [];
  const code = await new Promise<number | string>((resolve, reject) => {
    const child = spawn(cmd ?? './config.sh', args, {
      cwd: options.laneDir,
      env: { ...options.env, [TOKEN_ENV]: options.token },
      ...(options.owner === undefined ? {} : { uid: options.owner.uid, gid: options.owner.gid }),
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.stdout.on('data', (b: Buffer) => output.push(b));
    child.stderr.on('data', (b: Buffer) => output.push(b));
    child.once('error', (e) => {
      clearTimeout(timer);
      reject(e);
    });
    child.once('close', (c, signal) => {
      clearTimeout(timer);
      resolve(c ?? signal ?? 'unknown');
    });
  }).catch((error: unknown) => {
    throw new LaunchplaneError(
      'LP_BACKEND_FAILED',
      `Cannot run config.sh in "${options.laneDir}"`,
      {
        cause: error,
        recovery: 'Check runner.template in the agent config',
      },
    );
  });
  if (code === 0) return;
  const text = redactText(Buffer.concat(output).toString('utf8'), [options.token]);
  const tail = text.trim().slice(-500);
  if (text.includes(ROOT_REFUSAL)) {
    throw new LaunchplaneError(
      'LP_RUNNER_ROOT_REFUSED',
      `config.sh refused to run as root in "${options.laneDir}": ${tail}`,
      {
        recovery:
          'Run lanes as non-root users (runner.users, the default), or set runner.allowRoot: true in the agent config',
      },
    );
  }
  throw new LaunchplaneError(
    'LP_BACKEND_FAILED',
    `config.sh exited with ${String(code)}: ${tail}`,
    {
      recovery:
        'Read the output above: if the registration token expired or was used, the coordinator must create the lane again',
    },
  );
}
