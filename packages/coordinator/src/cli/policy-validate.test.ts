import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { runCli } from './program.js';

function capture() {
  const out: string[] = [];
  const err: string[] = [];
  return {
    io: { stdout: (t: string) => out.push(t), stderr: (t: string) => err.push(t) },
    out,
    err,
  };
}

const dir = mkdtempSync(join(tmpdir(), 'lp-policy-'));
function file(name: string, text: string): string {
  const p = join(dir, name);
  writeFileSync(p, text);
  return p;
}

const GOOD = `version: 1
allowedHosts: [host-a, host-b]
allowedRepositories: [acme/api]
pools:
  build:
    repository: acme/api
    labels: [linux]
    backend: systemd
    lanes: { host-a: 2, host-b: 1 }
`;

describe('launchplane policy validate', () => {
  it('prints ok and a summary, exit 0', async () => {
    const c = capture();
    const status = await runCli(['policy', 'validate', file('good.yaml', GOOD)], c.io);
    expect(status).toBe(0);
    expect(c.out.join('')).toMatch(/^ok: 1 pool, 3 lanes on 2 hosts\n/);
    expect(c.out.join('')).toContain('host-a=2 host-b=1');
    expect(c.err).toEqual([]);
  });

  it('--json prints one JSON document and nothing else on stdout', async () => {
    const c = capture();
    const status = await runCli(['policy', 'validate', '--json', file('good2.yaml', GOOD)], c.io);
    expect(status).toBe(0);
    const doc = JSON.parse(c.out.join(''));
    expect(doc.ok).toBe(true);
    expect(doc.summary.totalLanes).toBe(3);
  });

  it('prints every error with its YAML path and line, exit 1', async () => {
    const bad = GOOD.replace('host-b: 1', 'host-x: 1').replace('[linux]', '[lp-x]');
    const p = file('bad.yaml', bad);
    const c = capture();
    const status = await runCli(['policy', 'validate', p], c.io);
    expect(status).toBe(1);
    const err = c.err.join('');
    expect(err).toContain(
      `pools.build.lanes.host-x: host "host-x" is not in allowedHosts (${p}:9)`,
    );
    expect(err).toContain('pools.build.labels[0]');
    expect(err).toContain('error LP_POLICY_INVALID: ');
    expect(c.out).toEqual([]);
  });

  it('--json reports errors as data, exit 1', async () => {
    const c = capture();
    const status = await runCli(
      ['policy', 'validate', '--json', file('bad2.yaml', 'version: 1\nallowedHosts: 3\n')],
      c.io,
    );
    expect(status).toBe(1);
    const doc = JSON.parse(c.out.join(''));
    expect(doc).toMatchObject({ ok: false, code: 'LP_POLICY_INVALID' });
    expect(doc.errors[0]).toMatchObject({ path: 'allowedHosts', line: 2 });
  });

  it('a missing file is an error with a code, exit 1; a missing argument is usage, exit 2', async () => {
    const c = capture();
    expect(await runCli(['policy', 'validate', join(dir, 'nope.yaml')], c.io)).toBe(1);
    expect(c.err.join('')).toMatch(
      /^error LP_NOT_FOUND: Cannot read policy file ".*nope.yaml"\nhint: /,
    );
    expect(await runCli(['policy', 'validate'], capture().io)).toBe(2);
    expect(await runCli(['no-such-command'], capture().io)).toBe(2);
  });
});
