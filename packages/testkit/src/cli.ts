/**
 * Runs the built Launchplane CLIs (`launchplane`, `launchplane-agent`) as child processes of
 * Node, output captured, for the integration worlds and the demo. Build first (`npm run build`).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';

/** The built `launchplane` CLI (coordinator and operator commands). */
export const LAUNCHPLANE_CLI = fileURLToPath(
  new URL('../../coordinator/dist/cli.js', import.meta.url),
);
/** The built `launchplane-agent` CLI. */
export const AGENT_CLI = fileURLToPath(new URL('../../agent/dist/cli.js', import.meta.url));

/** The outcome of one CLI run. */
export interface CliRun {
  code: number;
  stdout: string;
  stderr: string;
  json<T>(): T;
}

/** A CLI run still going. */
export interface RunningCli {
  readonly child: ChildProcess;
  readonly done: Promise<CliRun>;
}

/** Starts `node <bin> <args>` with `env` over this process's environment. */
export function runNodeBg(bin: string, args: string[], env: NodeJS.ProcessEnv): RunningCli {
  const child = spawn(process.execPath, [bin, ...args], {
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (b: Buffer) => (stdout += b.toString()));
  child.stderr.on('data', (b: Buffer) => (stderr += b.toString()));
  const done = new Promise<CliRun>((resolve, reject) => {
    child.on('error', reject);
    child.on('close', (code) =>
      resolve({ code: code ?? -1, stdout, stderr, json: <T>() => JSON.parse(stdout) as T }),
    );
  });
  return { child, done };
}

/** Runs `node <bin> <args>` to its end. */
export function runNode(bin: string, args: string[], env: NodeJS.ProcessEnv): Promise<CliRun> {
  return runNodeBg(bin, args, env).done;
}

/** Resolves with the run if it exited 0; throws with `what`, the code and stderr otherwise. */
export async function must(r: Promise<CliRun>, what: string): Promise<CliRun> {
  const done = await r;
  if (done.code !== 0) throw new Error(`${what}: exit ${done.code}: ${done.stderr.trim()}`);
  return done;
}

/** What `launchplane enroll-token create --json` (or `POST /v1/enrollment-tokens`) returns. */
export interface EnrollToken {
  token: string;
  coordinatorFingerprint: string;
}

/**
 * `launchplane-agent enroll` of the agent whose config is at `configPath`: the one-time token
 * goes in the environment (`LAUNCHPLANE_ENROLL_TOKEN`), never on the command line.
 */
export function enrollAgent(o: {
  configPath: string;
  coordinatorUrl: string;
  hostId: string;
  enrollToken: EnrollToken;
  env?: NodeJS.ProcessEnv;
}): Promise<CliRun> {
  return must(
    runNode(
      AGENT_CLI,
      [
        '--config',
        o.configPath,
        'enroll',
        '--coordinator',
        o.coordinatorUrl,
        '--host-id',
        o.hostId,
        '--coordinator-fingerprint',
        o.enrollToken.coordinatorFingerprint,
      ],
      { ...o.env, LAUNCHPLANE_ENROLL_TOKEN: o.enrollToken.token },
    ),
    'agent enroll',
  );
}
