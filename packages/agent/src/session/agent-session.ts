/**
 * The agent's WebSocket session with its coordinator
 * (docs/design/protocol.md "Session"). It dials out, proves
 * the host's identity, reports inventory, ships the durable event outbox until acknowledged and
 * hands signed commands to the core. It keeps dialling with capped, fully jittered backoff until
 * stopped. Every frame is parsed here, at the edge, and nowhere else; anything unexpected closes
 * the socket with 4400.
 */
import type { KeyObject } from 'node:crypto';
import WebSocket from 'ws';
import type { RawData } from 'ws';
import type { createConnection } from 'node:net';
import {
  CLOSE_CODES,
  LaunchplaneError,
  Backoff,
  MAX_PAYLOAD_BYTES,
  PROTOCOL_SUBPROTOCOL,
  signHello,
} from '@launchplane/shared';
import type {
  AgentMessage,
  BackoffOptions,
  CoordinatorMessage,
  HealthMessage,
  InventoryMessage,
} from '@launchplane/shared';
import { systemClock, type Clock } from '../ports/clock.js';
import type { Logger } from '../ports/logger.js';
import { parseCoordinatorFrame } from './coordinator-frame.js';
import { pinnedConnect } from './pinned-tls.js';

/** What the session needs from the agent core (a subset of `AgentCore`). */
export interface SessionCore {
  /**
   * Verifies and executes a signed command; resolves to the signed result (never rejects for bad
   * input). Called once per command in arrival order without waiting for the one before: the core
   * must take commands in the order of its calls.
   */
  handleCommand(jws: string): Promise<string>;
  inventory(): InventoryMessage;
  onInventoryChange(listener: () => void): () => void;
  /** Unacknowledged outbox events, in seq order. */
  pendingEvents(limit?: number): { seq: number; jws: string }[];
  ackEvents(uptoSeq: number): void;
  onEvent(listener: () => void): () => void;
  /** How the health loop is doing; sent after the inventory and after every finished pass. */
  health?(): HealthMessage;
  /** Subscribes to finished health passes. */
  onHealthPass?(listener: () => void): () => void;
}

/** Where the session is. */
export type SessionState =
  'idle' | 'connecting' | 'authenticating' | 'connected' | 'backoff' | 'stopping' | 'stopped';

/** A snapshot of the session, for `launchplane-agent status`. Times are Unix ms. */
export interface SessionStatus {
  state: SessionState;
  url: string;
  coordinatorId: string;
  /** Since when the current session is welcomed. */
  connectedSince?: number;
  lastConnectedAt?: number;
  lastDisconnectedAt?: number;
  lastCloseCode?: number;
  lastError?: string;
  /** Reconnect attempts since the last stable session. */
  attempt: number;
  nextRetryAt?: number;
}

/** Options of {@link AgentSession}. */
export interface AgentSessionOptions {
  /** `wss://…/v1/agent` from the config's coordinator section. */
  url: string;
  hostId: string;
  /** The coordinator id pinned at enrollment; a challenge from any other is refused (4401). */
  coordinatorId: string;
  /** The host's Ed25519 private key, signs the hello. */
  hostKey: KeyObject;
  agentVersion: string;
  core: SessionCore;
  logger?: Logger;
  /** Reconnect backoff. Default 1 s doubling to 64 s, full jitter. */
  backoff?: BackoffOptions;
  /** Deadline from dialling to `welcome`, in ms. Default 10 000. */
  handshakeTimeoutMs?: number;
  /** Largest frame accepted, in bytes. Default 256 KiB (docs/design/protocol.md "Limits"). */
  maxPayloadBytes?: number;
  /**
   * Silence after which the coordinator counts as dead and the socket is terminated, in ms.
   * Default two heartbeats: 2 × `heartbeatSec` from `welcome`.
   */
  heartbeatTimeoutMs?: number;
  /** A welcomed session that lasted this long resets the backoff, in ms. Default 30 000. */
  stableAfterMs?: number;
  /** Most events sent and not yet acknowledged. Default 100. */
  eventWindow?: number;
  /** How long {@link AgentSession.stop} waits for a running command to finish, in ms. Default 30 000. */
  stopGraceMs?: number;
  /** Extra CA certificates (PEM) to trust for `wss://`. TLS verification is always on. */
  ca?: string | Buffer;
  /**
   * The coordinator's TLS key pin (`sha256//…`, config `coordinator.tlsPin`). When set, every
   * `wss://` connection is checked against it before anything is sent, instead of against CAs.
   */
  tlsPin?: string;
  /** Where session times (`connectedSince`, …, in Unix ms) come from. Default the system clock. */
  clock?: Pick<Clock, 'nowMs'>;
  /** Called on every state change. */
  onStatus?: (status: SessionStatus) => void;
}

type Phase = 'challenge' | 'hello-sent' | 'ready' | 'closing';

/** Most fragments one coordinator message may arrive in; more close the session with 1008. */
const MAX_FRAGMENTS = 1024;

interface Connection {
  ws: WebSocket;
  phase: Phase;
  /** Highest event seq sent on this connection. */
  sentUpTo: number;
  welcomedAt: number | undefined;
  heartbeatTimeoutMs: number;
  handshakeTimer: NodeJS.Timeout | undefined;
  watchdog: NodeJS.Timeout | undefined;
  unsubscribe: (() => void)[];
  commands: Promise<void>;
}

const noopLogger: Logger = {
  debug: () => undefined,
  info: () => undefined,
  warn: () => undefined,
  error: () => undefined,
};

/** The agent's session with its coordinator. `start()` once, `stop()` to end it. */
export class AgentSession {
  readonly #opts: AgentSessionOptions;
  readonly #log: Logger;
  readonly #backoff: Backoff;
  readonly #clock: Pick<Clock, 'nowMs'>;
  #conn: Connection | undefined;
  #retryTimer: NodeJS.Timeout | undefined;
  #status: SessionStatus;
  #stopping = false;
  #closed: Promise<void> | undefined;
  #resolveClosed: (() => void) | undefined;

  constructor(options: AgentSessionOptions) {
    this.#opts = options;
    this.#log = options.logger ?? noopLogger;
    this.#backoff = new Backoff(options.backoff);
    this.#clock = options.clock ?? systemClock;
    this.#status = {
      state: 'idle',
      url: options.url,
      coordinatorId: options.coordinatorId,
      attempt: 0,
    };
  }

  /** The current state. */
  status(): SessionStatus {
    return { ...this.#status };
  }

  /** Starts dialling. Idempotent. */
  start(): void {
    if (this.#status.state !== 'idle') return;
    this.#connect();
  }

  /**
   * Ends the session: lets a running command finish (up to `stopGraceMs`) so its result is sent,
   * closes the socket with 1000 and stops reconnecting. Never touches lanes.
   */
  async stop(): Promise<void> {
    if (this.#stopping) return this.#closed;
    this.#stopping = true;
    clearTimeout(this.#retryTimer);
    this.#retryTimer = undefined;
    const conn = this.#conn;
    if (conn === undefined) {
      this.#setStatus({ state: 'stopped' });
      return;
    }
    this.#setStatus({ state: 'stopping' });
    this.#closed = new Promise((resolve) => (this.#resolveClosed = resolve));
    const grace = this.#opts.stopGraceMs ?? 30_000;
    let graceTimer: NodeJS.Timeout | undefined;
    await Promise.race([
      conn.commands,
      new Promise<void>((resolve) => (graceTimer = setTimeout(resolve, grace))),
    ]);
    clearTimeout(graceTimer);
    if (this.#conn === conn) {
      conn.phase = 'closing';
      if (conn.ws.readyState === WebSocket.OPEN) {
        conn.ws.close(1000, 'agent stopping');
        // The peer gets a moment to answer the close; after that the socket is cut.
        const cut = setTimeout(() => conn.ws.terminate(), 5_000);
        cut.unref();
      } else {
        conn.ws.terminate();
      }
      await this.#closed;
    } else {
      this.#setStatus({ state: 'stopped' });
    }
  }

  #setStatus(patch: { [K in keyof SessionStatus]?: SessionStatus[K] | undefined }): void {
    const next: Record<string, unknown> = { ...this.#status };
    for (const [key, value] of Object.entries(patch)) {
      if (value === undefined) delete next[key];
      else next[key] = value;
    }
    this.#status = next as unknown as SessionStatus;
    this.#opts.onStatus?.(this.status());
  }

  #connect(): void {
    this.#retryTimer = undefined;
    this.#setStatus({ state: 'connecting', nextRetryAt: undefined });
    const handshakeTimeoutMs = this.#opts.handshakeTimeoutMs ?? 10_000;
    const ws = new WebSocket(this.#opts.url, [PROTOCOL_SUBPROTOCOL], {
      maxPayload: this.#opts.maxPayloadBytes ?? MAX_PAYLOAD_BYTES,
      // A coordinator sends each frame whole; a message in thousands of fragments is abuse
      // (ws' client default is unlimited, up to maxPayload one-byte buffers held at once).
      maxFragments: MAX_FRAGMENTS,
      perMessageDeflate: false,
      followRedirects: false,
      handshakeTimeout: handshakeTimeoutMs,
      rejectUnauthorized: true,
      ...(this.#opts.ca === undefined ? {} : { ca: this.#opts.ca }),
      ...(this.#opts.tlsPin === undefined || !this.#opts.url.startsWith('wss:')
        ? {}
        : {
            // ws hands its options to https.request, which waits for this callback.
            createConnection: pinnedConnect(this.#opts.tlsPin, {
              timeoutMs: handshakeTimeoutMs,
            }) as unknown as typeof createConnection,
          }),
    });
    const conn: Connection = {
      ws,
      phase: 'challenge',
      sentUpTo: 0,
      welcomedAt: undefined,
      heartbeatTimeoutMs: 0,
      handshakeTimer: undefined,
      watchdog: undefined,
      unsubscribe: [],
      commands: Promise.resolve(),
    };
    this.#conn = conn;
    conn.handshakeTimer = setTimeout(() => {
      this.#log.warn({ url: this.#opts.url }, 'Coordinator did not welcome the agent in time');
      this.#setStatus({ lastError: `No welcome within ${handshakeTimeoutMs} ms` });
      this.#fail(conn, CLOSE_CODES.handshakeTimeout, 'handshake timeout');
    }, handshakeTimeoutMs);

    ws.on('open', () => {
      this.#setStatus({ state: 'authenticating' });
    });
    ws.on('message', (data: RawData, isBinary: boolean) => {
      this.#onMessage(conn, data, isBinary);
    });
    ws.on('ping', () => this.#touch(conn));
    ws.on('pong', () => this.#touch(conn));
    ws.on('error', (err: Error) => {
      if (err instanceof LaunchplaneError && err.code === 'LP_TLS_PIN_MISMATCH') {
        // Nothing was sent: the socket never reached the WebSocket handshake.
        this.#log.error(
          { url: this.#opts.url, code: err.code, err: err.message, recovery: err.recovery },
          'Coordinator TLS key does not match the pin; refusing to connect',
        );
        this.#setStatus({ lastError: `${err.code}: ${err.message}` });
        return;
      }
      this.#log.warn({ url: this.#opts.url, err: err.message }, 'Coordinator connection error');
      this.#setStatus({ lastError: err.message });
    });
    ws.on('close', (code: number, reason: Buffer) => {
      this.#onClose(conn, code, reason.toString('utf8'));
    });
  }

  #onMessage(conn: Connection, data: RawData, isBinary: boolean): void {
    if (conn.phase === 'closing' || this.#conn !== conn) return;
    this.#touch(conn);
    const parsed = parseCoordinatorFrame(data, isBinary);
    if (!parsed.ok) {
      this.#fail(conn, CLOSE_CODES.invalidMessage, parsed.reason);
      return;
    }
    try {
      this.#dispatch(conn, parsed.message);
    } catch (err) {
      // A fault of ours (the core, the ledger), not of the peer: end this session and retry.
      this.#log.error(
        { type: parsed.message.type, err: err instanceof Error ? err.message : String(err) },
        'Handling a coordinator frame failed',
      );
      this.#setStatus({ lastError: 'Internal error while handling a frame' });
      this.#fail(conn, 1011, 'internal error');
    }
  }

  #dispatch(conn: Connection, msg: CoordinatorMessage): void {
    switch (msg.type) {
      case 'challenge': {
        if (conn.phase !== 'challenge') {
          this.#fail(conn, CLOSE_CODES.invalidMessage, 'unexpected challenge');
          return;
        }
        if (msg.coordinatorId !== this.#opts.coordinatorId) {
          // A coordinator other than the one this host enrolled with: never prove identity to it.
          this.#log.error(
            { expected: this.#opts.coordinatorId, got: msg.coordinatorId },
            'Coordinator id does not match the enrolled coordinator; refusing to authenticate',
          );
          this.#setStatus({
            lastError: `Coordinator "${msg.coordinatorId}" is not the enrolled "${this.#opts.coordinatorId}"`,
          });
          this.#fail(conn, CLOSE_CODES.authenticationFailed, 'unexpected coordinator', false);
          return;
        }
        const sig = signHello(
          { coordinatorId: msg.coordinatorId, hostId: this.#opts.hostId, nonce: msg.nonce },
          this.#opts.hostKey,
        );
        conn.phase = 'hello-sent';
        this.#send(conn, {
          type: 'hello',
          hostId: this.#opts.hostId,
          nonce: msg.nonce,
          agentVersion: this.#opts.agentVersion,
          sig,
        });
        return;
      }
      case 'welcome': {
        if (conn.phase !== 'hello-sent') {
          this.#fail(conn, CLOSE_CODES.invalidMessage, 'unexpected welcome');
          return;
        }
        conn.phase = 'ready';
        clearTimeout(conn.handshakeTimer);
        conn.handshakeTimer = undefined;
        conn.heartbeatTimeoutMs = this.#opts.heartbeatTimeoutMs ?? 2 * msg.heartbeatSec * 1000;
        conn.welcomedAt = this.#clock.nowMs();
        this.#touch(conn);
        this.#setStatus({
          state: 'connected',
          connectedSince: conn.welcomedAt,
          lastConnectedAt: conn.welcomedAt,
          lastError: undefined,
          lastCloseCode: undefined,
        });
        this.#log.info({ url: this.#opts.url }, 'Connected to coordinator');
        conn.unsubscribe.push(
          this.#opts.core.onInventoryChange(() => this.#sendInventory(conn)),
          this.#opts.core.onEvent(() => this.#pumpEvents(conn)),
        );
        const onPass = this.#opts.core.onHealthPass?.bind(this.#opts.core);
        if (onPass !== undefined) conn.unsubscribe.push(onPass(() => this.#sendHealth(conn)));
        this.#sendInventory(conn);
        this.#sendHealth(conn);
        this.#pumpEvents(conn);
        return;
      }
      case 'command': {
        if (conn.phase !== 'ready') {
          this.#fail(conn, CLOSE_CODES.invalidMessage, 'command before welcome');
          return;
        }
        const jws = msg.jws;
        // Handed over at once, in arrival order: the core takes commands in the order of its
        // calls (they carry increasing seq numbers), and each result goes back when it is ready
        // (the coordinator matches results by jti), so a long create does not hold up the rest.
        const handled = this.#opts.core.handleCommand(jws).then(
          (result) => this.#send(conn, { type: 'result', jws: result }),
          (err: unknown) => {
            // The core answers bad input with a signed refusal; a throw is an internal fault.
            this.#log.error(
              { err: err instanceof Error ? err.message : String(err) },
              'Command handling failed',
            );
          },
        );
        conn.commands = Promise.all([conn.commands, handled]).then(() => undefined);
        return;
      }
      case 'ack': {
        if (conn.phase !== 'ready') {
          this.#fail(conn, CLOSE_CODES.invalidMessage, 'ack before welcome');
          return;
        }
        if (msg.seq > conn.sentUpTo) {
          this.#fail(conn, CLOSE_CODES.invalidMessage, `ack of unsent event ${msg.seq}`);
          return;
        }
        this.#opts.core.ackEvents(msg.seq);
        this.#pumpEvents(conn);
        return;
      }
    }
  }

  #sendInventory(conn: Connection): void {
    if (conn.phase !== 'ready') return;
    this.#send(conn, this.#opts.core.inventory());
  }

  #sendHealth(conn: Connection): void {
    if (conn.phase !== 'ready' || this.#opts.core.health === undefined) return;
    this.#send(conn, this.#opts.core.health());
  }

  #pumpEvents(conn: Connection): void {
    if (conn.phase !== 'ready') return;
    const window = this.#opts.eventWindow ?? 100;
    // At most `window` are in flight, so twice that covers them plus a window of unsent ones.
    const pending = this.#opts.core.pendingEvents(window * 2);
    const inFlight = pending.filter((e) => e.seq <= conn.sentUpTo).length;
    const unsent = pending.filter((e) => e.seq > conn.sentUpTo).slice(0, window - inFlight);
    for (const event of unsent) {
      this.#send(conn, { type: 'event', seq: event.seq, jws: event.jws });
      conn.sentUpTo = event.seq;
    }
  }

  #send(conn: Connection, msg: AgentMessage): void {
    if (conn.ws.readyState !== WebSocket.OPEN || conn.phase === 'closing') return;
    conn.ws.send(JSON.stringify(msg), (err) => {
      if (err !== undefined && err !== null) {
        this.#log.warn({ type: msg.type, err: err.message }, 'Sending to coordinator failed');
      }
    });
  }

  #touch(conn: Connection): void {
    if (conn.phase !== 'ready' || conn.heartbeatTimeoutMs <= 0) return;
    clearTimeout(conn.watchdog);
    conn.watchdog = setTimeout(() => {
      this.#log.warn(
        { url: this.#opts.url, silentMs: conn.heartbeatTimeoutMs },
        'Coordinator missed its heartbeats; reconnecting',
      );
      this.#setStatus({ lastError: `No heartbeat for ${conn.heartbeatTimeoutMs} ms` });
      conn.phase = 'closing';
      conn.ws.terminate();
    }, conn.heartbeatTimeoutMs);
  }

  /** Closes the connection with a protocol error code. */
  #fail(conn: Connection, code: number, reason: string, log = true): void {
    if (conn.phase === 'closing') return;
    if (log) this.#log.warn({ code, reason }, 'Closing coordinator session');
    if (code === CLOSE_CODES.invalidMessage)
      this.#setStatus({ lastError: `Protocol error: ${reason}` });
    conn.phase = 'closing';
    clearTimeout(conn.watchdog);
    if (conn.ws.readyState === WebSocket.OPEN) {
      conn.ws.close(code, reason);
      const cut = setTimeout(() => conn.ws.terminate(), 5_000);
      cut.unref();
    } else {
      conn.ws.terminate();
    }
  }

  #onClose(conn: Connection, code: number, reason: string): void {
    clearTimeout(conn.handshakeTimer);
    clearTimeout(conn.watchdog);
    for (const off of conn.unsubscribe) off();
    conn.unsubscribe = [];
    conn.phase = 'closing';
    if (this.#conn !== conn) return;
    this.#conn = undefined;
    const now = this.#clock.nowMs();
    const stableAfter = this.#opts.stableAfterMs ?? 30_000;
    if (conn.welcomedAt !== undefined && now - conn.welcomedAt >= stableAfter) {
      this.#backoff.reset();
    }
    if (code === CLOSE_CODES.authenticationFailed || code === CLOSE_CODES.revoked) {
      // Retrying cannot help until an operator acts; keep trying (at the capped delay) so the
      // host comes back by itself once it is re-enrolled or un-revoked.
      this.#log.error(
        {
          code,
          reason,
          recovery:
            code === CLOSE_CODES.revoked
              ? 'The coordinator revoked this host; re-enroll it to bring it back'
              : 'Check that the host key matches the one enrolled, or re-enroll the host',
        },
        'Coordinator refused this host',
      );
    } else if (conn.welcomedAt !== undefined) {
      this.#log.info({ code, reason }, 'Disconnected from coordinator');
    }
    this.#setStatus({
      lastDisconnectedAt: conn.welcomedAt === undefined ? this.#status.lastDisconnectedAt : now,
      lastCloseCode: code,
      connectedSince: undefined,
      ...(reason !== '' && code !== 1000 ? { lastError: `Closed ${code}: ${reason}` } : {}),
    });
    if (this.#stopping) {
      this.#setStatus({ state: 'stopped' });
      this.#resolveClosed?.();
      return;
    }
    const delay = this.#backoff.next();
    this.#setStatus({ state: 'backoff', attempt: this.#backoff.attempt, nextRetryAt: now + delay });
    this.#log.debug({ delayMs: delay, attempt: this.#backoff.attempt }, 'Reconnecting later');
    this.#retryTimer = setTimeout(() => this.#connect(), delay);
  }
}
