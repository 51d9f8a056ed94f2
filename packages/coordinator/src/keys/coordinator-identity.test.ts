import { chmodSync, mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { LaunchplaneError } from '@launchplane/shared';
import { loadOrCreateIdentity } from './coordinator-identity.js';
import { ensurePrivateDir, readSecretFile, writeSecretFile } from './data-dir.js';

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});
function temp(): string {
  const d = mkdtempSync(join(tmpdir(), 'lp-keys-'));
  dirs.push(d);
  return d;
}

describe('coordinator identity', () => {
  it('is created once with mode 0600 and loaded unchanged afterwards', async () => {
    const dir = join(temp(), 'data');
    await ensurePrivateDir(dir);
    expect(statSync(dir).mode & 0o777).toBe(0o700);
    const first = await loadOrCreateIdentity(dir);
    expect(first.created).toBe(true);
    expect(statSync(join(dir, 'signing.key')).mode & 0o777).toBe(0o600);
    expect(first.identity.fingerprint).toMatch(/^SHA256:[A-Za-z0-9+/]{43}$/);
    const second = await loadOrCreateIdentity(dir);
    expect(second.created).toBe(false);
    expect(second.identity.fingerprint).toBe(first.identity.fingerprint);
    expect(second.identity.publicJwk).toEqual(first.identity.publicJwk);
  });

  it('refuses a key file others can read', async () => {
    const dir = temp();
    await loadOrCreateIdentity(dir);
    chmodSync(join(dir, 'signing.key'), 0o644);
    await expect(loadOrCreateIdentity(dir)).rejects.toMatchObject({ code: 'LP_CONFIG_INVALID' });
  });

  it('writeSecretFile never overwrites', async () => {
    const p = join(temp(), 's');
    await writeSecretFile(p, 'a');
    const err = await writeSecretFile(p, 'b').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(LaunchplaneError);
    expect((err as LaunchplaneError).code).toBe('LP_CONFLICT');
    expect(await readSecretFile(p)).toBe('a');
  });
});
