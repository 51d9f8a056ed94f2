/**
 * Reads a few fields from a command that FAILED verification, only to label its refusal (audit
 * action, result `jti`). Nothing read here is trusted or acted on.
 */
import { isLaneId, jtiSchema } from '@launchplane/shared';

/** A refused command's labels; every field already checked for shape. */
export interface PeekedCommand {
  jti: string | undefined;
  type: string | undefined;
  laneId: string | undefined;
  dryRun: boolean;
}

const TYPE = /^[a-z][a-z0-9.-]{0,31}$/;

/** Best-effort peek into a compact JWS payload; never throws. */
export function peekCommand(jws: unknown): PeekedCommand {
  const none: PeekedCommand = { jti: undefined, type: undefined, laneId: undefined, dryRun: false };
  if (typeof jws !== 'string' || jws.length > 256 * 1024) return none;
  const part = jws.split('.')[1];
  if (part === undefined || !/^[A-Za-z0-9_-]*$/.test(part)) return none;
  let payload: unknown;
  try {
    payload = JSON.parse(Buffer.from(part, 'base64url').toString('utf8'));
  } catch {
    return none;
  }
  if (typeof payload !== 'object' || payload === null) return none;
  const p = payload as { jti?: unknown; cmd?: unknown };
  const cmd = (typeof p.cmd === 'object' && p.cmd !== null ? p.cmd : {}) as {
    type?: unknown;
    laneId?: unknown;
    dryRun?: unknown;
  };
  return {
    jti: jtiOf(p.jti),
    type: typeof cmd.type === 'string' && TYPE.test(cmd.type) ? cmd.type : undefined,
    laneId: typeof cmd.laneId === 'string' && isLaneId(cmd.laneId) ? cmd.laneId : undefined,
    dryRun: cmd.dryRun === true,
  };
}

/**
 * The `jti` to label a refusal with: only one the result schema accepts (the same UUID check), so
 * signing the refusal can never fail on a mangled id.
 */
function jtiOf(value: unknown): string | undefined {
  if (typeof value !== 'string') return undefined;
  const jti = value.toLowerCase();
  return jtiSchema.safeParse(jti).success ? jti : undefined;
}
