/**
 * A minimal agent-side protocol client for coordinator tests: enrolls over HTTP, answers the
 * challenge with a signed hello, and exposes the frames it receives. Deliberately small: the real
 * agent lives in packages/agent; this speaks PROTOCOL.md directly so the server is tested
 * against the contract, not against another implementation.
 */
import type { KeyObject } from 'node:crypto';
import WebSocket from 'ws';
import {
  PROTOCOL_SUBPROTOCOL,
  exportPublicJwk,
  generateEd25519KeyPair,
  signHello,
  type EnrollResponse,
} from '@launchplane/shared';

export interface Frame {
  type: string;
  [k: string]: unknown;
}

/** Generates a host key pair. */
export function newHostKey(): { privateKey: KeyObject; publicKey: KeyObject } {
  return generateEd25519KeyPair();
}

/** `POST /v1/enroll`; returns status and body. */
export async function enrollHost(
  baseUrl: string,
  body: { token: string; hostId: string; publicKey: KeyObject; agentVersion?: string },
): Promise<{ status: number; body: EnrollResponse & { error?: { code: string } } }> {
  const res = await fetch(`${baseUrl}/v1/enroll`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({
      token: body.token,
      hostId: body.hostId,
      publicKey: exportPublicJwk(body.publicKey),
      agentVersion: body.agentVersion ?? '0.0.0-test',
    }),
  });
  return {
    status: res.status,
    body: (await res.json()) as EnrollResponse & { error?: { code: string } },
  };
}

/** One protocol connection. */
export class FakeAgent {
  readonly ws: WebSocket;
  readonly frames: Frame[] = [];
  readonly closed: Promise<{ code: number; reason: string }>;
  #waiters: (() => void)[] = [];

  private constructor(ws: WebSocket) {
    this.ws = ws;
    this.closed = new Promise((resolve) => {
      ws.on('close', (code, reason) => {
        resolve({ code, reason: reason.toString() });
        this.#wake();
      });
    });
    ws.on('message', (data) => {
      this.frames.push(JSON.parse((data as Buffer).toString('utf8')) as Frame);
      this.#wake();
    });
    ws.on('error', () => undefined);
  }

  /** Opens a socket (no hello yet). */
  static async open(
    agentUrl: string,
    opts: { protocols?: string[]; maxPayload?: number; ca?: string } = {},
  ): Promise<FakeAgent> {
    const ws = new WebSocket(agentUrl, opts.protocols ?? [PROTOCOL_SUBPROTOCOL], {
      perMessageDeflate: false,
      followRedirects: false,
      maxPayload: opts.maxPayload ?? 256 * 1024,
      ...(opts.ca === undefined ? {} : { ca: opts.ca }),
    });
    // Listen before 'open': the challenge can arrive in the same read as the upgrade answer.
    const agent = new FakeAgent(ws);
    await new Promise<void>((resolve, reject) => {
      ws.once('open', () => resolve());
      ws.once('error', reject);
      ws.once('unexpected-response', (_req, res) =>
        reject(new Error(`upgrade refused: ${res.statusCode}`)),
      );
    });
    return agent;
  }

  /** Opens, answers the challenge with a hello signed by `privateKey`, waits for welcome. */
  static async connect(
    agentUrl: string,
    opts: { hostId: string; privateKey: KeyObject; claimHostId?: string; agentVersion?: string },
  ): Promise<FakeAgent> {
    const a = await FakeAgent.open(agentUrl);
    await a.hello(opts);
    await a.next('welcome');
    return a;
  }

  /** Answers the challenge. */
  async hello(opts: {
    hostId: string;
    privateKey: KeyObject;
    claimHostId?: string;
    agentVersion?: string;
  }): Promise<void> {
    const challenge = await this.next('challenge');
    const sig = signHello(
      {
        coordinatorId: String(challenge.coordinatorId),
        hostId: opts.hostId,
        nonce: String(challenge.nonce),
      },
      opts.privateKey,
    );
    this.send({
      type: 'hello',
      hostId: opts.claimHostId ?? opts.hostId,
      nonce: challenge.nonce,
      agentVersion: opts.agentVersion ?? '0.0.0-test',
      sig,
    });
  }

  send(frame: object): void {
    this.ws.send(JSON.stringify(frame));
  }

  /** Waits for (and removes) the first frame of `type`; rejects when the socket closes first. */
  async next(type: string, timeoutMs = 10_000): Promise<Frame> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const i = this.frames.findIndex((f) => f.type === type);
      if (i >= 0) return this.frames.splice(i, 1)[0] as Frame;
      if (this.ws.readyState === WebSocket.CLOSED)
        throw new Error(`socket closed before "${type}"`);
      if (Date.now() > deadline) throw new Error(`no "${type}" frame within ${timeoutMs} ms`);
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, 50);
        this.#waiters.push(() => {
          clearTimeout(t);
          resolve();
        });
      });
    }
  }

  close(): void {
    this.ws.close();
  }

  #wake(): void {
    for (const w of this.#waiters.splice(0)) w();
  }
}
