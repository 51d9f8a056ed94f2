/**
 * Property-based fuzzing of the coordinator's other inbound edges: the strict parse an agent
 * frame goes through before its handler (in bulk), the `POST /v1/enroll` body schema (in bulk),
 * and real HTTP requests to a real {@link CoordinatorServer} on 127.0.0.1 — enrollment challenge
 * and enrollment bodies without authentication, and admin bodies with an admin token. Every case
 * must be refused with a stable LP_* code and 4xx, record no host, burn no token, mint no token,
 * and audit nothing as ok. Loopback is exempt from the per-source limits here, so every case goes
 * through the real parsing instead of being turned away as rate-limited.
 */
import { randomBytes } from 'node:crypto';
import { appendFileSync } from 'node:fs';
import { Agent, request } from 'node:http';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  LaunchplaneError,
  agentMessageSchema,
  computeEnrollProof,
  enrollChallengeResponseSchema,
  enrollRequestSchema,
  enrollProofKey,
  exportPublicJwk,
  fingerprint,
  generateEd25519KeyPair,
  isErrorCode,
  newNonce,
  parseEnrollmentToken,
  parseStrictJson,
  signHello,
} from '@launchplane/shared';
import { SqliteCoordinatorStore } from '../adapters/sqlite/sqlite-store.js';
import { identityOf } from '../keys/coordinator-identity.js';
import { silentLogger } from '../ports/logger.js';
import { CoordinatorServer } from './coordinator-server.js';
import { createEnrollmentToken } from './enrollment.js';
import {
  arbitraryFrame,
  mutatedFrame,
  prototypePolluted,
  render,
  type FrameTemplate,
  type Mutated,
} from '@launchplane/testkit/fuzz';
import { parseBody } from '../http/route.js';
import { mintToken } from './secret-tokens.js';

/** Cases per property; `LP_FUZZ_SCALE` multiplies them (soak runs). */
const SCALE = Number(process.env.LP_FUZZ_SCALE ?? '1');
const runs = (n: number): number => Math.max(1, Math.round(n * SCALE));

const COORDINATOR_ID = 'coord-fuzz';
const NOW = 1_790_000_000;
const hostKeys = generateEd25519KeyPair();

interface Tally {
  tried: number;
  refused: number;
  byCode: Record<string, number>;
  byMutation: Record<string, number>;
}
const tallies: Record<'frames' | 'enrollSchema' | 'http', Tally> = {
  frames: { tried: 0, refused: 0, byCode: {}, byMutation: {} },
  enrollSchema: { tried: 0, refused: 0, byCode: {}, byMutation: {} },
  http: { tried: 0, refused: 0, byCode: {}, byMutation: {} },
};
const bump = (m: Record<string, number>, k: string): void => {
  m[k] = (m[k] ?? 0) + 1;
};

const REPORT = {
  laneId: '01jd0000000000000000000000',
  name: 'lp-host-a-build-00000000',
  pool: 'build',
  scope: { repository: 'acme/api' },
  backend: 'systemd',
  ephemeral: false,
  state: 'online',
  labels: ['launchplane'],
  restarts: 0,
  createdAt: 1,
  updatedAt: 2,
};
const AGENT_TAGS = ['hello', 'inventory', 'result', 'event'];
const JWS = `${'eyJhbGciOiJFZERTQSJ9'}.${'eyJ4IjoxfQ'}.${'A'.repeat(86)}`;
const NONCE = randomBytes(32).toString('base64url');

const AGENT_FRAMES: FrameTemplate[] = [
  {
    value: {
      type: 'hello',
      hostId: 'host-a',
      nonce: NONCE,
      agentVersion: '0.1.0',
      sig: signHello(
        { coordinatorId: COORDINATOR_ID, hostId: 'host-a', nonce: NONCE },
        hostKeys.privateKey,
      ),
    },
    required: ['type', 'hostId', 'nonce', 'agentVersion', 'sig'],
    tag: { path: 'type', valid: AGENT_TAGS },
  },
  {
    value: {
      type: 'inventory',
      optIn: { repositories: ['acme/api'], organizations: [], backends: ['docker'], maxLanes: 1 },
      lanes: [REPORT],
      capabilities: ['gpu'],
    },
    required: ['type', 'optIn', 'lanes', 'capabilities', 'lanes.0.laneId', 'lanes.0.state'],
    tag: { path: 'type', valid: AGENT_TAGS },
  },
  {
    value: { type: 'result', jws: JWS },
    required: ['type', 'jws'],
    tag: { path: 'type', valid: AGENT_TAGS },
  },
  {
    value: { type: 'event', seq: 4, jws: JWS },
    required: ['type', 'seq', 'jws'],
    tag: { path: 'type', valid: AGENT_TAGS },
  },
];

/** A valid enrollment body for `token`, answering the challenge `nonce` (any, for the schema). */
function enrollTemplate(
  token: string,
  challenge: { nonce: string; agentNonce: string } = { nonce: NONCE, agentNonce: NONCE },
): FrameTemplate {
  const parts = parseEnrollmentToken(token) ?? { id: '0123456789abcdef', secret: token };
  return {
    value: {
      tokenId: parts.id,
      hostId: 'host-a',
      publicKey: exportPublicJwk(hostKeys.publicKey),
      agentVersion: '0.1.0',
      nonce: challenge.nonce,
      proof: computeEnrollProof(enrollProofKey(parts.secret), {
        coordinatorId: COORDINATOR_ID,
        hostId: 'host-a',
        tokenId: parts.id,
        hostFingerprint: fingerprint(hostKeys.publicKey),
        agentNonce: challenge.agentNonce,
        nonce: challenge.nonce,
      }),
    },
    required: ['tokenId', 'hostId', 'publicKey', 'agentVersion', 'nonce', 'proof', 'publicKey.x'],
  };
}

const CHALLENGE_TEMPLATE: FrameTemplate = {
  value: { hostId: 'host-a', agentNonce: NONCE },
  required: ['hostId', 'agentNonce'],
};

/** Asks the server for a challenge, as an agent does first. */
async function challengeFor(): Promise<{ nonce: string; agentNonce: string }> {
  const agentNonce = newNonce();
  const r = await post(
    '/v1/enroll/challenge',
    Buffer.from(JSON.stringify({ hostId: 'host-a', agentNonce })),
  );
  expect(r.status).toBe(200);
  return { nonce: enrollChallengeResponseSchema.parse(r.body).nonce, agentNonce };
}

/** What the session does with a frame before its handler: strict JSON, then the schema. */
function edgeParse(bytes: Buffer): 'ok' | 'refused' {
  let raw: unknown;
  try {
    raw = parseStrictJson(bytes.toString('utf8'));
  } catch {
    return 'refused';
  }
  return agentMessageSchema.safeParse(raw).success ? 'ok' : 'refused';
}

let store: SqliteCoordinatorStore;
let server: CoordinatorServer;
let adminToken: string;
let enrollToken: string;
let enrollTokenId: string;
const agent = new Agent({ keepAlive: true, maxSockets: 4 });

beforeAll(async () => {
  store = SqliteCoordinatorStore.open(':memory:');
  const admin = mintToken('operator');
  await store.putOperatorToken({
    id: admin.id,
    name: 'fuzz-admin',
    role: 'admin',
    hash: admin.hash,
    createdAt: NOW,
    revokedAt: undefined,
  });
  adminToken = admin.value;
  const t = await createEnrollmentToken(store, {
    hostId: 'host-a',
    ttlSec: 3600,
    actor: 'fuzz',
    now: NOW,
  });
  enrollToken = t.value;
  enrollTokenId = t.record.id;
  server = await CoordinatorServer.create({
    store,
    identity: identityOf(generateEd25519KeyPair().privateKey),
    coordinatorId: COORDINATOR_ID,
    logger: silentLogger,
    port: 0,
    nowSec: () => NOW,
    limits: { exempt: ['127.0.0.1'] },
  });
});

afterAll(async () => {
  agent.destroy();
  await server.close();
  await store.close();
  const out = process.env.LP_RELIABILITY_OUT;
  if (out === undefined || out === '') return;
  for (const [scenario, t] of [
    ['fuzz: agent frames into the coordinator edge parser (in-process)', tallies.frames],
    ['fuzz: enrollment bodies into the enroll schema (in-process)', tallies.enrollSchema],
    ['fuzz: enroll and admin API bodies over HTTP (in-process server)', tallies.http],
  ] as const) {
    appendFileSync(
      out,
      `${JSON.stringify({
        area: 'bad-input',
        scenario,
        injected: `${t.tried} mutated or arbitrary inputs`,
        survived: t.refused === t.tried,
        counts: {
          tried: t.tried,
          refused: t.refused,
          notRefused: t.tried - t.refused,
          ...t.byCode,
        },
        mutations: t.byMutation,
      })}\n`,
    );
  }
});

function post(
  path: string,
  body: Buffer,
  opts: { token?: string; contentType?: string } = {},
): Promise<{ status: number; body: { error?: { code?: unknown } } }> {
  return new Promise((resolve, reject) => {
    const req = request(
      `${server.url}${path}`,
      {
        method: 'POST',
        agent,
        headers: {
          'content-type': opts.contentType ?? 'application/json',
          'content-length': body.length,
          ...(opts.token === undefined ? {} : { authorization: `Bearer ${opts.token}` }),
        },
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8');
          resolve({
            status: res.statusCode ?? 0,
            body: (text === '' ? {} : JSON.parse(text)) as { error?: { code?: unknown } },
          });
        });
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}

async function storeState(): Promise<string> {
  const hosts = await store.listHosts();
  const tokens = await store.listOperatorTokens();
  const enroll = await store.getEnrollmentToken(enrollTokenId);
  return JSON.stringify({ hosts, tokens: tokens.length, usedAt: enroll?.usedAt ?? null });
}

let auditSeq = 0;

async function expectHttpRefused(m: Mutated, path: string, token?: string): Promise<void> {
  const before = await storeState();
  tallies.http.tried++;
  bump(tallies.http.byMutation, `${path}:${m.kind}`);
  const r = await post(path, m.bytes, token === undefined ? {} : { token });
  const detail = `${path} ${m.kind} at "${m.path}": ${m.bytes.subarray(0, 160).toString()}`;
  expect(r.status >= 400 && r.status < 500, `${detail} → ${r.status}`).toBe(true);
  const code = r.body.error?.code;
  expect(isErrorCode(code) && code !== 'LP_INTERNAL', detail).toBe(true);
  expect(await storeState(), detail).toBe(before);
  const fresh = await store.listAudit({ afterSeq: auditSeq, limit: 10 });
  expect(
    fresh.filter((a) => a.outcome !== 'refused'),
    detail,
  ).toEqual([]);
  auditSeq = fresh.at(-1)?.seq ?? auditSeq;
  expect(prototypePolluted()).toBe(false);
  tallies.http.refused++;
  bump(tallies.http.byCode, `${r.status} ${String(code)}`);
}

describe('coordinator edges under fuzzed input', () => {
  it('the strict frame parse accepts the templates and refuses every mutation', () => {
    for (const t of AGENT_FRAMES) expect(edgeParse(Buffer.from(render(t.value)))).toBe('ok');
    fc.assert(
      fc.property(fc.oneof(...AGENT_FRAMES.map(mutatedFrame), arbitraryFrame()), (m) => {
        tallies.frames.tried++;
        bump(tallies.frames.byMutation, m.kind);
        expect(edgeParse(m.bytes), `${m.kind} at "${m.path}"`).toBe('refused');
        expect(prototypePolluted()).toBe(false);
        tallies.frames.refused++;
        bump(tallies.frames.byCode, 'LP_INVALID_MESSAGE');
      }),
      { numRuns: runs(18_000) },
    );
  }, 120_000);

  it('the enroll body parse refuses every mutation with LP_USAGE', () => {
    const t = enrollTemplate(`lpe_0123456789abcdef_${'s'.repeat(43)}`);
    expect(parseBody(enrollRequestSchema, parseStrictJson(render(t.value)))).toBeDefined();
    fc.assert(
      fc.property(fc.oneof(mutatedFrame(t), arbitraryFrame()), (m) => {
        tallies.enrollSchema.tried++;
        bump(tallies.enrollSchema.byMutation, m.kind);
        let code: string | undefined;
        try {
          parseBody(enrollRequestSchema, parseStrictJson(m.bytes.toString('utf8')));
        } catch (err) {
          code = err instanceof LaunchplaneError ? err.code : 'strict-json';
        }
        expect(code, `${m.kind} at "${m.path}"`).toBeDefined();
        tallies.enrollSchema.refused++;
        bump(tallies.enrollSchema.byCode, code === 'strict-json' ? 'LP_USAGE' : String(code));
      }),
      { numRuns: runs(18_000) },
    );
  }, 120_000);

  it('POST /v1/enroll refuses mutated bodies: no host recorded, the token not burnt', async () => {
    // A live challenge, so that a mutation that keeps the schema meets the proof check.
    const template = enrollTemplate(enrollToken, await challengeFor());
    await fc.assert(
      fc.asyncProperty(fc.oneof(mutatedFrame(template), arbitraryFrame()), (m) =>
        expectHttpRefused(m, '/v1/enroll'),
      ),
      { numRuns: runs(3_000) },
    );
  }, 120_000);

  it('POST /v1/enroll/challenge refuses mutated bodies', async () => {
    await fc.assert(
      fc.asyncProperty(fc.oneof(mutatedFrame(CHALLENGE_TEMPLATE), arbitraryFrame()), (m) =>
        expectHttpRefused(m, '/v1/enroll/challenge'),
      ),
      { numRuns: runs(1_000) },
    );
    // Refused bodies open no challenge.
    expect(server.challenges.size).toBeLessThanOrEqual(1);
  }, 120_000);

  it('admin bodies (tokens, enrollment tokens) refuse mutations: nothing minted', async () => {
    const tokens: FrameTemplate = {
      value: { role: 'viewer', name: 'fuzzed' },
      required: ['role'],
    };
    const enrollTokens: FrameTemplate = {
      value: { hostId: 'host-b', ttlSec: 600 },
      required: ['hostId'],
    };
    await fc.assert(
      fc.asyncProperty(
        fc.oneof(
          fc.oneof(mutatedFrame(tokens), arbitraryFrame()).map((m) => ['/v1/tokens', m] as const),
          fc
            .oneof(mutatedFrame(enrollTokens), arbitraryFrame())
            .map((m) => ['/v1/enrollment-tokens', m] as const),
        ),
        ([path, m]) => expectHttpRefused(m, path, adminToken),
      ),
      { numRuns: runs(2_000) },
    );
  }, 120_000);

  it('the server still enrolls the host with the untouched token afterwards', async () => {
    const r = await post(
      '/v1/enroll',
      Buffer.from(render(enrollTemplate(enrollToken, await challengeFor()).value)),
    );
    expect(r.status).toBe(201);
    expect((await store.listHosts()).map((h) => h.hostId)).toEqual(['host-a']);
    for (const t of Object.values(tallies)) expect(t.refused).toBe(t.tried);
  });
});
