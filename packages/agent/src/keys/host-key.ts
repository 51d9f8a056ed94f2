/**
 * The host's Ed25519 key file, `<dataDir>/private/host.key` (PKCS#8 PEM, mode 0600), and the small
 * `<dataDir>/private/host.json` that says which host the key was made for (see
 * `config/data-dir.ts`; a host not migrated yet keeps both in `<dataDir>`). The private key never leaves
 * the host; a key is never replaced silently, and is reused only by the host it was made for.
 */
import { chmod, lstat, open, readFile, rm } from 'node:fs/promises';
import type { KeyObject } from 'node:crypto';
import { z } from 'zod';
import {
  LaunchplaneError,
  exportPrivateKeyPem,
  fingerprint,
  generateEd25519KeyPair,
  hostIdSchema,
  importPrivateKeyPem,
  publicKeyOf,
} from '@launchplane/shared';
import { dataPaths, locateDataFile } from '../config/data-dir.js';
import { migrateIfNoDaemon } from '../config/pid-lock.js';

const hostIdFileSchema = z.strictObject({ hostId: hostIdSchema, fingerprint: z.string() });

/** The path of the host key in `dataDir`. */
export function hostKeyPath(dataDir: string): string {
  return locateDataFile(dataDir, 'hostKey');
}

/** A loaded host key. */
export interface HostKey {
  privateKey: KeyObject;
  publicKey: KeyObject;
  fingerprint: string;
  /** True when {@link ensureHostKey} made it now. */
  created: boolean;
}

/**
 * Loads the host key. Refuses a key file that group or others can access (it would no longer be
 * a secret of this host) and anything that is not an Ed25519 PKCS#8 PEM.
 */
export async function loadHostKey(dataDir: string): Promise<HostKey> {
  const path = hostKeyPath(dataDir);
  let mode: number;
  try {
    const st = await lstat(path);
    if (!st.isFile()) {
      throw new LaunchplaneError('LP_CONFIG_INVALID', `Host key "${path}" is not a regular file`, {
        recovery: 'Remove it and re-enroll the host',
      });
    }
    mode = st.mode & 0o777;
  } catch (cause) {
    if (cause instanceof LaunchplaneError) throw cause;
    if ((cause as NodeJS.ErrnoException).code === 'ENOENT') {
      throw new LaunchplaneError('LP_NOT_FOUND', `Host key "${path}" does not exist`, {
        recovery: 'Enroll the host with `launchplane-agent enroll`',
      });
    }
    throw new LaunchplaneError('LP_CONFIG_INVALID', `Cannot read host key "${path}"`, { cause });
  }
  if ((mode & 0o077) !== 0) {
    throw new LaunchplaneError(
      'LP_CONFIG_INVALID',
      `Host key "${path}" has mode ${mode.toString(8).padStart(4, '0')}: group or others can access it`,
      {
        recovery: `Run \`chmod 600 ${path}\`; if others may have read it, re-enroll with a new key`,
      },
    );
  }
  const privateKey = importPrivateKeyPem(await readFile(path, 'utf8'));
  const publicKey = publicKeyOf(privateKey);
  return { privateKey, publicKey, fingerprint: fingerprint(publicKey), created: false };
}

async function exists(path: string): Promise<boolean> {
  try {
    await lstat(path);
    return true;
  } catch (cause) {
    if ((cause as NodeJS.ErrnoException).code === 'ENOENT') return false;
    throw cause;
  }
}

/** The hostId recorded beside the key, or undefined when there is no (valid) record. */
async function recordedHostId(dataDir: string): Promise<string | undefined> {
  try {
    const parsed = hostIdFileSchema.safeParse(
      JSON.parse(await readFile(locateDataFile(dataDir, 'hostId'), 'utf8')),
    );
    return parsed.success ? parsed.data.hostId : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Returns the host key for `hostId`, generating it when `dataDir` has none. An existing key is
 * reused only when it was made for `hostId` (re-enrollment); otherwise `LP_CONFLICT`. The data
 * directory gets its layout first (a legacy one is migrated unless a daemon runs on it), and the
 * key file is created with mode 0600, never overwriting.
 */
export async function ensureHostKey(dataDir: string, hostId: string): Promise<HostKey> {
  await migrateIfNoDaemon(dataDir);
  const path = hostKeyPath(dataDir);
  if (await exists(path)) {
    const owner = await recordedHostId(dataDir);
    if (owner !== hostId) {
      throw new LaunchplaneError(
        'LP_CONFLICT',
        owner === undefined
          ? `Host key "${path}" exists but does not say which host it belongs to`
          : `Host key "${path}" belongs to host "${owner}", not "${hostId}"`,
        {
          recovery:
            'Enroll with the same --host-id, or move the old key away if this host must get a new identity',
        },
      );
    }
    return loadHostKey(dataDir);
  }
  const { privateKey, publicKey } = generateEd25519KeyPair();
  const fp = fingerprint(publicKey);
  // 'wx' fails if another process created the key meanwhile: never overwrite a key.
  const handle = await open(path, 'wx', 0o600);
  try {
    await handle.chmod(0o600);
    await handle.writeFile(exportPrivateKeyPem(privateKey), 'utf8');
    await handle.sync();
  } catch (cause) {
    await handle.close();
    await rm(path, { force: true });
    throw new LaunchplaneError('LP_INTERNAL', `Cannot write host key "${path}"`, { cause });
  }
  await handle.close();
  const idPath = dataPaths(dataDir).hostId;
  const idHandle = await open(idPath, 'w', 0o644);
  try {
    await idHandle.writeFile(`${JSON.stringify({ hostId, fingerprint: fp })}\n`, 'utf8');
    await idHandle.sync();
  } finally {
    await idHandle.close();
  }
  await chmod(idPath, 0o644);
  return { privateKey, publicKey, fingerprint: fp, created: true };
}
