/**
 * Property-based fuzzing of every frame an agent can send (hello, inventory, result, event),
 * through the coordinator's real {@link AgentSession} on a real SQLite store, before and after the
 * handshake. Every case must end the session with 4400 or 4401 and a stable LP_* code, never
 * crash or reject, and change nothing in the store but refusal audit records.
 */
import { randomUUID, sign, type KeyObject } from 'node:crypto';
import { EventEmitter } from 'node:events';
import { appendFileSync } from 'node:fs';
import fc from 'fast-check';
import type { WebSocket } from 'ws';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  EVENT_TYP,
  RESULT_TYP,
  exportPublicJwk,
  fingerprint,
  generateEd25519KeyPair,
  isErrorCode,
  signEvent,
  signHello,
  signResult,
  type LaneReport,
} from '@launchplane/shared';
import { SqliteCoordinatorStore } from '../adapters/sqlite/sqlite-store.js';
import type { Logger } from '../ports/logger.js';
import type { LaneRecord } from '../ports/store.js';
import { AgentSession, type SessionHost } from './agent-session.js';
import {
  Raw,
  arbitraryFrame,
  mutatedFrame,
  prototypePolluted,
  render,
  type FrameTemplate,
  type Mutated,
} from '@launchplane/testkit/fuzz';

/** Cases per property; `LP_FUZZ_SCALE` multiplies them (soak runs). */
const SCALE = Number(process.env.LP_FUZZ_SCALE ?? '1');
const runs = (n: number): number => Math.max(1, Math.round(n * SCALE));

const COORDINATOR_ID = 'coord-fuzz';
const HOST_ID = 'host-a';
const LANE_ID = '01jd0000000000000000000000';
const NOW = 1_790_000_000;

/** A stand-in for a `ws` socket: the session only calls these. */
class FakeSocket extends EventEmitter {
  readonly OPEN = 1;
  readyState = 1;
  bufferedAmount = 0;
  isPaused = false;
  readonly sent: Record<string, unknown>[] = [];
  closeCode: number | undefined;
  readonly closed: Promise<number>;
  #resolve!: (code: number) => void;

  constructor() {
    super();
    this.closed = new Promise((resolve) => (this.#resolve = resolve));
  }

  send(text: string): void {
    this.sent.push(JSON.parse(text) as Record<string, unknown>);
  }

  close(code: number): void {
    if (this.readyState !== 1) return;
    this.readyState = 3;
    this.closeCode = code;
    this.#resolve(code);
    this.emit('close', code, Buffer.alloc(0));
  }

  terminate(): void {
    if (this.readyState === 3) return;
    this.readyState = 3;
    this.closeCode ??= 1006;
    this.#resolve(this.closeCode);
    this.emit('close', 1006, Buffer.alloc(0));
  }

  pause(): void {
    this.isPaused = true;
  }

  resume(): void {
    this.isPaused = false;
  }

  ping(): void {}
}

interface Tally {
  tried: number;
  refused: number;
  byCloseCode: Record<string, number>;
  byErrorCode: Record<string, number>;
  byMutation: Record<string, number>;
}

const tally: Tally = { tried: 0, refused: 0, byCloseCode: {}, byErrorCode: {}, byMutation: {} };
const bump = (m: Record<string, number>, k: string): void => {
  m[k] = (m[k] ?? 0) + 1;
};

let store: SqliteCoordinatorStore;
let hostKey: KeyObject;
let lastCode: string | undefined;
let auditSeq = 0;
let eventSeq = 0;
let started = 0;

const logger: Logger = {
  debug: () => undefined,
  info: () => undefined,
  warn: (fields: Record<string, unknown>) => {
    if (typeof fields.code === 'string') lastCode = fields.code;
  },
  error: () => undefined,
};

const LANE: LaneRecord = {
  laneId: LANE_ID,
  hostId: HOST_ID,
  pool: 'build',
  purpose: 'pool',
  scope: { repository: 'acme/api' },
  backend: 'systemd',
  ephemeral: false,
  runnerName: 'lp-host-a-build-00000000',
  runnerId: 11,
  labels: ['launchplane'],
  state: 'starting',
  recovery: undefined,
  lastError: undefined,
  createdAt: 1,
  updatedAt: 1,
};

const REPORT: LaneReport = {
  laneId: LANE_ID,
  name: 'lp-host-a-build-00000000',
  pool: 'build',
  scope: { repository: 'acme/api' },
  backend: 'systemd',
  ephemeral: false,
  state: 'online',
  runnerId: 11,
  labels: ['launchplane'],
  backendState: 'active/running',
  local: { busy: false, jobRunning: false, workerProcess: false, jobsCompleted: 0 },
  restarts: 0,
  createdAt: 1,
  updatedAt: 2,
};

function sessionHost(): SessionHost {
  return {
    store,
    logger,
    coordinatorId: COORDINATOR_ID,
    now: () => NOW,
    heartbeatSec: 15,
    handshakeTimeoutMs: 60_000,
    maxBufferedBytes: 4 * 1024 * 1024,
    attach: () => undefined,
    detach: () => undefined,
    deliverResult: () => false,
  };
}

/** Signs raw payload bytes (possibly not what any schema allows) with the host key. */
function signRaw(payload: Buffer | string, typ: string): string {
  const header = Buffer.from(
    JSON.stringify({ alg: 'EdDSA', typ, kid: fingerprint(hostPublic) }),
  ).toString('base64url');
  const input = `${header}.${Buffer.from(payload).toString('base64url')}`;
  return `${input}.${sign(null, Buffer.from(input, 'latin1'), hostKey).toString('base64url')}`;
}

let hostPublic: KeyObject;

/** The state a refused frame must leave alone. */
async function snapshot(): Promise<string> {
  const host = await store.getHost(HOST_ID);
  const lanes = await store.listLanes();
  const head = await store.getMeta(`agent-audit-head:${HOST_ID}`);
  return JSON.stringify({
    optIn: host?.optIn,
    capabilities: host?.capabilities,
    revokedAt: host?.revokedAt,
    publicKey: host?.publicKey,
    lanes,
    head,
  });
}

/**
 * Opens a session, optionally authenticates it with a valid hello, sends `frame`, and returns
 * the close code. Fails when the session stays open.
 */
async function runCase(
  frame: (nonce: string) => Buffer,
  authenticate: boolean,
): Promise<{ close: number; code: string | undefined }> {
  const ws = new FakeSocket();
  const session = new AgentSession(ws as unknown as WebSocket, sessionHost());
  started++;
  const challenge = ws.sent[0];
  const nonce = String(challenge?.nonce);
  lastCode = undefined;
  if (authenticate) {
    const hello = {
      type: 'hello',
      hostId: HOST_ID,
      nonce,
      agentVersion: '0.1.0',
      sig: signHello({ coordinatorId: COORDINATOR_ID, hostId: HOST_ID, nonce }, hostKey),
    };
    ws.emit('message', Buffer.from(JSON.stringify(hello)), false);
  }
  ws.emit('message', frame(nonce), false);
  let timer: NodeJS.Timeout | undefined;
  const close = await Promise.race([
    ws.closed,
    new Promise<number>((resolve) => (timer = setTimeout(() => resolve(-1), 5_000))),
  ]);
  clearTimeout(timer);
  if (close === -1) session.close(1000, 'test done');
  if (authenticate) expect(ws.sent[1]).toEqual({ type: 'welcome', heartbeatSec: 15 });
  return { close, code: lastCode };
}

/** Asserts one case was refused with a protocol close code, and tallies it. */
async function expectRefused(
  make: Mutated | ((nonce: string) => Mutated),
  authenticate: boolean,
): Promise<void> {
  const before = await snapshot();
  let m: Mutated | undefined;
  const r = await runCase((nonce) => {
    m = typeof make === 'function' ? make(nonce) : make;
    return m.bytes;
  }, authenticate);
  if (m === undefined) throw new Error('no frame was made');
  tally.tried++;
  bump(tally.byMutation, m.kind);
  const detail = `${m.kind} at "${m.path}": ${m.bytes.subarray(0, 160).toString('utf8')}`;
  expect([4400, 4401], detail).toContain(r.close);
  expect(r.code !== undefined && isErrorCode(r.code), detail).toBe(true);
  expect(r.code, detail).not.toBe('LP_INTERNAL');
  expect(await snapshot(), detail).toBe(before);
  expect(prototypePolluted()).toBe(false);
  // Nothing recorded but audit: a connect (when authenticated) and the refusal itself.
  const fresh = await store.listAudit({ afterSeq: auditSeq, limit: 10 });
  for (const rec of fresh) {
    expect(
      (rec.action === 'agent.connect' && rec.outcome === 'ok') ||
        (rec.action === 'agent.session' && rec.outcome === 'refused'),
      `${detail}: unexpected audit ${rec.action}/${rec.outcome}`,
    ).toBe(true);
  }
  auditSeq = fresh.at(-1)?.seq ?? auditSeq;
  tally.refused++;
  bump(tally.byCloseCode, String(r.close));
  bump(tally.byErrorCode, r.code ?? 'none');
}

function helloTemplate(nonce: string): FrameTemplate {
  return {
    value: {
      type: 'hello',
      hostId: HOST_ID,
      nonce,
      agentVersion: '0.1.0',
      sig: signHello({ coordinatorId: COORDINATOR_ID, hostId: HOST_ID, nonce }, hostKey),
    },
    required: ['type', 'hostId', 'nonce', 'agentVersion', 'sig'],
    tag: { path: 'type', valid: ['hello', 'inventory', 'result', 'event'] },
  };
}

const INVENTORY: FrameTemplate = {
  value: {
    type: 'inventory',
    optIn: {
      repositories: ['acme/api'],
      organizations: ['acme'],
      pools: ['build'],
      backends: ['systemd'],
      maxLanes: 2,
    },
    lanes: [REPORT],
    capabilities: ['linux'],
  },
  required: [
    'type',
    'optIn',
    'lanes',
    'capabilities',
    'lanes.0.laneId',
    'lanes.0.state',
    'lanes.0.scope',
    'lanes.0.local.busy',
  ],
  tag: { path: 'type', valid: ['hello', 'inventory', 'result', 'event'] },
};

function resultFrame(): FrameTemplate {
  return {
    value: {
      type: 'result',
      jws: signResult(
        { iss: HOST_ID, jti: randomUUID(), ok: true, dryRun: false, outcome: 'created' },
        { privateKey: hostKey },
      ),
    },
    required: ['type', 'jws'],
    tag: { path: 'type', valid: ['hello', 'inventory', 'result', 'event'] },
  };
}

function eventFrame(seq: number): FrameTemplate {
  return {
    value: {
      type: 'event',
      seq,
      jws: signEvent(
        { iss: HOST_ID, seq, at: NOW, event: { kind: 'lane', lane: REPORT } },
        { privateKey: hostKey },
      ),
    },
    required: ['type', 'seq', 'jws'],
    tag: { path: 'type', valid: ['hello', 'inventory', 'result', 'event'] },
  };
}

/** Signed payloads (valid signature, invalid content) inside otherwise valid frames. */
function innerEvent(seq: number): FrameTemplate {
  return {
    value: { iss: HOST_ID, seq, at: NOW, event: { kind: 'lane', lane: REPORT } },
    required: ['iss', 'seq', 'at', 'event', 'event.kind', 'event.lane'],
    tag: { path: 'event.kind', valid: ['audit', 'lane', 'lane-removed'] },
  };
}

const INNER_RESULT: FrameTemplate = {
  value: {
    iss: HOST_ID,
    jti: '3f0c6a2e-6a43-4d4e-9d43-2a1b6c8e9f00',
    ok: false,
    dryRun: false,
    outcome: 'refused',
    error: { code: 'LP_NOT_OWNED', message: 'not owned' },
    steps: ['verify'],
  },
  required: ['iss', 'jti', 'ok', 'dryRun', 'outcome', 'error.code', 'error.message'],
  tag: { path: 'error.code', valid: [] },
};

beforeAll(async () => {
  store = SqliteCoordinatorStore.open(':memory:');
  const pair = generateEd25519KeyPair();
  hostKey = pair.privateKey;
  hostPublic = pair.publicKey;
  await store.putHost({
    hostId: HOST_ID,
    publicKey: exportPublicJwk(pair.publicKey),
    fingerprint: fingerprint(pair.publicKey),
    enrolledAt: NOW - 100,
    revokedAt: undefined,
    lastSeenAt: undefined,
    agentVersion: undefined,
    optIn: undefined,
    capabilities: [],
  });
  await store.putLane(LANE);
  // A wrong-phase but well-formed event seq must never be stored: seqs used below start high.
  eventSeq = 1000;
});

afterAll(async () => {
  // No fuzzed event was stored: each seq is still fresh.
  const fresh = await store.transaction(async (tx) => {
    const results: boolean[] = [];
    for (let seq = 1000; seq <= eventSeq; seq += Math.max(1, Math.floor((eventSeq - 1000) / 50))) {
      results.push(
        await tx.putAgentEvent(
          HOST_ID,
          seq,
          { iss: HOST_ID, seq, at: NOW, event: { kind: 'lane-removed', laneId: LANE_ID } },
          NOW,
        ),
      );
    }
    return results;
  });
  expect(fresh.every(Boolean)).toBe(true);
  await store.close();
  const out = process.env.LP_RELIABILITY_OUT;
  if (out !== undefined && out !== '') {
    appendFileSync(
      out,
      `${JSON.stringify({
        area: 'bad-input',
        scenario: 'fuzz: agent frames into the coordinator session (in-process)',
        injected: `${tally.tried} mutated or arbitrary inputs`,
        survived: tally.refused === tally.tried,
        counts: {
          tried: tally.tried,
          refused: tally.refused,
          notRefused: tally.tried - tally.refused,
          sessions: started,
          ...Object.fromEntries(
            Object.entries(tally.byCloseCode).map(([k, v]) => [`close${k}`, v]),
          ),
          ...tally.byErrorCode,
        },
        mutations: tally.byMutation,
      })}\n`,
    );
  }
});

describe('coordinator AgentSession under fuzzed agent frames', () => {
  it('a mutated hello is refused before any identity is believed', async () => {
    // The hello must carry this session's nonce and a signature over it, but the mutations are
    // the same for every session: they are drawn from one template holding a slot of the same
    // length for each, and the slots still whole in a case are filled with this session's values
    // (latin1 keeps every byte, invalid UTF-8 included). Building and rendering a template and
    // its arbitraries per case cost more than the case itself.
    const nonceSlot = 'Q'.repeat(43);
    const sigSlot = 'S'.repeat(86);
    const slotted = helloTemplate(nonceSlot);
    const mutations = mutatedFrame({ ...slotted, value: { ...slotted.value, sig: sigSlot } });
    await fc.assert(
      fc.asyncProperty(mutations, async (sample) => {
        await expectRefused((nonce) => {
          const sig = signHello({ coordinatorId: COORDINATOR_ID, hostId: HOST_ID, nonce }, hostKey);
          expect([nonce.length, sig.length]).toEqual([nonceSlot.length, sigSlot.length]);
          const bytes = Buffer.from(
            sample.bytes.toString('latin1').replaceAll(nonceSlot, nonce).replaceAll(sigSlot, sig),
            'latin1',
          );
          return { ...sample, path: `hello:${sample.path}`, bytes };
        }, false);
      }),
      { numRuns: runs(2_500) },
    );
  }, 120_000);

  it('a hello with a wrong signature, host or nonce is refused with 4401', async () => {
    const other = generateEd25519KeyPair().privateKey;
    await fc.assert(
      fc.asyncProperty(
        fc.constantFrom('other-key', 'other-host', 'other-nonce', 'other-coordinator'),
        async (how) => {
          await expectRefused((nonce) => {
            const signed = { coordinatorId: COORDINATOR_ID, hostId: HOST_ID, nonce };
            const hostId = how === 'other-host' ? 'host-zz' : HOST_ID;
            const sig =
              how === 'other-key'
                ? signHello(signed, other)
                : how === 'other-nonce'
                  ? signHello({ ...signed, nonce: 'A'.repeat(43) }, hostKey)
                  : how === 'other-coordinator'
                    ? signHello({ ...signed, coordinatorId: 'coord-evil' }, hostKey)
                    : signHello({ ...signed, hostId }, hostKey);
            return {
              kind: 'retype',
              path: how,
              bytes: Buffer.from(
                JSON.stringify({ type: 'hello', hostId, nonce, agentVersion: '0.1.0', sig }),
              ),
            };
          }, false);
        },
      ),
      { numRuns: runs(300) },
    );
  }, 120_000);

  it('junk and any well-formed non-hello frame before the hello are refused with 4400', async () => {
    const wellFormed = [INVENTORY, resultFrame(), eventFrame(eventSeq++)].map((t) => ({
      kind: 'type-tag' as const,
      path: `pre-hello:${String(t.value.type)}`,
      bytes: Buffer.from(render(t.value)),
    }));
    await fc.assert(
      fc.asyncProperty(fc.oneof(arbitraryFrame(), fc.constantFrom(...wellFormed)), (m) =>
        expectRefused(m, false),
      ),
      { numRuns: runs(6_000) },
    );
  }, 120_000);

  it('mutated inventory, result, event and second hello frames after the handshake are refused', async () => {
    const templates = [
      INVENTORY,
      resultFrame(),
      eventFrame(++eventSeq),
      helloTemplate('A'.repeat(43)),
    ];
    await fc.assert(
      fc.asyncProperty(fc.oneof(...templates.map(mutatedFrame), arbitraryFrame()), (m) =>
        expectRefused(m, true),
      ),
      { numRuns: runs(5_000) },
    );
  }, 120_000);

  it('signed result and event payloads that break their schema or name another host are refused', async () => {
    const seq = ++eventSeq;
    const arb = fc.oneof(
      mutatedFrame(innerEvent(seq)).map((m) => ({
        ...m,
        path: `event.jws:${m.path}`,
        bytes: Buffer.from(
          JSON.stringify({ type: 'event', seq, jws: signRaw(m.bytes, EVENT_TYP) }),
        ),
      })),
      mutatedFrame(INNER_RESULT).map((m) => ({
        ...m,
        path: `result.jws:${m.path}`,
        bytes: Buffer.from(JSON.stringify({ type: 'result', jws: signRaw(m.bytes, RESULT_TYP) })),
      })),
      fc.constantFrom('host-b', 'HOST-A', 'host-a ').map((iss) => ({
        kind: 'retype' as const,
        path: `event.iss=${iss}`,
        bytes: Buffer.from(
          JSON.stringify({
            type: 'event',
            seq,
            jws: signRaw(
              render({ iss, seq, at: NOW, event: { kind: 'lane-removed', laneId: LANE_ID } }),
              EVENT_TYP,
            ),
          }),
        ),
      })),
      fc.constant({
        kind: 'retype' as const,
        path: 'event.seq-mismatch',
        bytes: Buffer.from(
          JSON.stringify({
            type: 'event',
            seq: seq + 1,
            jws: signRaw(
              render({
                iss: HOST_ID,
                seq,
                at: NOW,
                event: { kind: 'lane-removed', laneId: LANE_ID },
              }),
              EVENT_TYP,
            ),
          }),
        ),
      }),
      fc.constant({
        kind: 'huge-number' as const,
        path: 'event.jws.seq=1e400',
        bytes: Buffer.from(
          JSON.stringify({
            type: 'event',
            seq,
            jws: signRaw(
              render({
                iss: HOST_ID,
                seq: new Raw('1e400'),
                at: NOW,
                event: { kind: 'lane-removed', laneId: LANE_ID },
              }),
              EVENT_TYP,
            ),
          }),
        ),
      }),
    );
    await fc.assert(
      fc.asyncProperty(arb, (m) => expectRefused(m, true)),
      { numRuns: runs(3_000) },
    );
  }, 120_000);

  it('counts every case as refused', () => {
    expect(tally.tried).toBeGreaterThan(0);
    expect(tally.refused).toBe(tally.tried);
  });
});
