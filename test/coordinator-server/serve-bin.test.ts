import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const BIN = fileURLToPath(new URL('../../packages/coordinator/dist/cli.js', import.meta.url));

interface Running {
  child: ChildProcess;
  url: string;
  output: () => string;
  exited: Promise<number | null>;
}

/** Spawns `launchplane serve` and waits for its "listening on" line. */
async function serve(config: string): Promise<Running> {
  const child = spawn(process.execPath, [BIN, 'serve', '--config', config], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  child.stdout?.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr?.on('data', (d: Buffer) => (out += d.toString()));
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  const url = await new Promise<string>((resolve, reject) => {
    const t = setInterval(() => {
      const m = /listening on (http\S+)/.exec(out);
      if (m?.[1] !== undefined) {
        clearInterval(t);
        resolve(m[1]);
      }
    }, 20);
    void exited.then((code) => {
      clearInterval(t);
      reject(new Error(`serve exited ${code}: ${out}`));
    });
  });
  return { child, url, output: () => out, exited };
}

/** Runs the CLI to completion. */
function run(args: string[]): Promise<{ status: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [BIN, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('exit', (status) => resolve({ status, stdout, stderr }));
  });
}

let dir: string;
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'lp-serve-'));
});
afterAll(() => {
  rmSync(dir, { recursive: true, force: true });
});

describe('launchplane serve (built binary)', () => {
  it('first start creates the data dir 0700, signing key and admin token 0600; logs never show the token; restart keeps identity', async () => {
    const config = join(dir, 'coordinator.yaml');
    writeFileSync(config, 'listen: { host: 127.0.0.1, port: 0 }\ndataDir: data\n');
    const first = await serve(config);
    const dataDir = join(dir, 'data');
    expect(statSync(dataDir).mode & 0o777).toBe(0o700);
    expect(statSync(join(dataDir, 'signing.key')).mode & 0o777).toBe(0o600);
    expect(statSync(join(dataDir, 'admin.token')).mode & 0o777).toBe(0o600);
    const token = readFileSync(join(dataDir, 'admin.token'), 'utf8').trim();
    expect(token).toMatch(/^lpt_/);
    const health = (await (await fetch(`${first.url}/v1/health`)).json()) as {
      coordinatorId: string;
      coordinatorFingerprint: string;
    };
    const hosts = await run(['hosts', '--json', '--url', first.url, '--token', token]);
    expect(hosts.status).toBe(0);
    expect(JSON.parse(hosts.stdout)).toEqual({ hosts: [] });
    expect(first.output()).toContain(join(dataDir, 'admin.token'));
    // `lpt_<id>_<secret>`: the base64url secret may itself hold `_`, even as its first character.
    const secret = token.split('_').slice(2).join('_');
    expect(secret.length).toBeGreaterThan(20);
    expect(first.output()).not.toContain(secret);
    first.child.kill('SIGTERM');
    expect(await first.exited).toBe(0);

    const second = await serve(config);
    const again = (await (await fetch(`${second.url}/v1/health`)).json()) as typeof health;
    expect(again).toEqual(health);
    expect(readFileSync(join(dataDir, 'admin.token'), 'utf8').trim()).toBe(token);
    expect((await run(['hosts', '--url', second.url, '--token', token])).status).toBe(0);
    second.child.kill('SIGTERM');
    expect(await second.exited).toBe(0);

    // A configured coordinatorId that differs from the stored one is refused.
    writeFileSync(
      config,
      'listen: { host: 127.0.0.1, port: 0 }\ndataDir: data\ncoordinatorId: other\n',
    );
    const refused = await run(['serve', '--config', config]);
    expect(refused.status).toBe(1);
    expect(refused.stderr).toMatch(
      /error LP_CONFIG_INVALID: coordinatorId "other" in the config differs/,
    );
  });

  it('a bad config exits 1 naming the YAML path and line', async () => {
    const config = join(dir, 'bad.yaml');
    writeFileSync(config, 'dataDir: d\nlisten:\n  port: -1\n');
    const r = await run(['serve', '--config', config]);
    expect(r.status).toBe(1);
    expect(r.stderr).toMatch(/^error LP_CONFIG_INVALID: .*listen\.port.*bad\.yaml:3/);
  });
});
