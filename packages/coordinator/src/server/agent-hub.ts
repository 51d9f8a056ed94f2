/**
 * `AgentHub` over WebSocket sessions: at most one live session per host (a newer authenticated
 * session replaces the older), signed command delivery with results matched by jti, and host
 * revocation that ends the live session at once.
 */
import { callEach, nowSec } from '@launchplane/shared';
import { systemClock } from '../adapters/system-clock.js';
import { randomUUID } from 'node:crypto';
import type { WebSocket } from 'ws';
import {
  CLOCK_SKEW_SEC,
  CLOSE_CODES,
  LaunchplaneError,
  signCommand,
  type Command,
  type CommandPayload,
  type ErrorCode,
  type ResultPayload,
} from '@launchplane/shared';
import type { AgentHub, HostSessionInfo, SendOptions } from '../ports/agent-hub.js';
import type { Logger } from '../ports/logger.js';
import type { CoordinatorStore } from '../ports/store.js';
import type { CoordinatorIdentity } from '../keys/coordinator-identity.js';
import { AgentSession, CLOSE_REPLACED, type SessionHost } from './agent-session.js';
import { writeAudit } from '../audit/audit-writer.js';
import type { PreAuthGuard, Source } from './pre-auth-guard.js';

/** Options of {@link WsAgentHub}. */
export interface WsAgentHubOptions {
  store: CoordinatorStore;
  identity: CoordinatorIdentity;
  coordinatorId: string;
  logger: Logger;
  /** Unix seconds now; default the system clock. */
  nowSec?: () => number;
  /** Ping interval; a peer missing two pongs is terminated. Default 15. */
  heartbeatSec?: number;
  /** Time allowed from connection to a verified hello. Default 10 000 ms. */
  handshakeTimeoutMs?: number;
  /** Default wait for a command's result. Default 30 000 ms. */
  commandTimeoutMs?: number;
  /** Signed command lifetime, in seconds (≤ 300). Default 120. */
  commandLifetimeSec?: number;
  /**
   * Sockets allowed to be mid-handshake at once; more are closed with 1013 (try again later),
   * so unauthenticated connections cannot exhaust the coordinator. Default 2048.
   */
  maxPendingHandshakes?: number;
  /**
   * Bytes queued for one agent that its socket has not taken yet. An agent that stops reading
   * (stuck, or hostile) makes every frame sent to it pile up in the coordinator's memory; past
   * this cap its session is terminated and its pending commands fail. Default 1 MiB.
   */
  maxBufferedBytes?: number;
  /**
   * Per-source accounting before authentication: refused connections are counted through it
   * (one audit record per source and minute). Without it, each refusal is audited on its own.
   */
  guard?: PreAuthGuard;
}

/** Where an accepted socket came from, and how to give back its source's handshake slot. */
export interface Admission {
  source: Source;
  /** Called once, when the session authenticates or closes before that. */
  release(): void;
}

interface Pending {
  hostId: string;
  /** The command's `exp`: after it (plus the skew allowance) the host refuses it. */
  exp: number;
  session: AgentSession;
  resolve: (r: ResultPayload) => void;
  reject: (e: Error) => void;
  timer: NodeJS.Timeout;
}

/** The WebSocket implementation of {@link AgentHub}. */
export class WsAgentHub implements AgentHub {
  readonly #opts: Required<Omit<WsAgentHubOptions, 'nowSec' | 'guard'>> & {
    nowSec: () => number;
    guard: PreAuthGuard | undefined;
  };
  readonly #live = new Map<string, AgentSession>();
  readonly #all = new Set<AgentSession>();
  readonly #pending = new Map<string, Pending>();
  readonly #sessionHost: SessionHost;
  readonly #admissions = new Map<AgentSession, Admission>();
  readonly #laneListeners: (() => void)[] = [];

  constructor(opts: WsAgentHubOptions) {
    this.#opts = {
      heartbeatSec: 15,
      handshakeTimeoutMs: 10_000,
      commandTimeoutMs: 30_000,
      commandLifetimeSec: 120,
      maxPendingHandshakes: 2048,
      maxBufferedBytes: 1024 * 1024,
      nowSec: () => nowSec(systemClock),
      ...opts,
      guard: opts.guard,
    };
    const o = this.#opts;
    this.#sessionHost = {
      store: o.store,
      logger: o.logger,
      coordinatorId: o.coordinatorId,
      now: o.nowSec,
      heartbeatSec: o.heartbeatSec,
      handshakeTimeoutMs: o.handshakeTimeoutMs,
      maxBufferedBytes: o.maxBufferedBytes,
      attach: (s) => this.#attach(s),
      detach: (s) => this.#detach(s),
      deliverResult: (s, r) => this.#deliver(s, r),
      laneChanged: () => {
        callEach(this.#laneListeners, (err) => {
          o.logger.error({ err: String(err) }, 'lane change listener failed');
        });
      },
      ...(o.guard === undefined
        ? {}
        : {
            refused: (s: AgentSession, code: ErrorCode) => {
              const admission = this.#admissions.get(s);
              if (admission !== undefined) o.guard?.refused(admission.source, 'agent-hello', code);
            },
          }),
    };
  }

  onLaneChange(listener: () => void): void {
    this.#laneListeners.push(listener);
  }

  /**
   * Takes over a freshly upgraded socket. `admission` says where it came from; its slot is given
   * back once the session authenticates or closes.
   */
  accept(ws: WebSocket, admission?: Admission): void {
    if (this.#all.size - this.#live.size >= this.#opts.maxPendingHandshakes) {
      this.#opts.logger.warn({}, 'too many pending agent handshakes; refusing a connection');
      if (admission !== undefined) {
        this.#opts.guard?.refused(admission.source, 'agent-handshake', 'LP_RATE_LIMITED');
        admission.release();
      }
      ws.close(1013, 'too many pending handshakes');
      return;
    }
    const session = new AgentSession(ws, this.#sessionHost);
    this.#all.add(session);
    if (admission !== undefined) {
      let released = false;
      this.#admissions.set(session, {
        source: admission.source,
        release: () => {
          if (released) return;
          released = true;
          admission.release();
        },
      });
    }
  }

  /** Sockets open and not yet authenticated (tests, status). */
  get pendingHandshakes(): number {
    return this.#all.size - this.#live.size;
  }

  session(hostId: string): HostSessionInfo | undefined {
    const info = this.#live.get(hostId)?.info;
    return info === undefined ? undefined : { ...info };
  }

  sessions(): HostSessionInfo[] {
    return [...this.#live.values()]
      .map((s) => s.info)
      .filter((i): i is HostSessionInfo => i !== undefined)
      .map((i) => ({ ...i }))
      .sort((a, b) => a.hostId.localeCompare(b.hostId));
  }

  /** Ends a host's live session at once (close 4403), failing its pending commands. */
  revoke(hostId: string): boolean {
    const s = this.#live.get(hostId);
    if (s === undefined) return false;
    s.close(CLOSE_CODES.revoked, 'host revoked');
    this.#detach(s);
    return true;
  }

  async send(hostId: string, cmd: Command, opts: SendOptions): Promise<ResultPayload> {
    const { store, identity, coordinatorId, logger } = this.#opts;
    const host = await store.getHost(hostId);
    if (host === undefined) {
      throw new LaunchplaneError('LP_NOT_FOUND', `Host "${hostId}" is not enrolled`);
    }
    if (host.revokedAt !== undefined) {
      throw new LaunchplaneError('LP_HOST_REVOKED', `Host "${hostId}" has been revoked`);
    }
    const session = this.#live.get(hostId);
    if (session === undefined || !session.isOpen) {
      throw new LaunchplaneError('LP_HOST_OFFLINE', `Host "${hostId}" is not connected`, {
        recovery: 'Check that launchplane-agent runs on the host and can reach the coordinator',
      });
    }
    const now = this.#opts.nowSec();
    const jti = randomUUID();
    const exp = now + this.#opts.commandLifetimeSec;
    // Seq, command record and audit commit together (one fsync), before anything is sent.
    const jws = await store.transaction(async (tx) => {
      const seq = await tx.nextCommandSeq(hostId);
      const payload: CommandPayload = {
        iss: coordinatorId,
        aud: hostId,
        iat: now,
        exp,
        jti,
        seq,
        cmd,
      };
      const jws = signCommand(payload, {
        privateKey: identity.privateKey,
        kid: identity.fingerprint,
      });
      // The record carries no command body, so no secret (JIT config, registration token) is stored.
      await tx.putCommand({
        jti,
        hostId,
        seq,
        type: cmd.type,
        laneId: cmd.laneId,
        dryRun: cmd.dryRun,
        actor: opts.actor,
        sentAt: now,
        expiresAt: exp,
        result: undefined,
        completedAt: undefined,
      });
      // Every mutating command is audited when sent. `lane.inspect` only reads (drains poll it
      // every few seconds), so it keeps its command record but stays out of the audit trail.
      if (cmd.type !== 'lane.inspect')
        await writeAudit(tx, now, {
          actor: opts.actor,
          action: `command.${cmd.type}`,
          outcome: cmd.dryRun ? 'dry-run' : 'ok',
          hostId,
          laneId: cmd.laneId,
          dryRun: cmd.dryRun,
          // The runner's secrets in `cmd` are redacted by writeAudit before anything is stored.
          params: { jti, seq, cmd },
        });
      return jws;
    });
    const timeoutMs = opts.timeoutMs ?? this.#opts.commandTimeoutMs;
    const result = new Promise<ResultPayload>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#pending.delete(jti);
        reject(
          new LaunchplaneError(
            'LP_TIMEOUT',
            `Host "${hostId}" did not answer command "${jti}" within ${timeoutMs} ms`,
            {
              details: { hostId, jti: jti },
              recovery: 'Check the agent; the result is recorded if it arrives later',
            },
          ),
        );
      }, timeoutMs);
      this.#pending.set(jti, { hostId, exp, session, resolve, reject, timer });
    });
    if (!session.sendFrame({ type: 'command', jws })) {
      this.#fail(jti, unanswered(hostId, jti, exp, 'disconnected'));
    }
    logger.debug({ hostId, jti: jti, type: cmd.type, laneId: cmd.laneId }, 'command sent');
    const answer = await result;
    const completedAt = this.#opts.nowSec();
    await store.transaction(async (tx) => {
      const record = await tx.getCommand(jti);
      if (record !== undefined) await tx.putCommand({ ...record, result: answer, completedAt });
    });
    return answer;
  }

  /** Closes every session and fails every pending command. */
  close(): void {
    for (const s of this.#all) s.close(1001, 'coordinator shutting down');
    for (const [jti, p] of [...this.#pending]) {
      this.#fail(
        jti,
        unanswered(p.hostId, jti, p.exp, 'was cut off (the coordinator is shutting down)'),
      );
    }
  }

  #settle(session: AgentSession): void {
    this.#admissions.get(session)?.release();
  }

  #attach(session: AgentSession): void {
    this.#settle(session);
    const hostId = session.hostId as string;
    const old = this.#live.get(hostId);
    this.#live.set(hostId, session);
    if (old !== undefined && old !== session) {
      this.#opts.logger.info({ hostId }, 'a new session replaces the old one');
      old.close(CLOSE_REPLACED, 'replaced by a newer session');
      this.#failSession(old, 'was replaced by a newer session');
    }
  }

  #detach(session: AgentSession): void {
    this.#settle(session);
    this.#admissions.delete(session);
    this.#all.delete(session);
    const hostId = session.hostId;
    if (hostId === undefined) return;
    if (this.#live.get(hostId) === session) {
      this.#live.delete(hostId);
      this.#opts.logger.info({ hostId }, 'agent disconnected');
    }
    this.#failSession(session, 'disconnected');
  }

  #failSession(session: AgentSession, why: string): void {
    for (const [jti, p] of this.#pending) {
      if (p.session === session) {
        this.#fail(jti, unanswered(p.hostId, jti, p.exp, why));
      }
    }
  }

  #fail(jti: string, err: Error): void {
    const p = this.#pending.get(jti);
    if (p === undefined) return;
    clearTimeout(p.timer);
    this.#pending.delete(jti);
    p.reject(err);
  }

  #deliver(session: AgentSession, result: ResultPayload): boolean {
    const p = this.#pending.get(result.jti);
    if (p === undefined || p.hostId !== session.hostId) return false;
    clearTimeout(p.timer);
    this.#pending.delete(result.jti);
    p.resolve(result);
    return true;
  }
}

/**
 * A command whose host went away before answering. It may have run or not, and it may still
 * arrive late: the host refuses it only once `exp` plus the skew allowance has passed, so the
 * hint names that time.
 */
function unanswered(hostId: string, jti: string, exp: number, why: string): LaunchplaneError {
  const deadline = new Date((exp + CLOCK_SKEW_SEC) * 1000).toISOString();
  return new LaunchplaneError(
    'LP_HOST_OFFLINE',
    `Host "${hostId}" ${why} before answering command "${jti}"`,
    {
      details: { hostId, jti, expiresAt: exp },
      recovery: `The command may or may not have run on the host, and cannot run after ${deadline}; once the host is connected again, check the lane with "launchplane lanes" and run the action again`,
    },
  );
}
