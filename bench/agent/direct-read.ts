/**
 * The same state read done without the agent: one short-lived process per read (`systemctl
 * --user show …`, `docker -H unix://… inspect …`), one at a time, timed from spawn to exit.
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

function runOnce(read: DirectRead, i: number): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(
      read.file,
      read.args(i),
      { env: read.env, encoding: 'utf8', maxBuffer: 16 * 1024 * 1024 },
      (error, stdout, stderr) => {
        if (error !== null)
          reject(new Error(`${read.file} failed: ${stderr.trim() || error.message}`));
        else resolve(stdout);
      },
    );
  });
}

/** Runs `count` reads sequentially (after `warmup` untimed ones); returns per-read ms and wall ms. */
export async function timeDirectReads(
  read: DirectRead,
  count: number,
  warmup: number,
  around: { before(): void; after(): void },
): Promise<{ samples: number[]; wallMs: number }> {
  for (let i = 0; i < warmup; i++) read.check(await runOnce(read, i));
  const samples: number[] = [];
  around.before();
  const start = performance.now();
  for (let i = 0; i < count; i++) {
    const t0 = performance.now();
    const out = await runOnce(read, i);
    samples.push(performance.now() - t0);
    read.check(out);
  }
  const wallMs = performance.now() - start;
  around.after();
  return { samples, wallMs };
}
