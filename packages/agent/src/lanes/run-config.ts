/**
 * Runs a persistent lane's `config.sh` in its directory. The registration token goes to this
 * child process only: never to a file, a log line, an error message or the audit.
 */
import { spawn } from 'node:child_process';
import { LaunchplaneError } from '@launchplane/shared';
import { redactSecrets } from '../errors.js';

/** Options of {@link runConfigSh}. */
export interface RunConfigOptions {
  laneDir: string;
  url: string;
  token: string;
  name: string;
  labels: readonly string[];
  /** Environment of the child (PATH etc.). */
  env: NodeJS.ProcessEnv;
  /** Deadline in ms. Default 120 000. */
  timeoutMs?: number;
  /** Runs config.sh as this user (the lane's `User=`). */
  owner?: { uid: number; gid: number } | undefined;
}

/** The argv of `config.sh` with the token shown as `[redacted]` (for dry-run steps and logs). */
export function configArgs(
  opts: Pick<RunConfigOptions, 'url' | 'name' | 'labels'>,
  token: string,
): string[] {
  return [
    './config.sh',
    '--unattended',
    '--url',
    opts.url,
    '--token',
    token,
    '--name',
    opts.name,
    '--labels',
    opts.labels.join(','),
    '--work',
    '_work',
    '--replace',
    '--no-default-labels',
    '--disableupdate',
  ];
}

/** Runs `config.sh`; rejects with LP_BACKEND_FAILED (output redacted) when it fails. */
export async function runConfigSh(options: RunConfigOptions): Promise<void> {
  const [cmd, ...args] = configArgs(options, options.token);
  const timeoutMs = options.timeoutMs ?? 120_000;
  const output: Buffer[] = [];
  const code = await new Promise<number | string>((resolve, reject) => {
    const child = spawn(cmd ?? './config.sh', args, {
      cwd: options.laneDir,
      env: options.env,
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
  if (code !== 0) {
    const tail = redactSecrets(Buffer.concat(output).toString('utf8'), [options.token])
      .trim()
      .slice(-500);
    throw new LaunchplaneError(
      'LP_BACKEND_FAILED',
      `config.sh exited with ${String(code)}: ${tail}`,
      {
        recovery:
          'The registration token may have expired; the coordinator must create the lane again',
      },
    );
  }
}
