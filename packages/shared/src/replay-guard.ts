/**
 * Replay protection for signed commands
 * (docs/design/protocol.md "Lifetime, skew and replay"): a seen `jti` is never
 * executed twice (its stored result is returned instead) and `seq` must grow.
 *
 * The decision is a pure function of the store's state. Recording is deliberately not part of
 * verification: the agent writes `jti`, `seq` and the lane change in one SQLite transaction,
 * so it calls {@link ReplayStore.remember} itself, inside that transaction.
 */
import { LaunchplaneError } from './errors.js';

/** What is remembered about an accepted command. */
export interface ReplayRecord<R = unknown> {
  jti: string;
  seq: number;
  /**
   * Unix second from which the command is rejected as expired anyway (`exp + skewSec`), so
   * the record may be forgotten ({@link ReplayStore.prune}).
   */
  forgetAfter: number;
  /** The result sent for it; undefined while none is stored. */
  result: R | undefined;
}

/**
 * Port: where accepted `jti`s and the last accepted `seq` live. The agent implements it over
 * SQLite; {@link InMemoryReplayStore} is the reference implementation for tests.
 */
export interface ReplayStore<R = unknown> {
  /** The record of a `jti` accepted before, if it is still remembered. */
  get(jti: string): ReplayRecord<R> | undefined;
  /** Highest `seq` ever accepted; pruning never lowers it. Undefined before the first. */
  lastSeq(): number | undefined;
  /**
   * Records an accepted command (and raises `lastSeq`). Must refuse a `jti` it already holds
   * (LP_REPLAYED) and a `seq` not above `lastSeq()` (LP_SEQ_REGRESSION).
   */
  remember(record: ReplayRecord<R>): void;
  /** Attaches the result to a remembered `jti` (no-op when it has been pruned). */
  setResult(jti: string, result: R): void;
  /** Forgets records whose `forgetAfter` ≤ `now`; returns how many were dropped. */
  prune(now: number): number;
}

/** The store's view of one incoming command. */
export interface ReplayState<R = unknown> {
  seen: ReplayRecord<R> | undefined;
  lastSeq: number | undefined;
}

/** The identifying fields of an incoming command. */
export interface ReplayCandidate {
  jti: string;
  seq: number;
  exp: number;
}

/** Options of {@link checkReplay}. */
export interface CheckReplayOptions {
  /** Clock skew allowed, in seconds; how long past `exp` a `jti` is remembered. Default 30. */
  skewSec?: number;
}

/** What to do with an incoming command. */
export type ReplayDecision<R = unknown> =
  | { kind: 'fresh'; record: Omit<ReplayRecord<R>, 'result'> }
  | { kind: 'replayed'; jti: string; result: R | undefined }
  | { kind: 'seq-regression'; seq: number; lastSeq: number };

/**
 * Decides whether a command is fresh, a replay of a seen `jti`, or out of sequence. The `jti`
 * check comes first so that a redelivered command gets its stored result, not a seq error.
 */
export function checkReplay<R>(
  state: ReplayState<R>,
  candidate: ReplayCandidate,
  options: CheckReplayOptions = {},
): ReplayDecision<R> {
  const { jti, seq, exp } = candidate;
  if (state.seen !== undefined) return { kind: 'replayed', jti, result: state.seen.result };
  if (state.lastSeq !== undefined && seq <= state.lastSeq) {
    return { kind: 'seq-regression', seq, lastSeq: state.lastSeq };
  }
  return { kind: 'fresh', record: { jti, seq, forgetAfter: exp + (options.skewSec ?? 30) } };
}

/** Reads the state {@link checkReplay} needs for one `jti`. */
export function readReplayState<R>(
  store: Pick<ReplayStore<R>, 'get' | 'lastSeq'>,
  jti: string,
): ReplayState<R> {
  return { seen: store.get(jti), lastSeq: store.lastSeq() };
}

/**
 * The error for a refused decision. LP_REPLAYED carries `details.jti` and `details.result` (the
 * stored result, or undefined), so the caller can answer with it instead of executing again.
 */
export function replayError<R>(
  decision: Exclude<ReplayDecision<R>, { kind: 'fresh' }>,
): LaunchplaneError {
  switch (decision.kind) {
    case 'replayed':
      return new LaunchplaneError(
        'LP_REPLAYED',
        `Command "${decision.jti}" was already accepted; it is not executed again`,
        { details: { jti: decision.jti, result: decision.result } },
      );
    case 'seq-regression':
      return new LaunchplaneError(
        'LP_SEQ_REGRESSION',
        `Command seq ${decision.seq} is not above the last accepted seq ${decision.lastSeq}`,
        {
          details: { seq: decision.seq, lastSeq: decision.lastSeq },
          recovery: 'The coordinator must send commands with increasing seq; reconnect it',
        },
      );
  }
}

/** The stored result carried by an LP_REPLAYED error, if any. */
export function replayedResult(error: LaunchplaneError): unknown {
  return error.code === 'LP_REPLAYED' ? error.details.result : undefined;
}

/** A {@link ReplayStore} in memory: for tests and for processes that keep nothing on disk. */
export class InMemoryReplayStore<R = unknown> implements ReplayStore<R> {
  readonly #records = new Map<string, ReplayRecord<R>>();
  #lastSeq: number | undefined;

  get(jti: string): ReplayRecord<R> | undefined {
    return this.#records.get(jti);
  }

  lastSeq(): number | undefined {
    return this.#lastSeq;
  }

  remember(record: ReplayRecord<R>): void {
    const decision = checkReplay<R>(readReplayState(this, record.jti), {
      jti: record.jti,
      seq: record.seq,
      exp: record.forgetAfter,
    });
    if (decision.kind !== 'fresh') throw replayError(decision);
    this.#records.set(record.jti, { ...record });
    this.#lastSeq = record.seq;
  }

  setResult(jti: string, result: R): void {
    const record = this.#records.get(jti);
    if (record !== undefined) record.result = result;
  }

  prune(now: number): number {
    let dropped = 0;
    for (const [jti, record] of this.#records) {
      if (record.forgetAfter <= now) {
        this.#records.delete(jti);
        dropped++;
      }
    }
    return dropped;
  }

  /** How many `jti`s are remembered. */
  get size(): number {
    return this.#records.size;
  }
}
