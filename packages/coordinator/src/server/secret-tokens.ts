/**
 * Bearer secrets with a public id: `lpt_<id>_<secret>` (operator tokens) and `lpe_<id>_<secret>`
 * (enrollment tokens). Only SHA-256 of the secret part is stored; comparison is constant-time.
 */
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';

export type TokenKind = 'operator' | 'enrollment';

const PREFIX: Record<TokenKind, string> = { operator: 'lpt', enrollment: 'lpe' };
const ID_BYTES = 8;
const SECRET_BYTES = 32;

/** A freshly minted token: `value` is shown once and never stored. */
export interface MintedToken {
  id: string;
  value: string;
  hash: string;
}

/** Hex SHA-256 of a secret. */
export function hashSecret(secret: string): string {
  return createHash('sha256').update(secret, 'utf8').digest('hex');
}

/** Mints a new token of `kind`. */
export function mintToken(kind: TokenKind): MintedToken {
  const id = randomBytes(ID_BYTES).toString('hex');
  const secret = randomBytes(SECRET_BYTES).toString('base64url');
  return { id, value: `${PREFIX[kind]}_${id}_${secret}`, hash: hashSecret(secret) };
}

/** Splits a presented token into id and secret; undefined when it is not of `kind`'s form. */
export function parseToken(
  kind: TokenKind,
  value: string,
): { id: string; secret: string } | undefined {
  const m = new RegExp(`^${PREFIX[kind]}_([0-9a-f]{16})_([A-Za-z0-9_-]{43})$`).exec(value);
  if (m === null) return undefined;
  return { id: m[1] ?? '', secret: m[2] ?? '' };
}

/** Constant-time check of a presented secret against a stored hex hash. */
export function secretMatches(secret: string, storedHash: string): boolean {
  const presented = Buffer.from(hashSecret(secret), 'hex');
  const stored = Buffer.from(storedHash, 'hex');
  return stored.length === presented.length && timingSafeEqual(presented, stored);
}
