import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli } from '@launchplane/coordinator';
import { FakeAgent } from './fake-agent.js';
import { startHarness, type Harness } from './harness.js';

let dir: string;
let h: Harness;
let certPem: string;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'lp-tls-'));
  execFileSync(
    'openssl',
    [
      'req',
      '-x509',
      '-newkey',
      'ec',
      '-pkeyopt',
      'ec_paramgen_curve:P-256',
      '-nodes',
      '-keyout',
      join(dir, 'key.pem'),
      '-out',
      join(dir, 'cert.pem'),
      '-days',
      '1',
      '-subj',
      '/CN=127.0.0.1',
      '-addext',
      'subjectAltName=IP:127.0.0.1',
    ],
    { stdio: 'ignore' },
  );
  certPem = readFileSync(join(dir, 'cert.pem'), 'utf8');
  h = await startHarness({
    yaml: `tls: { cert: ${join(dir, 'cert.pem')}, key: ${join(dir, 'key.pem')} }\n`,
  });
});
afterAll(async () => {
  await h.close();
  rmSync(dir, { recursive: true, force: true });
});

describe('TLS', () => {
  it('serves the admin API over https and the agent socket over wss', async () => {
    expect(h.baseUrl).toMatch(/^https:\/\/127\.0\.0\.1:\d+$/);
    expect(h.agentUrl).toMatch(/^wss:\/\/127\.0\.0\.1:\d+\/v1\/agent$/);
    const caFile = join(dir, 'ca.pem');
    writeFileSync(caFile, certPem);
    const out: string[] = [];
    const saved = process.env.LAUNCHPLANE_CA;
    process.env.LAUNCHPLANE_CA = caFile;
    try {
      const status = await runCli(
        ['hosts', '--json', '--url', h.baseUrl, '--token', h.adminToken],
        {
          stdout: (t) => void out.push(t),
          stderr: () => undefined,
        },
      );
      expect(status).toBe(0);
      expect(JSON.parse(out.join(''))).toEqual({ hosts: [] });
    } finally {
      if (saved === undefined) delete process.env.LAUNCHPLANE_CA;
      else process.env.LAUNCHPLANE_CA = saved;
    }
    const a = await FakeAgent.open(h.agentUrl, { ca: certPem });
    expect((await a.next('challenge')).coordinatorId).toBe(h.coordinator.coordinatorId);
    a.ws.terminate();
  });

  it('a client that does not trust the certificate is refused', async () => {
    const err: string[] = [];
    const status = await runCli(['hosts', '--url', h.baseUrl, '--token', h.adminToken], {
      stdout: () => undefined,
      stderr: (t) => void err.push(t),
    });
    expect(status).toBe(1);
    expect(err.join('')).toMatch(/^error LP_BACKEND_UNAVAILABLE/);
  });
});
