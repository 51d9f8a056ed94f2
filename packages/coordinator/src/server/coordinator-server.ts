/**
 * The coordinator's one HTTP(S) server: the admin API under `/v1/` (bearer tokens, roles) and the
 * agent WebSocket at `/v1/agent` (`noServer` + `handleUpgrade`, subprotocol `launchplane.v1`,
 * no compression, capped frames). Any other upgrade is refused.
 */
import { nowSec } from '@launchplane/shared';
import { systemClock } from '../adapters/system-clock.js';
import { createServer as createHttpServer } from 'node:http';
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import type { Duplex } from 'node:stream';
import { WebSocketServer } from 'ws';
import {
  LaunchplaneError,
  MAX_PAYLOAD_BYTES,
  PROTOCOL_SUBPROTOCOL,
  enrollChallengeRequestSchema,
  enrollRequestSchema,
  tlsPinOfCertificate,
  toLaunchplaneError,
} from '@launchplane/shared';
import type { Logger } from '../ports/logger.js';
import type { CoordinatorStore } from '../ports/store.js';
import type { CoordinatorIdentity } from '../keys/coordinator-identity.js';
import { agentUrlOf } from '../config/coordinator-config.js';
import { adminRoutes } from './admin-routes.js';
import { WsAgentHub } from './agent-hub.js';
import { AuditTally } from './audit-tally.js';
import { writeAudit } from '../audit/audit-writer.js';
import { EnrollmentChallenges, enroll, isAuditedRefusal } from './enrollment.js';
import {
  WEBHOOK_KIND,
  WEBHOOK_PATH,
  readSignedDelivery,
  webhookNotConfigured,
  type GitHubWebhookOptions,
} from './github-webhook.js';
import { readJsonBody, sendError, sendJson } from './http-io.js';
import { authenticate } from './operator-auth.js';
import {
  DEFAULT_PRE_AUTH_LIMITS,
  PreAuthGuard,
  type PreAuthLimits,
  type Source,
} from './pre-auth-guard.js';
import { parseBody, type Route } from '../http/route.js';
import { compilePath, roleAllows, type PathMatcher } from './routes.js';

/** Options of {@link CoordinatorServer.create}. */
export interface CoordinatorServerOptions {
  store: CoordinatorStore;
  identity: CoordinatorIdentity;
  coordinatorId: string;
  logger: Logger;
  /** Default 127.0.0.1. */
  host?: string;
  /** 0 picks a free port. Default 7443. */
  port?: number;
  /** PEM cert and key; without them the server speaks plain HTTP. */
  tls?: { cert: string; key: string };
  /** The URL agents and the CLI dial; default the URL the server listens on. */
  publicUrl?: string;
  /** Largest request body. Default 1 MiB. */
  maxBodyBytes?: number;
  /** Largest WebSocket message. Default 256 KiB (docs/design/protocol.md "Limits"). */
  maxPayloadBytes?: number;
  heartbeatSec?: number;
  handshakeTimeoutMs?: number;
  commandTimeoutMs?: number;
  /** Signed command lifetime in seconds (≤ 300). Default 120. */
  commandLifetimeSec?: number;
  /** Sockets allowed mid-handshake at once; more are closed with 1013. Default 2048. */
  maxPendingHandshakes?: number;
  /** Bytes queued for one agent before it counts as not reading and is cut off. Default 1 MiB. */
  maxBufferedBytes?: number;
  /** Per-source limits before authentication (coordinator.yaml `limits`). */
  limits?: Partial<PreAuthLimits>;
  /** How often refusal counts are written into their audit records, in ms. Default 2 000. */
  auditFlushMs?: number;
  /** `POST /v1/github/webhook` (coordinator.yaml `github.webhook`); 404 without it. */
  githubWebhook?: GitHubWebhookOptions;
  /** Unix seconds now; default the system clock. */
  nowSec?: () => number;
}

/** Largest body accepted on the unauthenticated enrollment endpoints. */
const ENROLL_MAX_BODY_BYTES = 16 * 1024;

/** What an unauthenticated request to a path counts as in the refusal tally. */
function kindOf(method: string, path: string): string {
  if (method === 'POST' && path === '/v1/enroll/challenge') return 'enroll-challenge';
  if (method === 'POST' && path === '/v1/enroll') return 'enroll';
  if (path === WEBHOOK_PATH) return WEBHOOK_KIND;
  return 'api';
}

const LOOPBACK = /^(127\.\d+\.\d+\.\d+|::1|::ffff:127\.\d+\.\d+\.\d+)$/;

interface MountedRoute {
  route: Route;
  matcher: PathMatcher;
}

/** The running server. */
export class CoordinatorServer {
  readonly hub: WsAgentHub;
  /** Per-source limits and refusal counting before authentication. */
  readonly guard: PreAuthGuard;
  /** Open enrollment challenges. */
  readonly challenges: EnrollmentChallenges;
  /** `sha256//…` of the served certificate's key; undefined without TLS. */
  readonly tlsPin: string | undefined;
  readonly #opts: CoordinatorServerOptions;
  readonly #server: Server;
  readonly #wss: WebSocketServer;
  readonly #routes: MountedRoute[] = [];
  readonly #now: () => number;
  #url = '';
  #publicUrl = '';

  private constructor(opts: CoordinatorServerOptions) {
    this.#opts = opts;
    this.#now = opts.nowSec ?? (() => nowSec(systemClock));
    this.tlsPin = opts.tls === undefined ? undefined : tlsPinOfCertificate(opts.tls.cert);
    this.guard = new PreAuthGuard({
      limits: { ...DEFAULT_PRE_AUTH_LIMITS, ...opts.limits },
      tally: new AuditTally({
        store: opts.store,
        logger: opts.logger,
        now: this.#now,
        ...(opts.auditFlushMs === undefined ? {} : { flushMs: opts.auditFlushMs }),
      }),
    });
    const guard = this.guard;
    this.challenges = new EnrollmentChallenges({
      onSettled: (c) => guard.release('challenge', guard.source(c.source)),
    });
    this.hub = new WsAgentHub({
      guard,
      store: opts.store,
      identity: opts.identity,
      coordinatorId: opts.coordinatorId,
      logger: opts.logger,
      nowSec: this.#now,
      ...(opts.heartbeatSec === undefined ? {} : { heartbeatSec: opts.heartbeatSec }),
      ...(opts.handshakeTimeoutMs === undefined
        ? {}
        : { handshakeTimeoutMs: opts.handshakeTimeoutMs }),
      ...(opts.commandTimeoutMs === undefined ? {} : { commandTimeoutMs: opts.commandTimeoutMs }),
      ...(opts.commandLifetimeSec === undefined
        ? {}
        : { commandLifetimeSec: opts.commandLifetimeSec }),
      ...(opts.maxPendingHandshakes === undefined
        ? {}
        : { maxPendingHandshakes: opts.maxPendingHandshakes }),
      ...(opts.maxBufferedBytes === undefined ? {} : { maxBufferedBytes: opts.maxBufferedBytes }),
    });
    const handler = (req: IncomingMessage, res: ServerResponse) => {
      this.#handle(req, res).catch((err: unknown) => {
        opts.logger.error({ err: String(err) }, 'request handler failed');
        sendError(res, toLaunchplaneError(err));
      });
    };
    this.#server =
      opts.tls === undefined
        ? createHttpServer(handler)
        : createHttpsServer({ cert: opts.tls.cert, key: opts.tls.key }, handler);
    // Receiving a request (headers and body) must finish in time; answering may take long
    // (a lane action with `wait`), which these limits do not cover.
    this.#server.headersTimeout = 30_000;
    this.#server.requestTimeout = 60_000;
    this.#wss = new WebSocketServer({
      noServer: true,
      maxPayload: opts.maxPayloadBytes ?? MAX_PAYLOAD_BYTES,
      perMessageDeflate: false,
      handleProtocols: (protocols) =>
        protocols.has(PROTOCOL_SUBPROTOCOL) ? PROTOCOL_SUBPROTOCOL : false,
    });
    this.#server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) =>
      this.#upgrade(req, socket, head),
    );
    this.registerRoutes(
      adminRoutes({
        store: opts.store,
        hub: this.hub,
        identity: opts.identity,
        coordinatorId: opts.coordinatorId,
        now: this.#now,
        tlsPin: this.tlsPin,
      }),
    );
  }

  /** Creates the server and starts listening. */
  static async create(opts: CoordinatorServerOptions): Promise<CoordinatorServer> {
    const s = new CoordinatorServer(opts);
    await new Promise<void>((resolve, reject) => {
      s.#server.once('error', reject);
      s.#server.listen(opts.port ?? 7443, opts.host ?? '127.0.0.1', () => {
        s.#server.off('error', reject);
        resolve();
      });
    });
    const addr = s.#server.address() as AddressInfo;
    const host = addr.family === 'IPv6' ? `[${addr.address}]` : addr.address;
    s.#url = `${opts.tls === undefined ? 'http' : 'https'}://${host}:${addr.port}`;
    s.#publicUrl = opts.publicUrl ?? s.#url;
    if (opts.publicUrl === undefined && (addr.address === '0.0.0.0' || addr.address === '::')) {
      opts.logger.warn(
        { url: s.#url },
        'publicUrl is not set and the server listens on all addresses: enrolled agents will be told to dial an unroutable URL; set publicUrl',
      );
    }
    opts.logger.info({ url: s.#url, publicUrl: s.#publicUrl }, 'coordinator listening');
    return s;
  }

  /** The URL the server listens on. */
  get url(): string {
    return this.#url;
  }

  /** What agents dial. */
  get agentUrl(): string {
    return agentUrlOf(this.#publicUrl);
  }

  /**
   * Mounts more routes (the control API). A route whose method and path are already mounted is
   * refused, so one handler can never shadow another silently.
   */
  registerRoutes(routes: readonly Route[]): void {
    for (const route of routes) {
      if (!route.path.startsWith('/v1/'))
        throw new Error(`Route "${route.path}" is not under /v1/`);
      if (
        this.#routes.some((m) => m.route.method === route.method && m.route.path === route.path)
      ) {
        throw new Error(`Route ${route.method} ${route.path} is already mounted`);
      }
      this.#routes.push({ route, matcher: compilePath(route.path) });
    }
  }

  /** Every mounted route's method, path and least role (for docs and tests). */
  routes(): { method: string; path: string; role: string }[] {
    return this.#routes.map(({ route }) => ({
      method: route.method,
      path: route.path,
      role: route.role,
    }));
  }

  /** Stops accepting, closes agent sessions and waits for the server to close. */
  async close(): Promise<void> {
    this.hub.close();
    this.#wss.close();
    this.#server.closeAllConnections();
    await new Promise<void>((resolve) => this.#server.close(() => resolve()));
    await this.guard.tally.close();
  }

  #upgrade(req: IncomingMessage, socket: Duplex, head: Buffer): void {
    // Node hands an upgrade's socket over without an error listener: a peer
    // that resets it while we refuse or authenticate must not crash the process.
    socket.on('error', () => socket.destroy());
    const refuse = (status: number, text: string, extra = '') => {
      socket.end(
        `HTTP/1.1 ${status} ${text}\r\nConnection: close\r\n${extra}Content-Length: 0\r\n\r\n`,
      );
    };
    const path = new URL(req.url ?? '/', 'http://x').pathname;
    if (path !== '/v1/agent') return refuse(404, 'Not Found');
    const offered = (req.headers['sec-websocket-protocol'] ?? '').split(',').map((p) => p.trim());
    if (!offered.includes(PROTOCOL_SUBPROTOCOL)) return refuse(400, 'Bad Request');
    const { guard } = this;
    const source = guard.source(req.socket.remoteAddress);
    void (async () => {
      // A source past its refusal budget, or holding its share of handshakes, is turned away
      // before any WebSocket is made for it; other sources are not affected.
      if (await guard.isBlocked(source)) {
        guard.refused(source, 'agent-handshake', 'LP_RATE_LIMITED');
        return refuse(429, 'Too Many Requests', 'Retry-After: 60\r\n');
      }
      if (!guard.tryAcquire('handshake', source)) {
        guard.refused(source, 'agent-handshake', 'LP_RATE_LIMITED');
        return refuse(429, 'Too Many Requests', 'Retry-After: 5\r\n');
      }
      let accepted = false;
      this.#wss.handleUpgrade(req, socket, head, (ws) => {
        accepted = true;
        this.hub.accept(ws, { source, release: () => guard.release('handshake', source) });
      });
      // ws answers a bad upgrade itself, without calling back (synchronously either way).
      if (!accepted) guard.release('handshake', source);
    })().catch(() => socket.destroy());
  }

  async #handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const { store, logger } = this.#opts;
    const url = new URL(req.url ?? '/', 'http://x');
    const method = req.method ?? 'GET';
    const path = url.pathname;
    const now = this.#now();
    if (method === 'GET' && path === '/v1/health') {
      return sendJson(res, 200, {
        ok: true,
        coordinatorId: this.#opts.coordinatorId,
        coordinatorFingerprint: this.#opts.identity.fingerprint,
      });
    }
    const { guard } = this;
    const source = guard.source(req.socket.remoteAddress);
    // Until it has authenticated, a request holds one of its source's pending slots.
    let holding = guard.tryAcquire('request', source);
    const release = () => {
      if (holding) guard.release('request', source);
      holding = false;
    };
    res.once('close', release);
    let authenticated = false;
    try {
      if (!holding) throw PreAuthGuard.limited('unauthenticated requests at once');
      if (method === 'POST' && (path === '/v1/enroll' || path === '/v1/enroll/challenge')) {
        if (await guard.isBlocked(source)) throw PreAuthGuard.limited('refused requests');
        return await this.#enrollment(req, res, path, source, now);
      }
      if (path === WEBHOOK_PATH) {
        if (method !== 'POST') {
          throw new LaunchplaneError('LP_USAGE', `Method ${method} is not allowed on "${path}"`, {
            details: { httpStatus: 405 },
          });
        }
        if (await guard.isBlocked(source)) throw PreAuthGuard.limited('refused requests');
        const hook = this.#opts.githubWebhook;
        if (hook === undefined) throw webhookNotConfigured();
        const delivery = await readSignedDelivery(req, hook, now);
        authenticated = true;
        release();
        const answer = await hook.receiver.receive(delivery).catch((err: unknown) => {
          const e = toLaunchplaneError(err);
          // Signed by someone holding the secret, yet not a payload the store takes.
          logger.warn(
            {
              deliveryId: delivery.deliveryId,
              event: delivery.event,
              code: e.code,
              err: e.message,
            },
            'signed webhook delivery refused',
          );
          throw e;
        });
        if (answer.outcome === 'duplicate') {
          // Signed, but taken before: a replay or a redelivery. Counted against the source like
          // a refusal, so replaying a captured delivery costs the replayer, and audited per minute.
          guard.refused(source, WEBHOOK_KIND, 'LP_REPLAYED', 'github.webhook.replayed');
        } else if (answer.outcome === 'ignored') {
          guard.tally.record({
            action: 'github.webhook.ignored',
            source: source.key,
            kind: `event:${delivery.event}`,
          });
        }
        return sendJson(res, answer.outcome === 'ignored' ? 202 : 200, {
          outcome: answer.outcome,
          ...(answer.jobId === undefined ? {} : { jobId: answer.jobId }),
        });
      }

      let principal;
      try {
        principal = await authenticate(store, req.headers.authorization);
      } catch (err) {
        const e = toLaunchplaneError(err);
        // A source past its budget learns only that; the bad token is still counted.
        throw (await guard.isBlocked(source)) ? PreAuthGuard.limited('refused requests') : e;
      }
      authenticated = true;
      release();

      const matches = this.#routes
        .map((m) => ({ route: m.route, params: m.matcher.match(path) }))
        .filter((m) => m.params !== undefined);
      const hit = matches.find((m) => m.route.method === method);
      if (hit === undefined) {
        if (matches.length > 0) {
          throw new LaunchplaneError('LP_USAGE', `Method ${method} is not allowed on "${path}"`, {
            details: { httpStatus: 405 },
          });
        }
        throw new LaunchplaneError('LP_NOT_FOUND', `No API route "${method} ${path}"`);
      }
      if (!roleAllows(principal.role, hit.route.role)) {
        const e = new LaunchplaneError(
          'LP_FORBIDDEN',
          `Token role "${principal.role}" cannot ${method} ${hit.route.path}; it needs "${hit.route.role}"`,
          { recovery: `Use a token with the ${hit.route.role} role` },
        );
        await writeAudit(store, now, {
          actor: principal.tokenId,
          action: 'api.request',
          outcome: 'refused',
          params: { method, path: hit.route.path },
          code: e.code,
          message: e.message,
        });
        throw e;
      }
      const body = await readJsonBody(req, this.#opts.maxBodyBytes ?? 1024 * 1024);
      const abort = new AbortController();
      res.on('close', () => {
        if (!res.writableFinished) abort.abort();
      });
      const answer = await hit.route.handler({
        actor: principal.tokenId,
        role: principal.role,
        params: hit.params ?? {},
        query: url.searchParams,
        body,
        signal: abort.signal,
      });
      sendJson(res, answer.status, answer.body);
    } catch (err) {
      const e = toLaunchplaneError(err);
      // Every refusal before authentication is counted per source and minute, not audited one
      // by one; refusals of an enrollment whose proof verified were audited by enroll().
      if (!authenticated && !isAuditedRefusal(err))
        guard.refused(source, kindOf(method, path), e.code);
      if (e.code === 'LP_INTERNAL') {
        logger.error({ method, path, err: e.message }, 'request failed');
      }
      if (e.code === 'LP_RATE_LIMITED' && !res.headersSent) {
        const retryAfter = e.details.retryAfterSec;
        res.setHeader('retry-after', String(typeof retryAfter === 'number' ? retryAfter : 60));
      }
      sendError(res, e);
    } finally {
      release();
    }
  }

  /** `POST /v1/enroll/challenge` and `POST /v1/enroll` (docs/security.md). */
  async #enrollment(
    req: IncomingMessage,
    res: ServerResponse,
    path: string,
    source: Source,
    now: number,
  ): Promise<void> {
    const { store, logger } = this.#opts;
    // Unauthenticated: a small cap, since a real request is well under 1 KiB.
    const raw = await readJsonBody(req, ENROLL_MAX_BODY_BYTES);
    if (path === '/v1/enroll/challenge') {
      const body = parseBody(enrollChallengeRequestSchema, raw);
      if (!this.guard.tryAcquire('challenge', source)) {
        throw PreAuthGuard.limited('open enrollment challenges');
      }
      let answer;
      try {
        answer = this.challenges.issue(
          { hostId: body.hostId, agentNonce: body.agentNonce, source: source.key },
          { coordinatorId: this.#opts.coordinatorId, identity: this.#opts.identity, now },
        );
      } catch (err) {
        this.guard.release('challenge', source);
        throw err;
      }
      return sendJson(res, 200, answer);
    }
    const body = parseBody(enrollRequestSchema, raw);
    const answer = await enroll(store, body, {
      coordinatorId: this.#opts.coordinatorId,
      identity: this.#opts.identity,
      agentUrl: this.agentUrl,
      now,
      challenge: this.challenges.take(body.nonce, now),
      transport: {
        tls: this.#opts.tls !== undefined,
        loopback: LOOPBACK.test(req.socket.remoteAddress ?? ''),
      },
    });
    logger.info({ hostId: answer.hostId }, 'host enrolled');
    sendJson(res, 201, answer);
  }
}
