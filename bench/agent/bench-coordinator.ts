/**
 * The coordinator side of the bench, as small as the protocol allows: the enrollment handshake
 * (`POST /v1/enroll/challenge`, then `POST /v1/enroll` with a token proof) over HTTP
 * and the session over WebSocket (both on 127.0.0.1, port 0): challenge → hello verified with the
 * enrolled key → welcome → inventory and events (each event verified and acknowledged) → signed
 * commands, whose results are verified with the host key before they count as answered.
 */
import { randomBytes, randomUUID } from 'node:crypto';
import type { KeyObject } from 'node:crypto';
import { createServer } from 'node:http';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { WebSocketServer } from 'ws';
import type { RawData, WebSocket } from 'ws';
import {
  DEFAULT_HEARTBEAT_SEC,
  MAX_PAYLOAD_BYTES,
  PROTOCOL_SUBPROTOCOL,
  agentMessageSchema,
  enrollChallengeRequestSchema,
  enrollProofKey,
  enrollProofMatches,
  enrollRequestSchema,
  exportPublicJwk,
  fingerprint,
  generateEd25519KeyPair,
  importPublicJwk,
  newNonce,
  parseEnrollmentToken,
  signCommand,
  signEnrollChallenge,
  signEnrolled,
  verifyEvent,
  verifyHello,
  verifyResult,
} from '@launchplane/shared';
import type { Command, InventoryMessage, ResultPayload } from '@launchplane/shared';

/** Options of {@link BenchCoordinator.start}. */
export interface BenchCoordinatorOptions {
  coordinatorId: string;
  hostId: string;
  /** The enrollment token (`lpe_<id>_<secret>`) the agent must prove. */
  enrollToken: string;
}

interface Pending {
  resolve: (result: ResultPayload) => void;
  reject: (error: Error) => void;
  timer: NodeJS.Timeout;
}

/** A minimal coordinator for one host. */
export class BenchCoordinator {
  readonly #opts: BenchCoordinatorOptions;
  readonly #keys = generateEd25519KeyPair();
  readonly #http: Server;
  readonly #wss: WebSocketServer;
  readonly #pending = new Map<string, Pending>();
  /** Open enrollment challenges: the agent's nonce by the coordinator's. */
  readonly #challenges = new Map<string, string>();
  #hostKey: KeyObject | undefined;
  #socket: WebSocket | undefined;
  #seq = 0;
  #inventory: InventoryMessage | undefined;
  #events = 0;
  #pinger: NodeJS.Timeout | undefined;
  #sessionListeners: (() => void)[] = [];
  /** Why the last connection was refused or closed, for error messages. */
  lastProblem: string | undefined;

  private constructor(opts: BenchCoordinatorOptions, http: Server, wss: WebSocketServer) {
    this.#opts = opts;
    this.#http = http;
    this.#wss = wss;
  }

  /** Starts the HTTP and WebSocket listeners. */
  static async start(opts: BenchCoordinatorOptions): Promise<BenchCoordinator> {
    const wss = new WebSocketServer({
      host: '127.0.0.1',
      port: 0,
      maxPayload: MAX_PAYLOAD_BYTES,
      perMessageDeflate: false,
      handleProtocols: (p) => (p.has(PROTOCOL_SUBPROTOCOL) ? PROTOCOL_SUBPROTOCOL : false),
    });
    await new Promise<void>((resolve, reject) => {
      wss.once('listening', resolve);
      wss.once('error', reject);
    });
    const http = createServer();
    const c = new BenchCoordinator(opts, http, wss);
    http.on('request', (req, res) => {
      let body = '';
      req.on('data', (chunk: Buffer) => (body += chunk.toString('utf8')));
      req.on('end', () => {
        const answer = c.#enroll(req.method ?? '', req.url ?? '', body);
        res.writeHead(answer.status, { 'content-type': 'application/json' });
        res.end(JSON.stringify(answer.body));
      });
    });
    await new Promise<void>((resolve) => http.listen(0, '127.0.0.1', resolve));
    wss.on('connection', (ws) => c.#onConnection(ws));
    c.#pinger = setInterval(() => c.#socket?.ping(), 5_000);
    return c;
  }

  /** Base URL for `launchplane-agent enroll --coordinator`. */
  get enrollUrl(): string {
    return `http://127.0.0.1:${(this.#http.address() as AddressInfo).port}`;
  }

  /** The coordinator key's fingerprint, for `--coordinator-fingerprint`. */
  get fingerprint(): string {
    return fingerprint(this.#keys.publicKey);
  }

  /** True while an authenticated session is open. */
  get connected(): boolean {
    return this.#socket !== undefined;
  }

  /** The last inventory the agent sent. */
  get inventory(): InventoryMessage | undefined {
    return this.#inventory;
  }

  /** Events received, verified and acknowledged. */
  get eventsAcked(): number {
    return this.#events;
  }

  /** Resolves once an authenticated session is open. */
  async waitForSession(timeoutMs: number): Promise<void> {
    if (this.#socket !== undefined && this.#inventory !== undefined) return;
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => {
        reject(
          new Error(
            `The agent did not open a session within ${timeoutMs} ms${this.lastProblem === undefined ? '' : ` (${this.lastProblem})`}`,
          ),
        );
      }, timeoutMs);
      this.#sessionListeners.push(() => {
        clearTimeout(timer);
        resolve();
      });
    });
  }

  /**
   * Signs `cmd`, sends it and resolves with the verified result. Rejects when the session is not
   * open, the result does not verify, or no result arrives within `timeoutMs`.
   */
  send(cmd: Command, timeoutMs = 60_000): Promise<ResultPayload> {
    const ws = this.#socket;
    if (ws === undefined) return Promise.reject(new Error('No agent session is open'));
    const iat = Math.floor(Date.now() / 1000);
    const jti = randomUUID();
    this.#seq += 1;
    const jws = signCommand(
      {
        iss: this.#opts.coordinatorId,
        aud: this.#opts.hostId,
        iat,
        exp: iat + 120,
        jti,
        seq: this.#seq,
        cmd,
      },
      { privateKey: this.#keys.privateKey },
    );
    return new Promise<ResultPayload>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#pending.delete(jti);
        reject(new Error(`No result for ${cmd.type} within ${timeoutMs} ms`));
      }, timeoutMs);
      this.#pending.set(jti, { resolve, reject, timer });
      ws.send(JSON.stringify({ type: 'command', jws }));
    });
  }

  /** Closes the session and the listeners. */
  async close(): Promise<void> {
    clearInterval(this.#pinger);
    for (const [jti, p] of this.#pending) {
      clearTimeout(p.timer);
      p.reject(new Error('Coordinator closed'));
      this.#pending.delete(jti);
    }
    for (const ws of this.#wss.clients) ws.terminate();
    await new Promise<void>((resolve) => this.#wss.close(() => resolve()));
    this.#http.closeAllConnections();
    await new Promise<void>((resolve) => this.#http.close(() => resolve()));
  }

  /** The enrollment handshake (docs/security.md): a signed challenge, then a checked proof. */
  #enroll(method: string, url: string, body: string): { status: number; body: unknown } {
    const refuse = (status: number, code: string, message: string) => ({
      status,
      body: { error: { code, message } },
    });
    if (method !== 'POST' || (url !== '/v1/enroll' && url !== '/v1/enroll/challenge'))
      return refuse(404, 'LP_NOT_FOUND', 'Not found');
    let json: unknown;
    try {
      json = JSON.parse(body);
    } catch {
      return refuse(400, 'LP_INVALID_MESSAGE', 'Body is not JSON');
    }
    const { coordinatorId } = this.#opts;
    if (url === '/v1/enroll/challenge') {
      const parsed = enrollChallengeRequestSchema.safeParse(json);
      if (!parsed.success) return refuse(400, 'LP_INVALID_MESSAGE', 'Invalid challenge request');
      const nonce = newNonce();
      const expiresAt = Math.floor(Date.now() / 1000) + 60;
      this.#challenges.set(nonce, parsed.data.agentNonce);
      return {
        status: 200,
        body: {
          coordinatorId,
          coordinatorKey: exportPublicJwk(this.#keys.publicKey),
          nonce,
          expiresAt,
          sig: signEnrollChallenge(
            { coordinatorId, ...parsed.data, nonce, expiresAt },
            this.#keys.privateKey,
          ),
        },
      };
    }
    const parsed = enrollRequestSchema.safeParse(json);
    if (!parsed.success) return refuse(400, 'LP_INVALID_MESSAGE', 'Invalid enrollment request');
    const req = parsed.data;
    const agentNonce = this.#challenges.get(req.nonce);
    this.#challenges.delete(req.nonce);
    const token = parseEnrollmentToken(this.#opts.enrollToken);
    const hostKey = importPublicJwk(req.publicKey);
    if (
      agentNonce === undefined ||
      token === undefined ||
      req.tokenId !== token.id ||
      req.hostId !== this.#opts.hostId ||
      !enrollProofMatches(
        enrollProofKey(token.secret),
        {
          coordinatorId,
          hostId: req.hostId,
          tokenId: req.tokenId,
          hostFingerprint: fingerprint(hostKey),
          agentNonce,
          nonce: req.nonce,
        },
        req.proof,
      )
    )
      return refuse(401, 'LP_TOKEN_INVALID', 'Unknown or used enrollment token');
    this.#hostKey = hostKey;
    const port = (this.#wss.address() as AddressInfo).port;
    const agentUrl = `ws://127.0.0.1:${port}/v1/agent`;
    return {
      status: 201,
      body: {
        hostId: req.hostId,
        coordinatorId,
        coordinatorKey: exportPublicJwk(this.#keys.publicKey),
        agentUrl,
        hostFingerprint: fingerprint(hostKey),
        sig: signEnrolled(
          {
            coordinatorId,
            hostId: req.hostId,
            hostFingerprint: fingerprint(hostKey),
            agentUrl,
            nonce: req.nonce,
          },
          this.#keys.privateKey,
        ),
      },
    };
  }

  #onConnection(ws: WebSocket): void {
    const nonce = randomBytes(32).toString('base64url');
    let authenticated = false;
    ws.on('message', (data: RawData) => {
      try {
        const text = Array.isArray(data)
          ? Buffer.concat(data).toString('utf8')
          : Buffer.from(data as Buffer).toString('utf8');
        const msg = agentMessageSchema.parse(JSON.parse(text));
        const hostKey = this.#hostKey;
        if (hostKey === undefined) throw new Error('no host is enrolled');
        switch (msg.type) {
          case 'hello':
            if (authenticated) throw new Error('repeated hello');
            verifyHello(msg, {
              publicKey: hostKey,
              coordinatorId: this.#opts.coordinatorId,
              nonce,
            });
            authenticated = true;
            this.#socket?.close(4409, 'replaced by a newer session');
            this.#socket = ws;
            ws.send(JSON.stringify({ type: 'welcome', heartbeatSec: DEFAULT_HEARTBEAT_SEC }));
            return;
          case 'inventory':
            if (!authenticated) throw new Error('inventory before hello');
            this.#inventory = msg;
            for (const listener of this.#sessionListeners.splice(0)) listener();
            return;
          case 'health':
            // The agent's health-loop report: the benchmark does not judge hosts.
            if (!authenticated) throw new Error('health before hello');
            return;
          case 'event':
            if (!authenticated) throw new Error('event before hello');
            verifyEvent(msg.jws, { publicKey: hostKey, hostId: this.#opts.hostId, seq: msg.seq });
            this.#events += 1;
            ws.send(JSON.stringify({ type: 'ack', seq: msg.seq }));
            return;
          case 'result': {
            if (!authenticated) throw new Error('result before hello');
            const result = verifyResult(msg.jws, { publicKey: hostKey, hostId: this.#opts.hostId });
            const pending = this.#pending.get(result.jti);
            if (pending === undefined) return;
            this.#pending.delete(result.jti);
            clearTimeout(pending.timer);
            pending.resolve(result);
            return;
          }
        }
      } catch (error) {
        this.lastProblem = error instanceof Error ? error.message : String(error);
        ws.close(4400, 'invalid message');
      }
    });
    ws.on('close', () => {
      if (this.#socket === ws) this.#socket = undefined;
    });
    ws.send(JSON.stringify({ type: 'challenge', nonce, coordinatorId: this.#opts.coordinatorId }));
  }
}
