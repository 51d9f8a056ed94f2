import { EventEmitter } from 'node:events';
import type { WebSocket } from 'ws';
import { describe, expect, it } from 'vitest';
import type { CoordinatorStore } from '../ports/store.js';
import { AgentSession, type SessionHost } from './agent-session.js';

/** A socket whose queued bytes the test sets: what `ws` reports as `bufferedAmount`. */
class FakeSocket extends EventEmitter {
  readonly OPEN = 1;
  readyState = 1;
  bufferedAmount = 0;
  isPaused = false;
  sent: string[] = [];
  terminated = false;
  send(data: string): void {
    this.sent.push(data);
  }
  ping(): void {}
  pause(): void {}
  resume(): void {}
  close(): void {
    this.readyState = 3;
  }
  terminate(): void {
    this.terminated = true;
    this.readyState = 3;
  }
}

function sessionOn(ws: FakeSocket, maxBufferedBytes: number) {
  const warnings: { fields: Record<string, unknown>; message: string }[] = [];
  const detached: AgentSession[] = [];
  const host: SessionHost = {
    // Never reached: no frame is received in these tests.
    store: {} as CoordinatorStore,
    logger: {
      debug: () => undefined,
      info: () => undefined,
      warn: (fields, message) => warnings.push({ fields, message }),
      error: () => undefined,
    },
    coordinatorId: 'ctl-test',
    now: () => 1_700_000_000,
    heartbeatSec: 15,
    handshakeTimeoutMs: 10_000,
    maxBufferedBytes,
    attach: () => undefined,
    detach: (s) => detached.push(s),
    deliverResult: () => false,
  };
  const session = new AgentSession(ws as unknown as WebSocket, host);
  return { session, warnings, detached };
}

describe('AgentSession buffer cap', () => {
  it('terminates a peer once more than maxBufferedBytes wait for it, and logs why', () => {
    const ws = new FakeSocket();
    const { session, warnings, detached } = sessionOn(ws, 1024 * 1024);
    expect(ws.sent).toHaveLength(1); // the challenge
    ws.bufferedAmount = 1024 * 1024;
    expect(session.sendFrame({ type: 'ack', seq: 1 })).toBe(true);
    expect(ws.terminated).toBe(false);
    ws.bufferedAmount = 1024 * 1024 + 1;
    expect(session.sendFrame({ type: 'ack', seq: 2 })).toBe(false);
    expect(ws.terminated).toBe(true);
    expect(session.isOpen).toBe(false);
    expect(detached).toEqual([session]);
    expect(warnings).toEqual([
      {
        fields: { hostId: undefined, bufferedBytes: 1024 * 1024 + 1, limit: 1024 * 1024 },
        message: 'agent is not reading its socket; terminating',
      },
    ]);
    // Nothing more is sent on a cut session.
    expect(session.sendFrame({ type: 'ack', seq: 3 })).toBe(false);
    expect(ws.sent).toHaveLength(3);
  });
});
