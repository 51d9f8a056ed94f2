/**
 * The installers (install/agent.sh, install/coordinator.sh) against a temp root: idempotent,
 * dry-run changes nothing, both units pass `systemd-analyze verify`, and the installed agent
 * unit starts under the test systemd manager, enrolls and connects to a real coordinator. The
 * enrollment token is watched for in every process's command line while the installer runs, and
 * in the logs and audit records after; the coordinator installer makes a self-signed certificate
 * whose pin it prints.
 */
import { execFile, spawn } from 'node:child_process';
import { X509Certificate, createHash } from 'node:crypto';
import { copyFile, readFile, readdir, rm, stat, writeFile, mkdir } from 'node:fs/promises';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { parseAgentConfig } from '@launchplane/shared';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { tlsPinOfCertificate } from '@launchplane/shared';

import { describeWithSystemd, freePort, spawnDaemon, tempDir, waitFor } from '../testbed/index.js';
import type { Daemon, TempDir } from '../testbed/index.js';
import { cliClient } from '../coordinator-control/world-io.js';

const exec = promisify(execFile);
const REPO = new URL('../..', import.meta.url).pathname;
const LAUNCHPLANE = join(REPO, 'packages/coordinator/dist/cli.js');

/** Runs a script and resolves with its exit status and output (never rejects on exit status). */
function runScript(
  argv: string[],
  env: NodeJS.ProcessEnv = {},
  stdin?: string,
): Promise<{ status: number; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const [cmd, ...args] = argv;
    const child = spawn(cmd ?? 'false', args, {
      env: { ...process.env, ...env },
      stdio: [stdin === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'],
    });
    if (stdin !== undefined) child.stdin?.end(stdin);
    let stdout = '';
    let stderr = '';
    child.stdout?.on('data', (b: Buffer) => (stdout += b.toString()));
    child.stderr?.on('data', (b: Buffer) => (stderr += b.toString()));
    child.on('error', reject);
    child.on('close', (code) => resolve({ status: code ?? 1, stdout, stderr }));
  });
}

/**
 * Reads every process's command line (`/proc/<pid>/cmdline`, which any user can read) again and
 * again until stopped; resolves with every distinct one seen.
 */
function watchCommandLines(): { stop(): Promise<string[]> } {
  const seen = new Set<string>();
  let running = true;
  const loop = (async () => {
    while (running) {
      for (const pid of await readdir('/proc').catch(() => [] as string[])) {
        if (!/^\d+$/.test(pid)) continue;
        const text = await readFile(`/proc/${pid}/cmdline`).catch(() => undefined);
        if (text !== undefined && text.length > 0)
          seen.add(text.toString('utf8').split('\0').join(' '));
      }
      await new Promise((r) => setImmediate(r));
    }
  })();
  return {
    async stop() {
      running = false;
      await loop;
      return [...seen];
    },
  };
}

/** An HTTP proxy on 127.0.0.1 that holds each answer for `delayMs` before relaying it. */
async function delayingProxy(
  upstream: string,
  delayMs: number,
): Promise<{ url: string; seen(): number; close(): Promise<void> }> {
  let count = 0;
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      count++;
      void fetch(`${upstream}${req.url ?? '/'}`, {
        method: req.method ?? 'GET',
        headers: { 'content-type': 'application/json' },
        ...(req.method === 'POST' ? { body: Buffer.concat(chunks) } : {}),
      }).then(async (r) => {
        const text = await r.text();
        setTimeout(() => {
          res.writeHead(r.status, { 'content-type': 'application/json' });
          res.end(text);
        }, delayMs);
      });
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    seen: () => count,
    close: () =>
      new Promise<void>((r) => {
        server.closeAllConnections();
        server.close(() => r());
      }),
  };
}

async function listTree(dir: string): Promise<string[]> {
  const out: string[] = [];
  for (const entry of await readdir(dir, { withFileTypes: true, recursive: true })) {
    out.push(join(entry.parentPath, entry.name));
  }
  return out.sort();
}

async function sha256(file: string): Promise<string> {
  return createHash('sha256')
    .update(await readFile(file))
    .digest('hex');
}

describeWithSystemd('installers', (systemd) => {
  let dir: TempDir;
  let coordinator: Daemon;
  let coordUrl: string;
  let adminToken: string;

  /** The `launchplane` command tree in this process (set-up and reads: no node start-up per call). */
  const cli = async (...args: string[]): Promise<string> => {
    const r = await cliClient(coordUrl)(adminToken, ...args);
    if (r.code !== 0) throw new Error(`launchplane ${args.join(' ')}: ${r.stderr}`);
    return r.stdout;
  };
  const systemctl = (...args: string[]) =>
    exec('systemctl', ['--user', ...args], { env: { ...process.env, ...systemd().env } });

  beforeAll(async () => {
    // Under the lane root: PrivateTmp in the units hides /tmp.
    dir = await tempDir({ prefix: 'lp-install-', base: systemd().laneRoot });
    const port = await freePort();
    coordUrl = `http://127.0.0.1:${port}`;
    const coordDir = join(dir.path, 'coordinator');
    await mkdir(coordDir, { recursive: true });
    const config = join(coordDir, 'coordinator.yaml');
    await writeFile(
      config,
      `listen: { host: 127.0.0.1, port: ${port} }\npublicUrl: ${coordUrl}\ndataDir: ${join(coordDir, 'data')}\nlog: { level: warn }\n`,
    );
    coordinator = spawnDaemon([process.execPath, LAUNCHPLANE, 'serve', '--config', config], {
      env: process.env,
      logFile: join(coordDir, 'coordinator.log'),
    });
    await waitFor(async () => (await fetch(`${coordUrl}/v1/health`)).ok, {
      timeoutMs: 30_000,
      intervalMs: 100,
      what: 'the coordinator',
    });
    adminToken = (await readFile(join(coordDir, 'data', 'admin.token'), 'utf8')).trim();
  });

  afterAll(async () => {
    await systemctl('stop', 'launchplane-agent.service').catch(() => undefined);
    await rm(join(systemd().unitDir, 'launchplane-agent.service'), { force: true });
    await systemctl('daemon-reload').catch(() => undefined);
    await coordinator.stop();
    await dir.cleanup();
  });

  it('--dry-run prints every step and changes nothing', async () => {
    const root = join(dir.path, 'dry');
    await mkdir(root);
    const r = await runScript([
      'bash',
      join(REPO, 'install/agent.sh'),
      '--root',
      root,
      '--host-id',
      'host-i',
      '--dry-run',
    ]);
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).toContain('dry run: nothing will change');
    expect(r.stdout).toMatch(/would copy: .* -> .*\/opt\/launchplane/);
    expect(r.stdout).toContain('would write:');
    expect(await listTree(root)).toEqual([]);
  });

  it('refuses bad usage with exit 2 and a coded error; a token on the command line says why', async () => {
    const r = await runScript(['bash', join(REPO, 'install/agent.sh'), '--token', 'lpe_x']);
    expect(r.status).toBe(2);
    expect(r.stderr).toContain(
      'error LP_USAGE: --token puts the enrollment token on the command line, where every user of this host can read it',
    );
    expect(r.stderr).toMatch(/^hint: .*LAUNCHPLANE_ENROLL_TOKEN.*--token-file/m);
    const half = await runScript(
      ['bash', join(REPO, 'install/agent.sh'), '--coordinator', coordUrl, '--host-id', 'host-x'],
      { LAUNCHPLANE_ENROLL_TOKEN: 'lpe_x' },
    );
    expect(half.status).toBe(2);
    expect(half.stderr).toContain('--coordinator needs --host-id and --coordinator-fingerprint');
    const noToken = await runScript(
      [
        'bash',
        join(REPO, 'install/agent.sh'),
        '--coordinator',
        coordUrl,
        '--host-id',
        'host-x',
        '--coordinator-fingerprint',
        `SHA256:${'A'.repeat(43)}`,
      ],
      { LAUNCHPLANE_ENROLL_TOKEN: '' },
    );
    expect(noToken.status).toBe(2);
    expect(noToken.stderr).toContain('error LP_USAGE: An enrollment token is required');
    const u = await runScript(['bash', join(REPO, 'install/coordinator.sh'), '--bogus']);
    expect(u.status).toBe(2);
    const plain = await runScript([
      'bash',
      join(REPO, 'install/coordinator.sh'),
      '--self-signed-cert',
      '--public-url',
      'http://coord.example:7443',
    ]);
    expect(plain.status).toBe(2);
  });

  it('coordinator.sh --self-signed-cert makes a certificate for the public host, serves it, and prints its pin', async () => {
    const root = join(dir.path, 'tls');
    await mkdir(root);
    const args = [
      'bash',
      join(REPO, 'install/coordinator.sh'),
      '--root',
      root,
      '--public-url',
      'https://coord.example:7443',
      '--self-signed-cert',
    ];
    const r = await runScript(args);
    expect(r.status, r.stderr).toBe(0);
    const cert = join(root, 'etc/launchplane/tls/cert.pem');
    const key = join(root, 'etc/launchplane/tls/key.pem');
    expect((await stat(cert)).mode & 0o777).toBe(0o644);
    expect((await stat(key)).mode & 0o777).toBe(0o640);
    const pem = await readFile(cert, 'utf8');
    const x509 = new X509Certificate(pem);
    expect(x509.subjectAltName).toBe('DNS:coord.example');
    // The pin the installer prints is the one the agent computes from the served certificate.
    const pin = tlsPinOfCertificate(pem);
    expect(r.stdout).toContain(`tls pin: ${pin}`);
    const config = await readFile(join(root, 'etc/launchplane/coordinator.yaml'), 'utf8');
    expect(config).toContain(`tls: { cert: ${cert}, key: ${key} }`);
    // Again: the certificate (and so the pin) is kept.
    const again = await runScript(args);
    expect(again.status, again.stderr).toBe(0);
    expect(again.stdout).toContain(`ok: keeping ${cert}`);
    expect(again.stdout).toContain(`tls pin: ${pin}`);
  });

  it('installs both units, which pass systemd-analyze verify', async () => {
    const root = join(dir.path, 'both');
    await mkdir(root);
    for (const argv of [
      ['agent.sh', '--host-id', 'host-v'],
      ['coordinator.sh', '--public-url', 'https://coord.example:7443'],
    ]) {
      const [script = '', ...rest] = argv;
      const r = await runScript(['bash', join(REPO, 'install', script), '--root', root, ...rest]);
      expect(r.status, r.stderr).toBe(0);
    }
    for (const unit of ['launchplane-agent.service', 'launchplane-coordinator.service']) {
      const path = join(root, 'etc/systemd/system', unit);
      const text = await readFile(path, 'utf8');
      expect(text).not.toMatch(/@[A-Z_]+@/);
      const verify = await runScript(['systemd-analyze', 'verify', path]);
      expect(verify.status, verify.stderr).toBe(0);
    }
    expect((await stat(join(root, 'var/lib/launchplane'))).mode & 0o777).toBe(0o755);
    // The config it writes gives each lane a user of its own, and never runs lanes as root.
    const agentYaml = parseAgentConfig(
      await readFile(join(root, 'etc/launchplane/agent.yaml'), 'utf8'),
    );
    expect(agentYaml).toMatchObject({
      ok: true,
      value: {
        runner: { users: { uidRange: '60600-61099' }, allowRoot: false, stopTimeoutSec: 300 },
      },
    });
    expect((await stat(join(root, 'var/lib/launchplane-coordinator'))).mode & 0o777).toBe(0o700);
  });

  it('enrolls, starts the installed agent unit under systemd, and is idempotent', async () => {
    const root = join(dir.path, 'live');
    await mkdir(root);
    const created = JSON.parse(
      await cli('enroll-token', 'create', '--host', 'host-i', '--json'),
    ) as {
      token: string;
      coordinatorFingerprint: string;
    };
    // The token goes in on standard input. While the installer runs, every process's command
    // line is read over and over; the enrollment goes through a proxy that holds its answers a
    // moment, so `launchplane-agent enroll` lives long enough to be seen.
    const secret = created.token.slice(21);
    const proxy = await delayingProxy(coordUrl, 1_500);
    const watch = watchCommandLines();
    const install = await runScript(
      [
        'bash',
        join(REPO, 'install/agent.sh'),
        '--root',
        root,
        '--coordinator',
        proxy.url,
        '--token-file',
        '-',
        '--host-id',
        'host-i',
        '--coordinator-fingerprint',
        created.coordinatorFingerprint,
      ],
      {},
      `${created.token}\n`,
    );
    const seen = await watch.stop();
    await proxy.close();
    expect(install.status, install.stderr).toBe(0);
    expect(install.stdout + install.stderr).not.toContain(secret);
    // The watch saw the enrollment process itself, so it would have seen a token in it.
    expect(
      // The launcher execs node on the agent's CLI.
      seen.some((c) => c.includes('packages/agent/dist/cli.js') && c.includes(' enroll ')),
      `no enroll process among ${seen.length} command lines`,
    ).toBe(true);
    expect(seen.filter((c) => c.includes(secret))).toEqual([]);
    expect(proxy.seen()).toBe(2);
    const keyFile = join(root, 'var/lib/launchplane/private/host.key');
    expect((await stat(keyFile)).mode & 0o777).toBe(0o600);
    expect((await stat(join(root, 'var/lib/launchplane/private'))).mode & 0o777).toBe(0o700);
    const keyHash = await sha256(keyFile);
    const config = await readFile(join(root, 'etc/launchplane/agent.yaml'), 'utf8');
    expect(config).toContain('hostId: host-i');
    expect(config).toContain(created.coordinatorFingerprint);

    // The user manager only reads its own unit dir: hand it the unit the installer wrote.
    await copyFile(
      join(root, 'etc/systemd/system/launchplane-agent.service'),
      join(systemd().unitDir, 'launchplane-agent.service'),
    );
    await systemctl('daemon-reload');
    await systemctl('start', 'launchplane-agent.service');
    const status = async (): Promise<string> => {
      const r = await runScript(
        ['systemctl', '--user', 'status', '--no-pager', '-l', 'launchplane-agent.service'],
        { ...systemd().env },
      );
      return r.stdout + r.stderr;
    };
    await waitFor(
      async () => {
        const { hosts } = JSON.parse(await cli('hosts', '--json')) as {
          hosts: { hostId: string; connected: boolean }[];
        };
        return hosts.find((h) => h.hostId === 'host-i')?.connected === true;
      },
      { timeoutMs: 30_000, intervalMs: 200, what: 'the installed agent to connect' },
    ).catch(async (err: unknown) => {
      throw new Error(`${String(err)}\n${await status()}`);
    });
    const { stdout: active } = await systemctl('is-active', 'launchplane-agent.service');
    expect(active.trim()).toBe('active');
    // Nor in the audit trail, the coordinator's log, the agent's config, log or audit log.
    expect(await cli('audit', '--json')).not.toContain(secret);
    expect(await readFile(join(dir.path, 'coordinator', 'coordinator.log'), 'utf8')).not.toContain(
      secret,
    );
    expect(await status()).not.toContain(secret);
    for (const file of await listTree(join(root, 'var/lib/launchplane'))) {
      if ((await stat(file)).isFile()) {
        expect((await readFile(file)).toString('latin1'), file).not.toContain(secret);
      }
    }

    // Again, without a token: an upgrade keeps the config, the key and the ledger.
    const again = await runScript([
      'bash',
      join(REPO, 'install/agent.sh'),
      '--root',
      root,
      '--host-id',
      'host-i',
    ]);
    expect(again.status, again.stderr).toBe(0);
    expect(again.stdout).toContain('ok: keeping');
    expect(await sha256(keyFile)).toBe(keyHash);
    expect(await readFile(join(root, 'etc/launchplane/agent.yaml'), 'utf8')).toBe(config);

    await systemctl('stop', 'launchplane-agent.service');
  });
});
