/**
 * Limits on what one source address may hold or cost before it has authenticated: agent
 * WebSockets mid-handshake, HTTP requests not yet authenticated, open enrollment challenges, and
 * refusals per minute. Past its refusal budget a source gets `LP_RATE_LIMITED` (HTTP 429) for
 * anything unauthenticated until its minute is over, without the coordinator doing the work.
 * Every refusal is counted in the audit trail through {@link AuditTally}, one record per source
 * and minute.
 *
 * A source is an IPv4 address, or the /64 block of an IPv6 address (one host commonly holds a
 * whole /64). Sources on the `exempt` list (addresses or CIDR blocks, e.g. a NAT gateway in front
 * of many agents) are counted but not limited. The coordinator sees the TCP peer only: behind a
 * proxy, every client is the proxy.
 */
import { createRequire } from 'node:module';
import type * as IpAddr from 'ipaddr.js';
import { RateLimiterMemory } from 'rate-limiter-flexible';
import { LaunchplaneError, type ErrorCode } from '@launchplane/shared';
import type { AuditTally } from './audit-tally.js';

// ipaddr.js is CommonJS with `module.exports =`, which ESM cannot import by name.
const ipaddr = createRequire(import.meta.url)('ipaddr.js') as typeof IpAddr;
type Address = IpAddr.IPv4 | IpAddr.IPv6;

/** Per-source limits (coordinator.yaml `limits`). */
export interface PreAuthLimits {
  /** Agent WebSockets before a verified hello. */
  pendingHandshakes: number;
  /** HTTP requests in flight that have not authenticated. */
  pendingRequests: number;
  /** Enrollment challenges issued and neither answered nor expired. */
  pendingChallenges: number;
  /** Refused unauthenticated requests and hellos per minute before the source gets 429. */
  refusalsPerMinute: number;
  /** Addresses or CIDR blocks that are counted but never limited. */
  exempt: readonly string[];
}

/** The defaults documented in docs/coordinator-config.md. */
export const DEFAULT_PRE_AUTH_LIMITS: PreAuthLimits = {
  pendingHandshakes: 128,
  pendingRequests: 32,
  pendingChallenges: 32,
  refusalsPerMinute: 60,
  exempt: [],
};

/** The audit action of every pre-authentication refusal the coordinator counts. */
export const REFUSED_ACTION = 'auth.refused';

/** Where a request or a socket comes from. */
export interface Source {
  /** The address, or `<prefix>::/64` for IPv6; `unknown` when the peer address is gone. */
  key: string;
  exempt: boolean;
}

export type PendingKind = 'handshake' | 'request' | 'challenge';

/** Parses the exempt list; throws LP_CONFIG_INVALID naming the first bad entry. */
export function parseExemptList(entries: readonly string[]): [Address, number][] {
  return entries.map((entry) => {
    try {
      if (entry.includes('/')) return ipaddr.parseCIDR(entry);
      const addr = ipaddr.process(entry);
      return [addr, addr.kind() === 'ipv4' ? 32 : 128];
    } catch (cause) {
      throw new LaunchplaneError(
        'LP_CONFIG_INVALID',
        `limits.exempt entry "${entry}" is not an address or CIDR block`,
        { cause },
      );
    }
  });
}

/** The source key of a peer address: IPv4 as is (also when IPv4-mapped), IPv6 as its /64. */
export function sourceKeyOf(address: string | undefined): string {
  if (address === undefined || !ipaddr.isValid(address.replace(/%.*$/, ''))) return 'unknown';
  const addr = ipaddr.process(address.replace(/%.*$/, ''));
  if (addr.kind() === 'ipv4') return addr.toString();
  const parts = (addr as IpAddr.IPv6).parts.slice(0, 4);
  return `${new ipaddr.IPv6([...parts, 0, 0, 0, 0]).toString()}/64`;
}

/** Options of {@link PreAuthGuard}. */
export interface PreAuthGuardOptions {
  limits: PreAuthLimits;
  tally: AuditTally;
}

/** Per-source accounting for everything that happens before authentication. */
export class PreAuthGuard {
  readonly limits: PreAuthLimits;
  readonly tally: AuditTally;
  readonly #exempt: [Address, number][];
  readonly #pending: Record<PendingKind, Map<string, number>> = {
    handshake: new Map(),
    request: new Map(),
    challenge: new Map(),
  };
  readonly #refusals: RateLimiterMemory;

  constructor(opts: PreAuthGuardOptions) {
    this.limits = opts.limits;
    this.tally = opts.tally;
    this.#exempt = parseExemptList(opts.limits.exempt);
    this.#refusals = new RateLimiterMemory({ points: opts.limits.refusalsPerMinute, duration: 60 });
  }

  /** Identifies a peer address. */
  source(address: string | undefined): Source {
    const key = sourceKeyOf(address);
    let exempt = false;
    if (address !== undefined && key !== 'unknown') {
      const addr = ipaddr.process(address.replace(/%.*$/, ''));
      exempt = this.#exempt.some(
        ([range, bits]) => range.kind() === addr.kind() && addr.match(range, bits),
      );
    }
    return { key, exempt };
  }

  /** Takes one of the source's slots of `kind`; false when it holds its limit already. */
  tryAcquire(kind: PendingKind, source: Source): boolean {
    const map = this.#pending[kind];
    const held = map.get(source.key) ?? 0;
    if (!source.exempt && held >= this.#limitOf(kind)) return false;
    map.set(source.key, held + 1);
    return true;
  }

  /** Gives back a slot taken with {@link tryAcquire}. */
  release(kind: PendingKind, source: Source): void {
    const map = this.#pending[kind];
    const held = map.get(source.key) ?? 0;
    if (held <= 1) map.delete(source.key);
    else map.set(source.key, held - 1);
  }

  /** Slots of `kind` the source holds (tests, status). */
  held(kind: PendingKind, source: Source): number {
    return this.#pending[kind].get(source.key) ?? 0;
  }

  /** True when the source has used its refusals for this minute. */
  async isBlocked(source: Source): Promise<boolean> {
    if (source.exempt) return false;
    const res = await this.#refusals.get(source.key);
    return res !== null && res.consumedPoints >= this.limits.refusalsPerMinute;
  }

  /**
   * Counts a refusal: into the audit tally (under `action`, `auth.refused` by default), and
   * (unless it is itself a rate-limit answer) against the source's budget for the minute.
   */
  refused(source: Source, kind: string, code: ErrorCode, action = REFUSED_ACTION): void {
    this.tally.record({ action, source: source.key, code, kind });
    if (code === 'LP_RATE_LIMITED' || source.exempt) return;
    this.#refusals.consume(source.key).catch(() => undefined);
  }

  /** The error a blocked or saturated source gets. */
  static limited(what: string): LaunchplaneError {
    return new LaunchplaneError('LP_RATE_LIMITED', `Too many ${what} from this address`, {
      recovery: "Wait a minute and try again; an operator can raise the coordinator's limits",
      details: { retryAfterSec: 60 },
    });
  }

  #limitOf(kind: PendingKind): number {
    switch (kind) {
      case 'handshake':
        return this.limits.pendingHandshakes;
      case 'request':
        return this.limits.pendingRequests;
      case 'challenge':
        return this.limits.pendingChallenges;
    }
  }
}
