/**
 * The same state read done without the agent: one short-lived process per read (`systemctl
 * --user show …`, `docker -H unix://… inspect …`), timed from spawn to exit.
 */
import { execFile } from 'node:child_process';
import { performance } from 'node:perf_hooks';

/** One command line to run per read, and a check that its output is the state asked for. */
export interface DirectRead {
  file: string;
  args(i: number): string[];
  env: NodeJS.ProcessEnv;
  /** Throws when the output is not a valid answer. */
  check(stdout: string): void;
}

/** Runs read number `i` once; resolves with its latency in ms (spawn to exit) after checking it. */
export async function directReadOnce(read: DirectRead, i: number): Promise<number> {
  const t0 = performance.now();
  const stdout = await new Promise<string>((resolve, reject) => {
    execFile(
      read.file,
      read.args(i),
      { env: read.env, encoding: 'utf8', maxBuffer: 16 * 1024 * 1024 },
      (error, out, stderr) => {
        if (error !== null)
          reject(new Error(`${read.file} failed: ${stderr.trim() || error.message}`));
        else resolve(out);
      },
    );
  });
  const ms = performance.now() - t0;
  read.check(stdout);
  return ms;
}
