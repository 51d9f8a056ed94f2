/**
 * One agent's WebSocket session
 * (docs/design/protocol.md "Session"): challenge → signed hello → welcome,
 * then inventory, events (stored once, acknowledged) and command results. Frames are handled one
 * at a time in arrival order. After the hello, the session's hostId is the only identity it
 * believes: a payload that names another host closes the session.
 */
import type { KeyObject } from 'node:crypto';
import type { WebSocket, RawData } from 'ws';
import {
  CLOSE_CODES,
  GENESIS_HASH,
  LaunchplaneError,
  agentMessageSchema,
  auditRecordHash,
  closeCodeFor,
  exportPublicJwk,
  generateEd25519KeyPair,
  importPublicJwk,
  mergedLaneState,
  newNonce,
  parseStrictJson,
  redactAuditEntry,
  verifyEvent,
  verifyHello,
  verifyResult,
  type AgentMessage,
  type AuditRecord,
  type ErrorCode,
  type EventPayload,
  type HealthMessage,
  type InventoryMessage,
  type ResultPayload,
} from '@launchplane/shared';
import type { HostSessionInfo } from '../ports/agent-hub.js';
import type { Logger } from '../ports/logger.js';
import type { CoordinatorStore, LaneRecord, StoreTx } from '../ports/store.js';
import { writeAudit } from '../audit/audit-writer.js';

/** What a session needs from the hub that owns it. */
export interface SessionHost {
  store: CoordinatorStore;
  logger: Logger;
  coordinatorId: string;
  /** Unix seconds. */
  now(): number;
  heartbeatSec: number;
  handshakeTimeoutMs: number;
  /** Bytes queued on the socket past which the peer counts as not reading and is cut off. */
  maxBufferedBytes: number;
  /** Called once the hello verified; the hub makes this the host's one live session. */
  attach(session: AgentSession): void;
  /** Called when the socket closed. */
  detach(session: AgentSession): void;
  /** A host's report changed the recorded state of one of its lanes (after it was stored). */
  laneChanged?(): void;
  /** A verified result arrived. Returns false when no pending command had that jti. */
  deliverResult(session: AgentSession, result: ResultPayload): boolean;
  /**
   * A connection was refused before its hello verified. When given, it counts the refusal (per
   * source and minute) instead of an audit record per connection.
   */
  refused?(session: AgentSession, code: ErrorCode): void;
}

/** What an agent is told when its hello does not authenticate, whatever the reason. */
export const HELLO_REFUSED_REASON = 'authentication failed';

// Unknown hosts are checked against this key, so that a hello for an unknown host and one with a
// bad signature cost the same and get the same answer.
const DUMMY_HOST_JWK = exportPublicJwk(generateEd25519KeyPair().publicKey);

type Phase = 'challenging' | 'verifying' | 'authenticated' | 'closed';

/** Frames waiting to be handled before the socket is paused. */
const MAX_QUEUED_FRAMES = 64;

/** Close code for a session that a newer one of the same host replaced. */
export const CLOSE_REPLACED = 4000;

/** One connected agent. */
export class AgentSession {
  readonly #ws: WebSocket;
  readonly #host: SessionHost;
  readonly #nonce = newNonce();
  #phase: Phase = 'challenging';
  #queue: Promise<void> = Promise.resolve();
  #queued = 0;
  #handshakeTimer: NodeJS.Timeout | undefined;
  #heartbeatTimer: NodeJS.Timeout | undefined;
  #missedPongs = 0;
  #hostId: string | undefined;
  /** The host id a hello claimed, before it verified (for the audit of a refusal). */
  #claimedHostId: string | undefined;
  #hostKey: KeyObject | undefined;
  #info: HostSessionInfo | undefined;

  constructor(ws: WebSocket, host: SessionHost) {
    this.#ws = ws;
    this.#host = host;
    ws.on('message', (data, isBinary) => {
      // Frames are handled in order; a peer that sends faster than they are stored is paused.
      this.#queued++;
      if (this.#queued >= MAX_QUEUED_FRAMES && !ws.isPaused) ws.pause();
      this.#queue = this.#queue
        .then(() => this.#onFrame(data, isBinary))
        .finally(() => {
          this.#queued--;
          if (this.#queued < MAX_QUEUED_FRAMES / 2 && ws.isPaused) ws.resume();
        });
    });
    ws.on('close', () => this.#onClose());
    ws.on('error', (err) => host.logger.warn({ err: err.message }, 'agent socket error'));
    ws.on('pong', () => {
      this.#missedPongs = 0;
      if (this.#info !== undefined) this.#info.lastSeenAt = host.now();
    });
    this.#handshakeTimer = setTimeout(
      () => this.close(CLOSE_CODES.handshakeTimeout, 'handshake timeout'),
      host.handshakeTimeoutMs,
    );
    this.#handshakeTimer.unref();
    this.#sendFrame({ type: 'challenge', nonce: this.#nonce, coordinatorId: host.coordinatorId });
  }

  /** The authenticated host id; undefined before the hello verified. */
  get hostId(): string | undefined {
    return this.#hostId;
  }

  /** What the rest of the coordinator sees; undefined before the hello verified. */
  get info(): HostSessionInfo | undefined {
    return this.#info;
  }

  get isOpen(): boolean {
    return this.#phase !== 'closed';
  }

  /** Sends one frame; false when the socket is not open. */
  sendFrame(frame: object): boolean {
    return this.#sendFrame(frame);
  }

  /** Closes the session with a protocol close code. */
  close(code: number, reason: string): void {
    if (this.#phase === 'closed') return;
    this.#phase = 'closed';
    this.#stopTimers();
    try {
      this.#ws.close(code, reason.slice(0, 120));
    } catch {
      this.#ws.terminate();
    }
    // A peer that never answers the close frame must not keep the socket.
    setTimeout(() => this.#ws.terminate(), 2000).unref();
  }

  #sendFrame(frame: object): boolean {
    if (this.#ws.readyState !== this.#ws.OPEN) return false;
    this.#ws.send(JSON.stringify(frame));
    return !this.#cutOffIfNotReading();
  }

  /**
   * Terminates the session when more than `maxBufferedBytes` wait for the peer to read them:
   * a peer that stopped reading would otherwise hold every frame sent to it in our memory. A
   * close frame would only queue behind the rest, so the socket is cut. Returns true if cut.
   */
  #cutOffIfNotReading(): boolean {
    const buffered = this.#ws.bufferedAmount;
    const limit = this.#host.maxBufferedBytes;
    if (buffered <= limit || this.#phase === 'closed') return false;
    this.#host.logger.warn(
      { hostId: this.#hostId, bufferedBytes: buffered, limit },
      'agent is not reading its socket; terminating',
    );
    this.#phase = 'closed';
    this.#stopTimers();
    this.#ws.terminate();
    this.#host.detach(this);
    return true;
  }

  #stopTimers(): void {
    if (this.#handshakeTimer !== undefined) clearTimeout(this.#handshakeTimer);
    if (this.#heartbeatTimer !== undefined) clearInterval(this.#heartbeatTimer);
    this.#handshakeTimer = undefined;
    this.#heartbeatTimer = undefined;
  }

  #onClose(): void {
    this.#phase = 'closed';
    this.#stopTimers();
    this.#host.detach(this);
  }

  async #onFrame(data: RawData, isBinary: boolean): Promise<void> {
    if (this.#phase === 'closed') return;
    try {
      if (isBinary) {
        throw new LaunchplaneError(
          'LP_INVALID_MESSAGE',
          'Binary frames are not part of the protocol',
        );
      }
      const text = Buffer.isBuffer(data)
        ? data.toString('utf8')
        : Array.isArray(data)
          ? Buffer.concat(data).toString('utf8')
          : Buffer.from(data).toString('utf8');
      let raw: unknown;
      try {
        raw = parseStrictJson(text);
      } catch (cause) {
        throw new LaunchplaneError('LP_INVALID_MESSAGE', 'Frame is not one strict JSON object', {
          cause,
        });
      }
      const parsed = agentMessageSchema.safeParse(raw);
      if (!parsed.success) {
        const type =
          typeof raw === 'object' && raw !== null ? (raw as { type?: unknown }).type : undefined;
        throw new LaunchplaneError(
          'LP_INVALID_MESSAGE',
          `Frame${typeof type === 'string' ? ` of type "${type.slice(0, 32)}"` : ''} does not match the protocol`,
        );
      }
      await this.#handle(parsed.data);
    } catch (err) {
      const e =
        err instanceof LaunchplaneError
          ? err
          : new LaunchplaneError('LP_INTERNAL', 'Internal error handling an agent frame', {
              cause: err,
            });
      const code = closeCodeFor(e.code) ?? CLOSE_CODES.invalidMessage;
      const unauthenticated = this.#hostId === undefined;
      // Refusals before the hello verified are counted per source (a flood must not flood the
      // log either); everything after it is logged and audited one by one.
      const fields = {
        hostId: this.#hostId,
        claimedHostId: this.#claimedHostId,
        code: e.code,
        err: e.message,
        cause: errText(e.cause),
      };
      if (unauthenticated && this.#host.refused !== undefined) {
        this.#host.logger.debug(fields, 'closing agent session');
        this.#host.refused(this, e.code);
      } else {
        this.#host.logger.warn(fields, 'closing agent session');
      }
      if (
        !unauthenticated ||
        (this.#host.refused === undefined && e.code !== 'LP_INVALID_MESSAGE')
      ) {
        await writeAudit(this.#host.store, this.#host.now(), {
          actor: this.#hostId === undefined ? 'anonymous' : `agent:${this.#hostId}`,
          action: 'agent.session',
          outcome: 'refused',
          hostId: this.#hostId,
          params: this.#hostId === undefined ? { claimedHostId: this.#claimedHostId } : {},
          code: e.code,
          message: e.message,
        }).catch(() => undefined);
      }
      // Whatever failed in the hello, the agent learns only that it did not authenticate.
      this.close(code, e.details.helloRefused === true ? HELLO_REFUSED_REASON : e.message);
    }
  }

  async #handle(msg: AgentMessage): Promise<void> {
    switch (msg.type) {
      case 'hello':
        return this.#onHello(msg);
      case 'inventory':
        this.#requireAuth();
        return this.#onInventory(msg);
      case 'health':
        this.#requireAuth();
        this.#onHealth(msg);
        return;
      case 'event':
        this.#requireAuth();
        return this.#onEvent(msg.seq, msg.jws);
      case 'result':
        this.#requireAuth();
        return this.#onResult(msg.jws);
    }
  }

  #requireAuth(): void {
    if (this.#phase !== 'authenticated') {
      throw new LaunchplaneError('LP_INVALID_MESSAGE', 'The first frame must be a hello');
    }
  }

  async #onHello(msg: Extract<AgentMessage, { type: 'hello' }>): Promise<void> {
    if (this.#phase !== 'challenging') {
      throw new LaunchplaneError('LP_INVALID_MESSAGE', 'Hello was already received');
    }
    this.#phase = 'verifying';
    this.#claimedHostId = msg.hostId;
    const { store } = this.#host;
    const found = await store.getHost(msg.hostId);
    // An unknown host, a bad signature and a hello for another challenge get one answer (same
    // close code, same reason) after the same work: a signature check, against a dummy key when
    // the host is unknown. The log and the audit count keep the real cause.
    const key = importPublicJwk(found?.publicKey ?? DUMMY_HOST_JWK);
    let cause: LaunchplaneError | undefined;
    try {
      verifyHello(msg, {
        publicKey: key,
        coordinatorId: this.#host.coordinatorId,
        nonce: this.#nonce,
      });
    } catch (err) {
      cause = err instanceof LaunchplaneError ? err : undefined;
      if (cause === undefined) throw err;
    }
    if (found === undefined || cause !== undefined) {
      throw new LaunchplaneError(
        found === undefined ? 'LP_UNAUTHENTICATED' : 'LP_SIGNATURE_INVALID',
        found === undefined
          ? `Host "${msg.hostId}" is not enrolled`
          : (cause?.message ?? 'Hello does not verify'),
        { details: { helloRefused: true } },
      );
    }
    const host = found;
    // Only a host that proved its key learns that it is revoked.
    if (host.revokedAt !== undefined) {
      throw new LaunchplaneError('LP_HOST_REVOKED', `Host "${msg.hostId}" has been revoked`);
    }
    if (this.#phase !== 'verifying') return;
    const now = this.#host.now();
    // Re-read inside a transaction: a revoke that landed while the signature was checked wins,
    // and the host record is never written back from a stale copy.
    const stillValid = await store.transaction(async (tx) => {
      const current = await tx.getHost(host.hostId);
      if (current === undefined || current.revokedAt !== undefined) return false;
      await tx.putHost({ ...current, lastSeenAt: now, agentVersion: msg.agentVersion });
      return true;
    });
    if (!stillValid) {
      throw new LaunchplaneError('LP_HOST_REVOKED', `Host "${msg.hostId}" has been revoked`);
    }
    if (this.#phase !== 'verifying') return;
    this.#hostId = host.hostId;
    this.#hostKey = key;
    this.#info = {
      hostId: host.hostId,
      connectedAt: now,
      lastSeenAt: now,
      agentVersion: msg.agentVersion,
      inventory: undefined,
    };
    this.#phase = 'authenticated';
    if (this.#handshakeTimer !== undefined) clearTimeout(this.#handshakeTimer);
    this.#handshakeTimer = undefined;
    // Synchronously after the check above, so a later revoke always finds this session.
    this.#host.attach(this);
    this.#sendFrame({ type: 'welcome', heartbeatSec: this.#host.heartbeatSec });
    this.#startHeartbeat();
    this.#host.logger.info(
      { hostId: host.hostId, agentVersion: msg.agentVersion },
      'agent connected',
    );
    await writeAudit(store, now, {
      actor: `agent:${host.hostId}`,
      action: 'agent.connect',
      outcome: 'ok',
      hostId: host.hostId,
      params: { agentVersion: msg.agentVersion },
    });
  }

  #startHeartbeat(): void {
    this.#heartbeatTimer = setInterval(() => {
      if (this.#missedPongs >= 2) {
        this.#host.logger.warn(
          { hostId: this.#hostId },
          'agent missed two heartbeats; terminating',
        );
        this.#phase = 'closed';
        this.#stopTimers();
        this.#ws.terminate();
        this.#host.detach(this);
        return;
      }
      this.#missedPongs++;
      try {
        this.#ws.ping();
      } catch {
        // The close handler cleans up.
      }
      this.#cutOffIfNotReading();
    }, this.#host.heartbeatSec * 1000);
    this.#heartbeatTimer.unref();
  }

  async #onInventory(msg: InventoryMessage): Promise<void> {
    const hostId = this.#hostId as string;
    const { store } = this.#host;
    const now = this.#host.now();
    if (this.#info !== undefined) {
      this.#info.inventory = msg;
      this.#info.lastSeenAt = now;
    }
    let changed = false;
    await store.transaction(async (tx) => {
      const host = await tx.getHost(hostId);
      if (host === undefined) return;
      await tx.putHost({
        ...host,
        optIn: msg.optIn,
        capabilities: [...msg.capabilities],
        lastSeenAt: now,
      });
      for (const lane of msg.lanes) {
        if (await applyLaneReport(tx, hostId, lane, now, this.#host.logger)) changed = true;
      }
    });
    if (changed) this.#host.laneChanged?.();
  }

  /**
   * Keeps the agent's health report, with its times moved to this clock (relative to the report's
   * own `at`, so the clocks need not agree). Memory only: it matters while the session lives.
   */
  #onHealth(msg: HealthMessage): void {
    if (this.#info === undefined) return;
    const now = this.#host.now();
    const shift = (t: number): number => Math.min(now, now - (msg.at - t));
    this.#info.health = {
      intervalSec: msg.intervalSec,
      startedAt: shift(msg.startedAt),
      lastPassAt: msg.lastPassAt === undefined ? undefined : shift(msg.lastPassAt),
      passStartedAt: msg.passStartedAt === undefined ? undefined : shift(msg.passStartedAt),
      reportedAt: now,
    };
    this.#info.lastSeenAt = now;
  }

  async #onEvent(frameSeq: number, jws: string): Promise<void> {
    const hostId = this.#hostId as string;
    const payload = verifyEvent(jws, {
      publicKey: this.#hostKey as KeyObject,
      hostId,
      seq: frameSeq,
    });
    const event = payload.event;
    if (
      event.kind === 'audit' &&
      event.record.hostId !== undefined &&
      event.record.hostId !== hostId
    ) {
      throw new LaunchplaneError(
        'LP_INVALID_MESSAGE',
        `Audit record names host "${event.record.hostId}", not the session's host "${hostId}"`,
      );
    }
    const { store } = this.#host;
    const now = this.#host.now();
    let changed = false;
    await store.transaction(async (tx) => {
      const fresh = await tx.putAgentEvent(hostId, payload.seq, payload, now);
      if (fresh) changed = await applyEvent(tx, hostId, payload, now, this.#host.logger);
    });
    if (changed) this.#host.laneChanged?.();
    if (this.#info !== undefined) this.#info.lastSeenAt = now;
    this.#sendFrame({ type: 'ack', seq: payload.seq });
  }

  async #onResult(jws: string): Promise<void> {
    const hostId = this.#hostId as string;
    const result = verifyResult(jws, { publicKey: this.#hostKey as KeyObject, hostId });
    if (this.#host.deliverResult(this, result)) return;
    // Not pending here (timed out, or sent before a restart): record it if it is this host's.
    const { store } = this.#host;
    const cmd = await store.getCommand(result.jti);
    if (cmd !== undefined && cmd.hostId === hostId && cmd.result === undefined) {
      await store.putCommand({ ...cmd, result, completedAt: this.#host.now() });
      this.#host.logger.info({ hostId, jti: result.jti }, 'late result recorded');
      return;
    }
    this.#host.logger.warn({ hostId, jti: result.jti }, 'result for an unknown command ignored');
  }
}

/** Stores one verified event; true when it changed the recorded state of a lane. */
async function applyEvent(
  tx: StoreTx,
  hostId: string,
  payload: EventPayload,
  now: number,
  logger: Logger,
): Promise<boolean> {
  const event = payload.event;
  switch (event.kind) {
    case 'audit': {
      const { seq: agentSeq, actor: claimedActor, ...record } = event.record;
      const chain = await followAgentChain(tx, hostId, event.record);
      // The actor is who the coordinator authenticated, never the host's word; what the host
      // wrote as actor is kept, labelled as its claim. The agent redacted the record before it
      // chained it; an agent that did not (an old or a faulty one) still gets nothing secret into
      // this store. The chain was checked above against what the host signed.
      await tx.appendAudit(
        redactAuditEntry({
          ...record,
          actor: agentActor(hostId),
          hostId,
          params: {
            ...record.params,
            agentSeq,
            claimedActor,
            ...(chain === undefined ? {} : { chainBreak: chain }),
          },
        }),
      );
      if (chain !== undefined) {
        logger.warn({ hostId, agentSeq, chainBreak: chain }, 'agent audit chain broken');
        await writeAudit(tx, now, {
          actor: 'coordinator',
          action: 'agent.audit-chain',
          outcome: 'failed',
          hostId,
          params: { agentSeq, chainBreak: chain },
          code: 'LP_SIGNATURE_INVALID',
          message: `Audit record ${agentSeq} from host "${hostId}" does not continue its hash chain (${chain})`,
          recovery: `Run "launchplane-agent audit --verify" on host "${hostId}" and compare with this audit log`,
        });
      }
      return false;
    }
    case 'lane':
      return applyLaneReport(tx, hostId, event.lane, now, logger);
    case 'lane-removed': {
      const lane = await tx.getLane(event.laneId);
      if (lane === undefined || lane.hostId !== hostId) return false;
      const state = mergedLaneState(lane.state, 'removed');
      if (state === lane.state) return false;
      await tx.putLane({ ...lane, state, updatedAt: now });
      return true;
    }
  }
}

/**
 * Checks that an agent audit record continues the host's hash chain as this coordinator last
 * saw it (head kept in meta), and moves the head on. Returns why it does not, or undefined.
 * A break is reported once: the head re-anchors on the record that broke it.
 */
async function followAgentChain(
  tx: StoreTx,
  hostId: string,
  record: AuditRecord,
): Promise<'missing-hash' | 'hash-mismatch' | 'prev-hash-mismatch' | undefined> {
  if (record.hash === undefined || record.prevHash === undefined) return 'missing-hash';
  const key = `agent-audit-head:${hostId}`;
  const head = await tx.getMeta(key);
  await tx.setMeta(key, record.hash);
  if (auditRecordHash(record.prevHash, record) !== record.hash) return 'hash-mismatch';
  const expected = head ?? (record.seq === 1 ? GENESIS_HASH : undefined);
  if (expected !== undefined && record.prevHash !== expected) return 'prev-hash-mismatch';
  return undefined;
}

/**
 * Updates the coordinator's record of a lane this host reported; other hosts' lanes are ignored.
 * True when the lane's recorded state changed.
 */
async function applyLaneReport(
  tx: StoreTx,
  hostId: string,
  report: InventoryMessage['lanes'][number],
  now: number,
  logger: Logger,
): Promise<boolean> {
  const lane = await tx.getLane(report.laneId);
  if (lane === undefined) return false;
  if (lane.hostId !== hostId) {
    logger.warn(
      { hostId, laneId: report.laneId, owner: lane.hostId },
      'agent reported a lane recorded for another host; ignored',
    );
    return false;
  }
  const state = mergedLaneState(lane.state, report.state);
  // The report's runnerId is the host's word and is never recorded: a runner id comes only from
  // GitHub's own answers to the coordinator (the create saga records it), so a host cannot make
  // the coordinator relabel or delete a runner it names.
  const recovery = report.recovery ?? lane.recovery;
  if (state === lane.state && recovery === lane.recovery) return false;
  const next: LaneRecord = { ...lane, state, recovery, updatedAt: now };
  await tx.putLane(next);
  return state !== lane.state;
}

/** The audit actor of an authenticated host's session. */
export function agentActor(hostId: string): string {
  return `agent:${hostId}`;
}

function errText(e: unknown): string | undefined {
  return e instanceof Error ? e.message : undefined;
}
