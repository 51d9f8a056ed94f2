import { randomBytes } from 'node:crypto';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  startFakeEnrollCoordinator,
  type FakeEnrollCoordinator,
} from '../enroll/fake-enroll-coordinator.test-helper.js';
import { captureIo } from './enrolled-host.test-helper.js';
import { runCli } from './program.js';

const TOKEN_ID = 'fedcba9876543210';
const SECRET = randomBytes(32).toString('base64url');
const TOKEN = `lpe_${TOKEN_ID}_${SECRET}`;

describe('launchplane-agent enroll: where the token comes from', () => {
  let dir: string;
  let fake: FakeEnrollCoordinator;

  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'lp-enroll-cli-'));
    fake = await startFakeEnrollCoordinator();
    fake.tokens.set(TOKEN_ID, SECRET);
  });
  afterEach(async () => {
    await fake.close();
    await rm(dir, { recursive: true, force: true });
  });

  async function enrollCli(
    extra: string[],
    opts: { env?: Record<string, string>; stdin?: string; pin?: boolean } = {},
  ): Promise<{ code: number; out: string; err: string }> {
    const io = captureIo();
    const code = await runCli(
      [
        '--config',
        join(dir, 'agent.yaml'),
        'enroll',
        '--coordinator',
        fake.url,
        '--host-id',
        'host-a',
        ...(opts.pin === false ? [] : ['--coordinator-fingerprint', fake.fingerprint]),
        '--data-dir',
        join(dir, 'data'),
        ...extra,
      ],
      io,
      {
        env: opts.env ?? {},
        stdin: Readable.from(opts.stdin === undefined ? [] : [Buffer.from(opts.stdin)]),
      },
    );
    return { code, out: io.out(), err: io.err() };
  }

  it('a token on the command line is refused with LP_USAGE, saying why, and not echoed', async () => {
    const r = await enrollCli(['--token', TOKEN]);
    expect(r.code).toBe(2);
    expect(r.err).toMatch(
      /^error LP_USAGE: --token puts the enrollment token on the command line/m,
    );
    expect(r.err).toContain('/proc/<pid>/cmdline');
    expect(r.err).toMatch(/^hint: .*LAUNCHPLANE_ENROLL_TOKEN.*--token-file/m);
    expect(r.err + r.out).not.toContain(SECRET);
    // Nothing was contacted.
    expect(fake.received).toEqual([]);
    const eq = await enrollCli([`--token=${TOKEN}`]);
    expect(eq.code).toBe(2);
    expect(eq.err + eq.out).not.toContain(SECRET);
  });

  it('reads it from LAUNCHPLANE_ENROLL_TOKEN', async () => {
    const r = await enrollCli([], { env: { LAUNCHPLANE_ENROLL_TOKEN: TOKEN } });
    expect(r.err).toBe('');
    expect(r.code).toBe(0);
    expect(r.out).toContain('(authenticated, pinned)');
    expect(r.out).not.toContain(SECRET);
  });

  it('reads it from a file, trimming the line break', async () => {
    await writeFile(join(dir, 'token'), `${TOKEN}\n`, { mode: 0o600 });
    const r = await enrollCli(['--token-file', join(dir, 'token'), '--json']);
    expect(r.code).toBe(0);
    expect(JSON.parse(r.out)).toMatchObject({ ok: true, hostId: 'host-a' });
    expect(r.out).not.toContain(SECRET);
  });

  it('reads it from standard input with --token-file -', async () => {
    const r = await enrollCli(['--token-file', '-'], { stdin: `${TOKEN}\nignored\n` });
    expect(r.code).toBe(0);
    expect(await readFile(join(dir, 'agent.yaml'), 'utf8')).toContain(fake.fingerprint);
  });

  it('no token, an unreadable file and a missing fingerprint are usage errors', async () => {
    const none = await enrollCli([]);
    expect(none.code).toBe(2);
    expect(none.err).toContain('LAUNCHPLANE_ENROLL_TOKEN');
    const missing = await enrollCli(['--token-file', join(dir, 'absent')]);
    expect(missing.code).toBe(2);
    expect(missing.err).toMatch(/^error LP_USAGE: Cannot read token file/m);
    const unpinned = await enrollCli([], { env: { LAUNCHPLANE_ENROLL_TOKEN: TOKEN }, pin: false });
    expect(unpinned.code).toBe(2);
    expect(unpinned.err).toContain('--coordinator-fingerprint');
    expect(fake.received).toEqual([]);
  });

  it('--insecure warns on stderr', async () => {
    const r = await enrollCli(['--insecure'], { env: { LAUNCHPLANE_ENROLL_TOKEN: TOKEN } });
    expect(r.code).toBe(0);
    expect(r.err).toMatch(/^warning: --insecure/m);
  });
});
