/**
 * `launchplane-agent doctor` and `run` reach the real backends through the built binary: a private
 * systemd user manager and a private dockerd from the testbed. Skipped with a printed reason when
 * a part is missing (failed under CI=true).
 */
import { spawn } from 'node:child_process';
import { generateKeyPairSync } from 'node:crypto';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, beforeEach, expect, it } from 'vitest';
import { exportPublicJwk, fingerprint } from '@launchplane/shared';
import { ensureHostKey, readStatusFile } from '@launchplane/agent';
import { describeWithDocker, describeWithSystemd } from '../testbed/require.js';
import { TEST_LANE_UID_RANGE } from '../testbed/lane-users.js';
import { tempDir } from '../testbed/temp-dir.js';
import type { TempDir } from '../testbed/temp-dir.js';

const BIN = fileURLToPath(new URL('../../packages/agent/dist/cli.js', import.meta.url));

interface Check {
  name: string;
  status: string;
  detail: string;
}

function runBin(
  args: string[],
  env: Record<string, string>,
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [BIN, ...args], { env: { ...process.env, ...env } });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
    child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

/** An enrolled host (coordinator unreachable on purpose) with the given backend section. */
async function host(dir: string, backendYaml: string): Promise<string> {
  const dataDir = join(dir, 'data');
  const template = join(dir, 'runner');
  await mkdir(template, { recursive: true });
  await ensureHostKey(dataDir, 'host-a');
  const coordinator = generateKeyPairSync('ed25519').publicKey;
  await writeFile(
    join(dataDir, 'private', 'coordinator.jwk'),
    JSON.stringify(exportPublicJwk(coordinator)),
  );
  const configPath = join(dir, 'agent.yaml');
  await writeFile(
    configPath,
    [
      'hostId: host-a',
      `dataDir: ${dataDir}`,
      'coordinator:',
      '  url: ws://127.0.0.1:9/v1/agent',
      `  fingerprint: "${fingerprint(coordinator)}"`,
      '  coordinatorId: coord-1',
      `runner: { template: ${template}, users: { uidRange: "${TEST_LANE_UID_RANGE}" } }`,
      backendYaml,
      '',
    ].join('\n'),
  );
  return configPath;
}

async function runUntilBackendKnown(
  configPath: string,
  dataDir: string,
  env: Record<string, string>,
): Promise<Awaited<ReturnType<typeof readStatusFile>>> {
  const daemon = spawn(process.execPath, [BIN, '--config', configPath, 'run'], {
    env: { ...process.env, ...env },
    stdio: 'ignore',
  });
  const exited = new Promise<number | null>((r) => daemon.on('close', (code) => r(code)));
  try {
    for (;;) {
      const status = await readStatusFile(dataDir);
      if (status !== undefined) return status;
      await new Promise((r) => setTimeout(r, 50));
    }
  } finally {
    daemon.kill('SIGTERM');
    expect(await exited).toBe(0);
  }
}

let dir: TempDir;
beforeEach(async () => {
  // Lane users must be able to reach lane dirs in here, or the agent refuses to start.
  dir = await tempDir({ prefix: 'lp-agent-backends-', laneUsers: true });
});
afterEach(async () => {
  await dir.cleanup();
});

describeWithSystemd('launchplane-agent with a real systemd user manager', (systemd) => {
  it('doctor reaches systemd, and run reports it available', async () => {
    const env = { ...systemd().env };
    const configPath = await host(
      dir.path,
      `systemd: { bus: user, unitDir: ${systemd().unitDir} }\noptIn: { repositories: [acme/api], backends: [systemd], maxLanes: 1 }`,
    );
    const r = await runBin(['--config', configPath, 'doctor', '--json'], env);
    const checks = (JSON.parse(r.stdout) as { checks: Check[] }).checks;
    expect(checks.find((c) => c.name === 'systemd')).toMatchObject({ status: 'ok' });
    expect(checks.find((c) => c.name === 'docker')).toMatchObject({ status: 'skip' });
    // Nothing listens at the coordinator URL: doctor must say so and exit 1.
    expect(checks.find((c) => c.name === 'coordinator')).toMatchObject({ status: 'fail' });
    expect(r.code).toBe(1);

    const status = await runUntilBackendKnown(configPath, join(dir.path, 'data'), env);
    expect(status?.backends.systemd).toEqual({ optedIn: true, available: true });
  });
});

describeWithDocker('launchplane-agent with a real dockerd', (docker) => {
  it('doctor reaches Docker, and run reports it available; a dead socket is reported, not fatal', async () => {
    const configPath = await host(
      dir.path,
      `docker: { socketPath: ${docker().socketPath} }\noptIn: { repositories: [acme/api], backends: [docker], maxLanes: 1 }`,
    );
    const r = await runBin(['--config', configPath, 'doctor', '--json'], {});
    const checks = (JSON.parse(r.stdout) as { checks: Check[] }).checks;
    expect(checks.find((c) => c.name === 'docker')).toMatchObject({ status: 'ok' });
    const status = await runUntilBackendKnown(configPath, join(dir.path, 'data'), {});
    expect(status?.backends.docker).toEqual({ optedIn: true, available: true });

    const deadDir = join(dir.path, 'dead');
    await mkdir(deadDir);
    const deadConfig = await host(
      deadDir,
      `docker: { socketPath: ${join(deadDir, 'no.sock')} }\noptIn: { repositories: [acme/api], backends: [docker], maxLanes: 1 }`,
    );
    const dead = await runUntilBackendKnown(deadConfig, join(deadDir, 'data'), {});
    expect(dead?.backends.docker.available).toBe(false);
    expect(dead?.backends.docker.error).toBeDefined();
  });
});
