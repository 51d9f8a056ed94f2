/**
 * How the coordinator-control worlds talk to their parts: the simulator's REST and control API
 * with a token, and the `launchplane` CLI against the coordinator, output captured.
 */
import { runCli } from '@launchplane/coordinator';

/** One CLI run: exit status, what it printed, and stdout parsed as JSON. */
export interface CliRun {
  code: number;
  stdout: string;
  stderr: string;
  json: <T>() => T;
}

/** A JSON request to the simulator at `simUrl` with `token`; throws on a non-2xx answer. */
export function simJsonClient(
  simUrl: string,
  token: string,
): <T>(method: string, path: string, body?: unknown) => Promise<T> {
  return async <T>(method: string, path: string, body?: unknown): Promise<T> => {
    const res = await fetch(`${simUrl}${path}`, {
      method,
      headers: {
        authorization: `Bearer ${token}`,
        accept: 'application/vnd.github+json',
        ...(body === undefined ? {} : { 'content-type': 'application/json' }),
      },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
    const text = await res.text();
    if (!res.ok) throw new Error(`${method} ${path}: ${res.status} ${text}`);
    return (text === '' ? undefined : JSON.parse(text)) as T;
  };
}

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
