/**
 * The coordinator's public key pinned at enrollment, `<dataDir>/private/coordinator.jwk`. Every command
 * is verified against it; it only changes by enrolling again.
 */
import { readFile } from 'node:fs/promises';
import type { KeyObject } from 'node:crypto';
import {
  LaunchplaneError,
  fingerprint,
  importPublicJwk,
  publicJwkSchema,
} from '@launchplane/shared';
import type { PublicJwk } from '@launchplane/shared';
import { writeFileAtomic } from '../config/config-file.js';
import { locateDataFile } from '../config/data-dir.js';

/**
 * The path of the pinned coordinator key in `dataDir`: in `private/`, or where a host not migrated
 * yet (an older daemon still runs on it) keeps it, so there is only ever one copy.
 */
export function coordinatorKeyPath(dataDir: string): string {
  return locateDataFile(dataDir, 'coordinatorKey');
}

/** Writes the pinned coordinator key (public, mode 0644), replacing the file atomically. */
export async function writeCoordinatorKey(dataDir: string, jwk: PublicJwk): Promise<void> {
  await writeFileAtomic(coordinatorKeyPath(dataDir), `${JSON.stringify(jwk)}\n`, 0o644);
}

/**
 * Loads the pinned coordinator key and checks it against the fingerprint in the config, so a
 * swapped key file is refused rather than trusted.
 */
export async function loadCoordinatorKey(
  dataDir: string,
  expectedFingerprint: string,
): Promise<KeyObject> {
  const path = coordinatorKeyPath(dataDir);
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (cause) {
    throw new LaunchplaneError('LP_NOT_FOUND', `Pinned coordinator key "${path}" cannot be read`, {
      cause,
      recovery: 'Enroll the host with `launchplane-agent enroll`',
    });
  }
  let key: KeyObject;
  try {
    key = importPublicJwk(publicJwkSchema.parse(JSON.parse(text)));
  } catch (cause) {
    throw new LaunchplaneError(
      'LP_CONFIG_INVALID',
      `Pinned coordinator key "${path}" is not an Ed25519 JWK`,
      {
        cause,
        recovery: 'Enroll the host again to pin the coordinator key',
      },
    );
  }
  const actual = fingerprint(key);
  if (actual !== expectedFingerprint) {
    throw new LaunchplaneError(
      'LP_CONFIG_INVALID',
      `Pinned coordinator key "${path}" has fingerprint "${actual}", but the config pins "${expectedFingerprint}"`,
      { recovery: 'Enroll the host again; do not edit coordinator.jwk or the fingerprint by hand' },
    );
  }
  return key;
}
