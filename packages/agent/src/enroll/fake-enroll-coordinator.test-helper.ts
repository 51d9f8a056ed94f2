/**
 * Test fixture: the coordinator's side of the enrollment handshake on 127.0.0.1 (HTTP, or HTTPS
 * with a given certificate), built from the shared protocol functions, with knobs that make it
 * misbehave the way an attacker on the path would. Records every request it receives.
 */
import { createServer as createHttpServer } from 'node:http';
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import {
  enrollChallengeRequestSchema,
  enrollProofKey,
  enrollProofMatches,
  enrollRequestSchema,
  exportPublicJwk,
  fingerprint,
  generateEd25519KeyPair,
  importPublicJwk,
  newNonce,
  signEnrollChallenge,
  signEnrolled,
  type Ed25519KeyPair,
} from '@launchplane/shared';

export const COORDINATOR_ID = 'coord-1';

/** One request the fixture received. */
export interface Received {
  method: string | undefined;
  url: string | undefined;
  body: string;
}

/** Ways to misbehave. */
export interface Misbehaviour {
  /** Sign challenges with this key and present it instead of the real one. */
  presentKey?: Ed25519KeyPair;
  /** Answer every challenge with the first signed answer it ever gave (a replay). */
  replayFirstChallenge?: boolean;
  /** Confirm an enrollment for another host key than the one proven. */
  confirmOtherKey?: boolean;
  /** The agent URL to hand out. */
  agentUrl?: string;
  /** Answer this status and body to every request instead. */
  fixed?: { status: number; body?: string; headers?: Record<string, string> };
  /** Never answer. */
  silent?: boolean;
}

/** A running fake coordinator. */
export interface FakeEnrollCoordinator {
  url: string;
  key: Ed25519KeyPair;
  fingerprint: string;
  received: Received[];
  misbehave: Misbehaviour;
  /** Tokens it accepts: the secret of `lpe_<id>_<secret>` by id. */
  tokens: Map<string, string>;
  /** Host keys it recorded, by host id. */
  hosts: Map<string, string>;
  close(): Promise<void>;
}

/** Starts the fixture; with `tls`, it serves HTTPS with that certificate. */
export async function startFakeEnrollCoordinator(tls?: {
  cert: string;
  key: string;
}): Promise<FakeEnrollCoordinator> {
  const key = generateEd25519KeyPair();
  const received: Received[] = [];
  const challenges = new Map<string, { hostId: string; agentNonce: string }>();
  let firstChallenge: string | undefined;
  const fake: FakeEnrollCoordinator = {
    url: '',
    key,
    fingerprint: fingerprint(key.publicKey),
    received,
    misbehave: {},
    tokens: new Map(),
    hosts: new Map(),
    close: async () => {
      server.closeAllConnections();
      await new Promise<void>((r) => server.close(() => r()));
    },
  };
  const json = (res: ServerResponse, status: number, body: unknown): void => {
    res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(body));
  };
  const handle = (req: IncomingMessage, body: string, res: ServerResponse): void => {
    const m = fake.misbehave;
    if (m.silent === true) return;
    if (m.fixed !== undefined) {
      res.writeHead(m.fixed.status, m.fixed.headers ?? {}).end(m.fixed.body ?? '');
      return;
    }
    const signer = m.presentKey ?? key;
    if (req.url === '/v1/enroll/challenge') {
      const r = enrollChallengeRequestSchema.parse(JSON.parse(body));
      if (m.replayFirstChallenge === true && firstChallenge !== undefined) {
        res.writeHead(200, { 'content-type': 'application/json' }).end(firstChallenge);
        return;
      }
      const nonce = newNonce();
      const expiresAt = Math.floor(Date.now() / 1000) + 60;
      challenges.set(nonce, r);
      const answer = JSON.stringify({
        coordinatorId: COORDINATOR_ID,
        coordinatorKey: exportPublicJwk(signer.publicKey),
        nonce,
        expiresAt,
        sig: signEnrollChallenge(
          {
            coordinatorId: COORDINATOR_ID,
            hostId: r.hostId,
            agentNonce: r.agentNonce,
            nonce,
            expiresAt,
          },
          signer.privateKey,
        ),
      });
      firstChallenge ??= answer;
      res.writeHead(200, { 'content-type': 'application/json' }).end(answer);
      return;
    }
    if (req.url === '/v1/enroll') {
      const r = enrollRequestSchema.parse(JSON.parse(body));
      const challenge = challenges.get(r.nonce);
      challenges.delete(r.nonce);
      const secret = fake.tokens.get(r.tokenId);
      const hostFingerprint = fingerprint(importPublicJwk(r.publicKey));
      if (
        challenge === undefined ||
        secret === undefined ||
        !enrollProofMatches(
          enrollProofKey(secret),
          {
            coordinatorId: COORDINATOR_ID,
            hostId: r.hostId,
            tokenId: r.tokenId,
            hostFingerprint,
            agentNonce: challenge.agentNonce,
            nonce: r.nonce,
          },
          r.proof,
        )
      ) {
        json(res, 401, {
          error: { code: 'LP_TOKEN_INVALID', message: 'The enrollment token is not valid' },
        });
        return;
      }
      fake.hosts.set(r.hostId, hostFingerprint);
      const confirmed =
        m.confirmOtherKey === true
          ? fingerprint(generateEd25519KeyPair().publicKey)
          : hostFingerprint;
      const agentUrl = m.agentUrl ?? 'wss://coord.example:7443/v1/agent';
      json(res, 201, {
        hostId: r.hostId,
        coordinatorId: COORDINATOR_ID,
        coordinatorKey: exportPublicJwk(signer.publicKey),
        agentUrl,
        hostFingerprint: confirmed,
        sig: signEnrolled(
          {
            coordinatorId: COORDINATOR_ID,
            hostId: r.hostId,
            hostFingerprint: confirmed,
            agentUrl,
            nonce: r.nonce,
          },
          signer.privateKey,
        ),
      });
      return;
    }
    json(res, 404, { error: { code: 'LP_NOT_FOUND', message: 'Not found' } });
  };
  const listener = (req: IncomingMessage, res: ServerResponse): void => {
    let body = '';
    req.on('data', (c: Buffer) => (body += c.toString()));
    req.on('end', () => {
      received.push({ method: req.method, url: req.url, body });
      handle(req, body, res);
    });
  };
  const server: Server =
    tls === undefined ? createHttpServer(listener) : createHttpsServer(tls, listener);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as AddressInfo).port;
  fake.url = `${tls === undefined ? 'http' : 'https'}://127.0.0.1:${port}`;
  return fake;
}
