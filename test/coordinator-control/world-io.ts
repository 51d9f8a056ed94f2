/**
 * How the coordinator-control worlds talk to their parts: the simulator's REST and control API
 * with a token, and the `launchplane` CLI against the coordinator, output captured.
 */
import { runCli } from '@launchplane/coordinator';
import type { CliRun } from '@launchplane/testkit/cli';

export { simJsonClient } from '@launchplane/testkit/sim';
export type { CliRun } from '@launchplane/testkit/cli';

/** Runs the CLI against the coordinator at `baseUrl` with a token, capturing its output. */
export function cliClient(baseUrl: string): (token: string, ...args: string[]) => Promise<CliRun> {
  return async (token, ...args) => {
    let stdout = '';
    let stderr = '';
    const code = await runCli([...args, '--url', baseUrl, '--token', token], {
      stdout: (t) => (stdout += t),
      stderr: (t) => (stderr += t),
    });
    return { code, stdout, stderr, json: <T>() => JSON.parse(stdout) as T };
  };
}
