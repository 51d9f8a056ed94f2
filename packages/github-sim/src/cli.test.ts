import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const bin = fileURLToPath(new URL('../dist/cli.js', import.meta.url));
const built = existsSync(bin);
if (!built) {
  if (process.env['CI'] === 'true')
    throw new Error(`launchplane-github-sim is not built at "${bin}": run tsc -b`);
  console.log(`skipping CLI test: "${bin}" is not built (run tsc -b)`);
}

describe.skipIf(!built)('launchplane-github-sim CLI', { timeout: 30_000 }, () => {
  it('prints exactly "listening on http://127.0.0.1:P" for --port 0 and serves with --token', async () => {
    const child = spawn(process.execPath, [
      bin,
      '--port',
      '0',
      '--token',
      'ghp_cli_test_token_000',
      '--busy-lag-ms',
      '0',
      '--pickup-delay-ms',
      '750',
    ]);
    try {
      const line = await new Promise<string>((resolve, reject) => {
        let out = '';
        child.stdout.on('data', (d: Buffer) => {
          out += d.toString();
          if (out.includes('\n')) resolve(out);
        });
        child.on('exit', (code) => reject(new Error(`exited with ${code}`)));
      });
      const m = /^listening on (http:\/\/127\.0\.0\.1:(\d+))\n$/.exec(line);
      expect(m).not.toBeNull();
      expect(Number(m?.[2])).toBeGreaterThan(0);
      const res = await fetch(`${m?.[1]}/orgs/acme/actions/runners`, {
        headers: { authorization: 'token ghp_cli_test_token_000' },
      });
      expect(res.status).toBe(200);
      const cfg = (await (await fetch(`${m?.[1]}/_sim/config`)).json()) as Record<string, number>;
      expect(cfg).toMatchObject({ busyLagMs: 0, pickupDelayMs: 750 });
    } finally {
      child.kill('SIGTERM');
    }
    expect(await new Promise((r) => child.on('exit', r))).toBe(0);
  });

  it('refuses an unknown flag with exit status 2', async () => {
    const child = spawn(process.execPath, [bin, '--bogus']);
    expect(await new Promise((r) => child.on('exit', r))).toBe(2);
  });
});
