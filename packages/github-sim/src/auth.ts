import { type KeyObject, createPublicKey, verify } from 'node:crypto';
import { SimError } from './errors.js';

/** A GitHub App the sim trusts: its id and the public half of its private key. */
export interface SimApp {
  appId: string;
  publicKey: KeyObject;
  /** Installations that may mint tokens; `null` accepts any installation id. */
  installationIds: ReadonlySet<number> | null;
}

/** How a request authenticated. */
export type Principal = { kind: 'token'; token: string } | { kind: 'app'; appId: string };

const AUTH_DOCS = 'https://docs.github.com/rest';

/** Extracts the credential from `Authorization: token X` / `Bearer X`, or `null`. */
export function credentialOf(header: string | undefined): string | null {
  if (header === undefined) return null;
  const m = /^(?:token|bearer)\s+(\S+)\s*$/i.exec(header);
  return m?.[1] ?? null;
}

/** Builds a {@link SimApp} from a PEM (public key, or a private key whose public half is taken). */
export function appFromPem(
  appId: string | number,
  pem: string,
  installationIds?: readonly number[],
): SimApp {
  return {
    appId: String(appId),
    publicKey: createPublicKey(pem),
    installationIds: installationIds === undefined ? null : new Set(installationIds),
  };
}

function decodeJson(part: string): Record<string, unknown> | null {
  try {
    const v: unknown = JSON.parse(Buffer.from(part, 'base64url').toString('utf8'));
    return typeof v === 'object' && v !== null ? (v as Record<string, unknown>) : null;
  } catch {
    return null;
  }
}

function bad(message: string): SimError {
  return new SimError('SIM_UNAUTHENTICATED', message, { documentationUrl: AUTH_DOCS });
}

/**
 * Verifies a GitHub App JWT the way GitHub does: RS256, `iss` = a known app id, `iat` not in the
 * future (60 s skew), `exp` in the future and at most 10 minutes after `iat`.
 */
export function verifyAppJwt(jwt: string, apps: readonly SimApp[], nowMs: number): SimApp {
  const parts = jwt.split('.');
  if (parts.length !== 3) throw bad('A JSON web token could not be decoded');
  const [h = '', p = '', s = ''] = parts;
  const header = decodeJson(h);
  const payload = decodeJson(p);
  if (header === null || payload === null) throw bad('A JSON web token could not be decoded');
  if (header['alg'] !== 'RS256') throw bad('A JSON web token could not be decoded');
  const app = apps.find((a) => a.appId === String(payload['iss']));
  if (app === undefined) throw bad(`Integration not found`);
  const ok = verify(
    'RSA-SHA256',
    Buffer.from(`${h}.${p}`),
    app.publicKey,
    Buffer.from(s, 'base64url'),
  );
  if (!ok) throw bad('A JSON web token could not be decoded');
  const now = Math.floor(nowMs / 1000);
  const { iat, exp } = payload;
  if (typeof iat !== 'number' || !Number.isInteger(iat) || iat > now + 60) {
    throw bad(
      "'Issued at' claim ('iat') must be an Integer representing the time that the assertion was issued",
    );
  }
  if (typeof exp !== 'number' || !Number.isInteger(exp) || exp <= now) {
    throw bad(
      "'Expiration time' claim ('exp') must be a numeric value representing the future time at which the assertion expires",
    );
  }
  if (exp - iat > 600) throw bad("'Expiration time' claim ('exp') is too far in the future");
  return app;
}
