/**
 * Property-based fuzzing of every frame a coordinator can send (challenge, welcome, command, ack):
 * in bulk through the agent's edge parser, and over a real loopback socket into a real
 * {@link AgentSession} dialled by the agent itself. Every case must be refused (close 4400, or
 * the transport's own 1007/1009), never reach the core, and leave the session able to reconnect.
 */
import { randomBytes } from 'node:crypto';
import { appendFileSync } from 'node:fs';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generateEd25519KeyPair, type InventoryMessage } from '@launchplane/shared';
import { AgentSession, type SessionCore } from './agent-session.js';
import { type CoordinatorFrame, parseCoordinatorFrame } from './coordinator-frame.js';
import {
  FakeCoordinator,
  TEST_COORDINATOR_ID,
  TEST_HOST_ID,
} from './fake-coordinator.test-helper.js';
import {
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

const TAGS = ['challenge', 'welcome', 'command', 'ack'];
const JWS = `${'eyJhbGciOiJFZERTQSJ9'}.${'eyJ4IjoxfQ'}.${'A'.repeat(86)}`;

const TEMPLATES: FrameTemplate[] = [
  {
    value: {
      type: 'challenge',
      nonce: randomBytes(32).toString('base64url'),
      coordinatorId: TEST_COORDINATOR_ID,
    },
    required: ['type', 'nonce', 'coordinatorId'],
    tag: { path: 'type', valid: TAGS },
  },
  {
    value: { type: 'welcome', heartbeatSec: 15 },
    required: ['type', 'heartbeatSec'],
    tag: { path: 'type', valid: TAGS },
  },
  {
    value: { type: 'command', jws: JWS },
    required: ['type', 'jws'],
    tag: { path: 'type', valid: TAGS },
  },
  { value: { type: 'ack', seq: 3 }, required: ['type', 'seq'], tag: { path: 'type', valid: TAGS } },
];

interface Tally {
  tried: number;
  refused: number;
  byClose: Record<string, number>;
  byMutation: Record<string, number>;
}
const parserTally: Tally = { tried: 0, refused: 0, byClose: {}, byMutation: {} };
const socketTally: Tally = { tried: 0, refused: 0, byClose: {}, byMutation: {} };
const bump = (m: Record<string, number>, k: string): void => {
  m[k] = (m[k] ?? 0) + 1;
};

/** The core seam: it must never be reached by a refused frame. */
class WatchingCore implements SessionCore {
  handled = 0;
  acked = 0;
  handleCommand(): Promise<string> {
    this.handled++;
    return Promise.resolve('x.y.z');
  }
  inventory(): InventoryMessage {
    return {
      type: 'inventory',
      optIn: { repositories: ['acme/api'], organizations: [], backends: ['systemd'], maxLanes: 2 },
      lanes: [],
      capabilities: [],
    };
  }
  onInventoryChange(): () => void {
    return () => undefined;
  }
  pendingEvents(): { seq: number; jws: string }[] {
    return [];
  }
  ackEvents(): void {
    this.acked++;
  }
  onEvent(): () => void {
    return () => undefined;
  }
}

let coordinator: FakeCoordinator;
let session: AgentSession;
const core = new WatchingCore();
const keys = generateEd25519KeyPair();

beforeAll(async () => {
  coordinator = await FakeCoordinator.start();
  session = new AgentSession({
    url: coordinator.url,
    hostId: TEST_HOST_ID,
    coordinatorId: TEST_COORDINATOR_ID,
    hostKey: keys.privateKey,
    agentVersion: '0.1.0-fuzz',
    core,
    backoff: { baseMs: 1, capMs: 2, random: () => 0 },
  });
  session.start();
});

afterAll(async () => {
  await session.stop();
  await coordinator.close();
  const out = process.env.LP_RELIABILITY_OUT;
  if (out === undefined || out === '') return;
  for (const [scenario, t] of [
    ['fuzz: coordinator frames into the agent edge parser (in-process)', parserTally],
    ['fuzz: coordinator frames into a live agent session (loopback socket)', socketTally],
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
          coreCommands: core.handled,
          coreAcks: core.acked,
          ...Object.fromEntries(Object.entries(t.byClose).map(([k, v]) => [`close${k}`, v])),
        },
        mutations: t.byMutation,
      })}\n`,
    );
  }
});

describe('agent edge parser under fuzzed coordinator frames', () => {
  it('accepts the unmutated templates (so the mutations below are what gets refused)', () => {
    for (const t of TEMPLATES) {
      expect(parseCoordinatorFrame(Buffer.from(render(t.value)), false).ok).toBe(true);
    }
  });

  it('refuses every mutated or arbitrary frame without throwing', () => {
    // The parser is pure, and `mutatedFrame` hands out each ~270 KiB oversize frame as one
    // buffer per template and path: it is parsed once (about 5 ms), not each of the ~1,800 times
    // it is drawn. Every other case is a buffer of its own.
    const parsed = new WeakMap<Buffer, CoordinatorFrame>();
    fc.assert(
      fc.property(fc.oneof(...TEMPLATES.map(mutatedFrame), arbitraryFrame()), (m) => {
        parserTally.tried++;
        bump(parserTally.byMutation, m.kind);
        let r = parsed.get(m.bytes);
        if (r === undefined) {
          r = parseCoordinatorFrame(m.bytes, false);
          parsed.set(m.bytes, r);
        }
        expect(r.ok, `${m.kind} at "${m.path}": ${m.bytes.subarray(0, 160).toString()}`).toBe(
          false,
        );
        expect(prototypePolluted()).toBe(false);
        parserTally.refused++;
        bump(parserTally.byClose, '4400');
      }),
      { numRuns: runs(25_000) },
    );
  }, 120_000);

  it('refuses a duplicated member even when its last copy is the valid one', () => {
    // JSON.parse keeps the last copy: this frame used to be read as a valid ack of seq 3.
    const r = parseCoordinatorFrame(Buffer.from('{"type":"ack","seq":999,"seq":3}'), false);
    expect(r).toEqual({ ok: false, reason: 'frame is not strict JSON' });
  });

  it('refuses a binary frame even when it holds a valid one', () => {
    for (const t of TEMPLATES) {
      expect(parseCoordinatorFrame(Buffer.from(render(t.value)), true).ok).toBe(false);
    }
  });
});

describe('a live AgentSession under fuzzed coordinator frames', () => {
  async function socketCase(m: Mutated, phase: 'challenge' | 'ready'): Promise<void> {
    const peer = await coordinator.connection();
    if (phase === 'ready') {
      await coordinator.authenticate(peer, keys.publicKey);
      expect(await peer.next()).toMatchObject({ type: 'inventory' });
    }
    const handled = core.handled;
    const acked = core.acked;
    socketTally.tried++;
    bump(socketTally.byMutation, m.kind);
    peer.ws.send(m.bytes, { binary: false });
    const { code } = await peer.closed;
    const detail = `${phase} ${m.kind} at "${m.path}": ${m.bytes.subarray(0, 160).toString()}`;
    // 4400 from the session; 1007 (invalid UTF-8) and 1009 (over 256 KiB) from the transport.
    expect([4400, 1007, 1009], detail).toContain(code);
    expect(core.handled, detail).toBe(handled);
    expect(core.acked, detail).toBe(acked);
    socketTally.refused++;
    bump(socketTally.byClose, String(code));
  }

  it('refuses mutated frames in place of the challenge', async () => {
    await fc.assert(
      fc.asyncProperty(fc.oneof(...TEMPLATES.map(mutatedFrame), arbitraryFrame()), (m) =>
        socketCase(m, 'challenge'),
      ),
      { numRuns: runs(500) },
    );
  }, 120_000);

  it('refuses mutated frames after the welcome', async () => {
    await fc.assert(
      fc.asyncProperty(fc.oneof(...TEMPLATES.map(mutatedFrame), arbitraryFrame()), (m) =>
        socketCase(m, 'ready'),
      ),
      { numRuns: runs(700) },
    );
  }, 120_000);

  it('still authenticates with a well-behaved coordinator afterwards', async () => {
    const peer = await coordinator.connection();
    await coordinator.authenticate(peer, keys.publicKey);
    expect(await peer.next()).toMatchObject({ type: 'inventory' });
    expect(session.status().state).toBe('connected');
    expect(socketTally.refused).toBe(socketTally.tried);
    expect(parserTally.refused).toBe(parserTally.tried);
  });
});
