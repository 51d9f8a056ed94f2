import { chmod, mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { generateKeyPairSync } from 'node:crypto';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { LaunchplaneError } from '@launchplane/shared';
import { ensureDataDir } from '../config/data-dir.js';
import { ensureHostKey, hostKeyPath, loadHostKey } from './host-key.js';
import { loadCoordinatorKey, writeCoordinatorKey } from './coordinator-key.js';

async function code(p: Promise<unknown>): Promise<string | undefined> {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(LaunchplaneError);
  return (err as LaunchplaneError).code;
}

describe('host key file', () => {
  let dir: string;
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'lp-keys-'));
  });
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('ensureHostKey() creates a 0600 key in private/ once and loads the same key afterwards', async () => {
    const data = join(dir, 'data');
    const made = await ensureHostKey(data, 'host-a');
    expect(made.created).toBe(true);
    expect(hostKeyPath(data)).toBe(join(data, 'private', 'host.key'));
    expect((await stat(hostKeyPath(data))).mode & 0o777).toBe(0o600);
    expect((await stat(join(data, 'private'))).mode & 0o777).toBe(0o700);
    expect((await stat(data)).mode & 0o777).toBe(0o755);
    const again = await ensureHostKey(data, 'host-a');
    expect(again.created).toBe(false);
    expect(again.fingerprint).toBe(made.fingerprint);
    expect((await loadHostKey(data)).fingerprint).toBe(made.fingerprint);
  });

  it('ensureHostKey() never replaces a key of another host or of unknown origin', async () => {
    await ensureHostKey(dir, 'host-a');
    const pem = await readFile(hostKeyPath(dir), 'utf8');
    expect(await code(ensureHostKey(dir, 'host-b'))).toBe('LP_CONFLICT');
    await rm(join(dir, 'private', 'host.json'));
    expect(await code(ensureHostKey(dir, 'host-a'))).toBe('LP_CONFLICT');
    expect(await readFile(hostKeyPath(dir), 'utf8')).toBe(pem);
  });

  it('loadHostKey() refuses a key that group or others can read', async () => {
    await ensureHostKey(dir, 'host-a');
    await chmod(hostKeyPath(dir), 0o644);
    expect(await code(loadHostKey(dir))).toBe('LP_CONFIG_INVALID');
  });

  it('loadHostKey() refuses a missing key and a non-Ed25519 key', async () => {
    expect(await code(loadHostKey(dir))).toBe('LP_NOT_FOUND');
    await ensureDataDir(dir);
    const rsa = generateKeyPairSync('rsa', { modulusLength: 1024 }).privateKey;
    await writeFile(hostKeyPath(dir), rsa.export({ format: 'pem', type: 'pkcs8' }), {
      mode: 0o600,
    });
    expect(await code(loadHostKey(dir))).toBe('LP_CONFIG_INVALID');
  });

  it('loadCoordinatorKey() refuses a pinned key whose fingerprint the config does not name', async () => {
    const pub = generateKeyPairSync('ed25519').publicKey.export({ format: 'jwk' });
    await writeCoordinatorKey(dir, { kty: 'OKP', crv: 'Ed25519', x: String(pub.x) });
    expect(await code(loadCoordinatorKey(dir, `SHA256:${'Z'.repeat(43)}`))).toBe(
      'LP_CONFIG_INVALID',
    );
  });
});
