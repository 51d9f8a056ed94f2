/**
 * A minimal agent-side protocol client for coordinator tests: enrolls over HTTP (challenge, then a
 * proof of the token), answers the challenge with a signed hello, and exposes the frames it
 * receives. Deliberately small: the real
 * agent lives in packages/agent; this speaks the protocol directly so the server is tested
 * against the contract, not against another implementation.
 */
import type { KeyObject } from 'node:crypto';
import WebSocket from 'ws';
import {
  PROTOCOL_SUBPROTOCOL,
  computeEnrollProof,
  enrollChallengeResponseSchema,
  enrollProofKey,
  exportPublicJwk,
  fingerprint,
  generateEd25519KeyPair,
  newNonce,
  parseEnrollmentToken,
  signHello,
  type EnrollChallengeResponse,
  type EnrollRequest,
  type EnrollResponse,
  type LaneReport,
} from '@launchplane/shared';
import type { LaneRecord } from '@launchplane/coordinator';

export interface Frame {
  type: string;
  [k: string]: unknown;
}

/** Generates a host key pair. */
export function newHostKey(): { privateKey: KeyObject; publicKey: KeyObject } {
  return generateEd25519KeyPair();
}

/** Where {@link enrollHost} stopped: the challenge it answered, and the request it sent. */
export interface EnrollAttempt {
  challenge: EnrollChallengeResponse & { agentNonce: string };
  request: EnrollRequest;
}

/**
 * Enrolls as an agent does: `POST /v1/enroll/challenge` with a fresh nonce, then `POST /v1/enroll`
 * with a proof of the token for `publicKey` (or for `proveFor`, to play a proxy that swapped the
 * key). A token that is not `lpe_<id>_<secret>` is proven as if its id were all zeros, which the
 * coordinator refuses like any unknown token. Returns the status and body of the second request
 * (or of the first when it was refused).
 */
export async function enrollHost(
  baseUrl: string,
  body: {
    token: string;
    hostId: string;
    publicKey: KeyObject;
    agentVersion?: string;
    proveFor?: KeyObject;
  },
): Promise<{
  status: number;
  body: EnrollResponse & { error?: { code: string } };
  attempt?: EnrollAttempt;
}> {
  const agentNonce = newNonce();
  const first = await postJson(`${baseUrl}/v1/enroll/challenge`, {
    hostId: body.hostId,
    agentNonce,
  });
  if (first.status !== 200) {
    return {
      status: first.status,
      body: first.body as EnrollResponse & { error?: { code: string } },
    };
  }
  const challenge = enrollChallengeResponseSchema.parse(first.body);
  const parts = parseEnrollmentToken(body.token) ?? { id: '0000000000000000', secret: body.token };
  const request: EnrollRequest = {
    tokenId: parts.id,
    hostId: body.hostId,
    publicKey: exportPublicJwk(body.publicKey),
    agentVersion: body.agentVersion ?? '0.0.0-test',
    nonce: challenge.nonce,
    proof: computeEnrollProof(enrollProofKey(parts.secret), {
      coordinatorId: challenge.coordinatorId,
      hostId: body.hostId,
      tokenId: parts.id,
      hostFingerprint: fingerprint(body.proveFor ?? body.publicKey),
      agentNonce,
      nonce: challenge.nonce,
    }),
  };
  const res = await postJson(`${baseUrl}/v1/enroll`, request);
  return {
    status: res.status,
    body: res.body as EnrollResponse & { error?: { code: string } },
    attempt: { challenge: { ...challenge, agentNonce }, request },
  };
}

/** POSTs JSON and parses the JSON answer. */
export async function postJson(
  url: string,
  body: unknown,
): Promise<{ status: number; body: Record<string, unknown> }> {
  const res = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  const text = await res.text();
  return {
    status: res.status,
    body: (text === '' ? {} : JSON.parse(text)) as Record<string, unknown>,
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
    opts: { protocols?: string[]; maxPayload?: number; ca?: string; localAddress?: string } = {},
  ): Promise<FakeAgent> {
    const ws = new WebSocket(agentUrl, opts.protocols ?? [PROTOCOL_SUBPROTOCOL], {
      perMessageDeflate: false,
      followRedirects: false,
      maxPayload: opts.maxPayload ?? 256 * 1024,
      ...(opts.ca === undefined ? {} : { ca: opts.ca }),
      // Another loopback address (127.0.0.2 …) is another source to the coordinator's limits.
      ...(opts.localAddress === undefined ? {} : { localAddress: opts.localAddress }),
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
    opts: {
      hostId: string;
      privateKey: KeyObject;
      claimHostId?: string;
      agentVersion?: string;
      localAddress?: string;
    },
  ): Promise<FakeAgent> {
    const a = await FakeAgent.open(
      agentUrl,
      opts.localAddress === undefined ? {} : { localAddress: opts.localAddress },
    );
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

/** A lane of pool `build` (acme/api, systemd) as the coordinator records it, on host-a. */
export function laneRecordOf(laneId: string, over: Partial<LaneRecord> = {}): LaneRecord {
  return {
    laneId,
    hostId: 'host-a',
    pool: 'build',
    purpose: 'pool',
    scope: { repository: 'acme/api' },
    backend: 'systemd',
    ephemeral: false,
    runnerName: `lp-host-a-build-${laneId.slice(-8)}`,
    runnerId: 11,
    labels: ['launchplane'],
    state: 'starting',
    recovery: undefined,
    lastError: undefined,
    createdAt: 1,
    updatedAt: 1,
    ...over,
  };
}

/** What the lane's agent reports of it, in `state`. */
export function laneReportOf(lane: LaneRecord, state: LaneReport['state']): LaneReport {
  return {
    laneId: lane.laneId,
    name: lane.runnerName,
    pool: lane.pool,
    scope: lane.scope,
    backend: lane.backend,
    ephemeral: lane.ephemeral,
    state,
    labels: lane.labels,
    restarts: 0,
    createdAt: 1,
    updatedAt: 2,
  };
}
