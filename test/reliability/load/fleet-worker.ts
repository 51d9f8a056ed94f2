/**
 * A fleet of agents in one process, driven over IPC by the load tests (see fleet.ts). Each host
 * runs the REAL agent session (`AgentSession` from @launchplane/agent: its dialling, full-jitter
 * backoff, stable-session reset and heartbeat watchdog) over a minimal core that verifies every
 * signed command against the pinned coordinator key and answers it with a signed result, as the
 * agent does for a lane it does not hold (`LP_NOT_FOUND`). No backend work: what is measured is
 * the session layer and the coordinator, not a runner.
 *
 * One host may be "slow": a raw protocol client that completes the handshake and then stops
 * reading its socket (ws.pause), the way a wedged agent or a hostile peer would.
 *
 * Run with `node --import tsx fleet-worker.ts`; messages are {@link WorkerRequest} /
 * {@link WorkerReply}.
 */
import type { KeyObject } from 'node:crypto';
import WebSocket from 'ws';
import { AgentSession, type SessionCore } from '@launchplane/agent';
import {
  InMemoryReplayStore,
  PROTOCOL_SUBPROTOCOL,
  importPrivateKeyPem,
  importPublicJwk,
  signHello,
  signResult,
  toLaunchplaneError,
  verifyCommand,
  type InventoryMessage,
  type ResultPayload,
} from '@launchplane/shared';

/** One host the worker runs. */
export interface FleetHost {
  hostId: string;
  privateKeyPem: string;
}

/** Parent → worker. */
export type WorkerRequest =
  | {
      op: 'start';
      url: string;
      coordinatorId: string;
      coordinatorKey: unknown;
      hosts: FleetHost[];
    }
  | { op: 'slow'; url: string; host: FleetHost }
  | { op: 'report'; since: number }
  | { op: 'stop' };

/** What the worker knows about its sessions. Times are Unix ms of this machine's clock. */
export interface FleetReport {
  hosts: number;
  /** Sessions welcomed right now. */
  connected: number;
  /** Dial attempts at or after `since` (each WebSocket the sessions opened), in order. */
  attempts: { host: number; t: number }[];
  /** Welcomes at or after `since`, with the backoff attempt count the session was at. */
  welcomes: { host: number; t: number; attempt: number }[];
  /** Disconnects at or after `since`, with the close code. */
  disconnects: { host: number; t: number; code: number }[];
  commandsAnswered: number;
  commandsRefusedBadSignature: number;
  /** The slow host: its socket state. */
  slow?: { welcomed: boolean; closed: boolean; closeCode: number | undefined };
}

/** Worker → parent. */
export type WorkerReply =
  | { op: 'started' }
  | { op: 'slow-ready' }
  | { op: 'report'; report: FleetReport }
  | { op: 'stopped' }
  | { op: 'error'; message: string };

const sessions: AgentSession[] = [];
const connected = new Set<number>();
const attempts: { host: number; t: number }[] = [];
const welcomes: { host: number; t: number; attempt: number }[] = [];
const disconnects: { host: number; t: number; code: number }[] = [];
const counts = { answered: 0, badSignature: 0 };
let slowWs: WebSocket | undefined;
const slowState = { welcomed: false, closed: false, closeCode: undefined as number | undefined };

function reply(msg: WorkerReply): void {
  process.send?.(msg);
}

/** The agent core of a host that holds no lanes: every command is verified, then refused. */
function minimalCore(hostId: string, hostKey: KeyObject, coordinatorKey: KeyObject): SessionCore {
  const replay = new InMemoryReplayStore<ResultPayload>();
  return {
    handleCommand(jws: string): Promise<string> {
      let verified;
      try {
        verified = verifyCommand(jws, {
          publicKey: coordinatorKey,
          hostId,
          now: Math.floor(Date.now() / 1000),
          replay,
        });
      } catch (err) {
        counts.badSignature++;
        const e = toLaunchplaneError(err);
        // The real agent answers a refused command with a signed refusal; so does this one.
        return Promise.resolve(
          signResult(
            {
              iss: hostId,
              jti: '00000000-0000-4000-8000-000000000000',
              ok: false,
              dryRun: false,
              outcome: 'refused',
              error: { code: e.code, message: e.message.slice(0, 4096) },
            },
            { privateKey: hostKey },
          ),
        );
      }
      const { payload } = verified;
      const result: ResultPayload = {
        iss: hostId,
        jti: payload.jti,
        ok: false,
        dryRun: payload.cmd.dryRun,
        outcome: 'refused',
        error: {
          code: 'LP_NOT_FOUND',
          message: `Lane "${payload.cmd.laneId}" is not on this host`,
        },
      };
      replay.remember({ ...verified.replayRecord, result });
      counts.answered++;
      return Promise.resolve(signResult(result, { privateKey: hostKey }));
    },
    inventory(): InventoryMessage {
      return {
        type: 'inventory',
        optIn: { repositories: [], organizations: [], backends: [], maxLanes: 0 },
        lanes: [],
        capabilities: [],
      };
    },
    onInventoryChange: () => () => undefined,
    pendingEvents: () => [],
    ackEvents: () => undefined,
    onEvent: () => () => undefined,
  };
}

function start(msg: Extract<WorkerRequest, { op: 'start' }>): void {
  const coordinatorKey = importPublicJwk(msg.coordinatorKey);
  msg.hosts.forEach((host, i) => {
    const hostKey = importPrivateKeyPem(host.privateKeyPem);
    let last = 'idle';
    const session = new AgentSession({
      url: msg.url,
      hostId: host.hostId,
      coordinatorId: msg.coordinatorId,
      hostKey,
      agentVersion: '0.0.0-load',
      core: minimalCore(host.hostId, hostKey, coordinatorKey),
      onStatus: (s) => {
        const now = Date.now();
        if (s.state === 'connecting' && last !== 'connecting') attempts.push({ host: i, t: now });
        if (s.state === 'connected' && last !== 'connected') {
          connected.add(i);
          welcomes.push({ host: i, t: now, attempt: s.attempt });
        }
        if (last === 'connected' && s.state !== 'connected') {
          connected.delete(i);
          disconnects.push({ host: i, t: now, code: s.lastCloseCode ?? 0 });
        }
        last = s.state;
      },
    });
    sessions.push(session);
    session.start();
  });
  reply({ op: 'started' });
}

/** Opens the slow host's socket, answers the challenge, and once welcomed stops reading. */
function startSlow(msg: Extract<WorkerRequest, { op: 'slow' }>): void {
  const key = importPrivateKeyPem(msg.host.privateKeyPem);
  const ws = new WebSocket(msg.url, [PROTOCOL_SUBPROTOCOL], {
    perMessageDeflate: false,
    followRedirects: false,
  });
  slowWs = ws;
  ws.on('error', () => undefined);
  ws.on('close', (code) => {
    slowState.closed = true;
    slowState.closeCode = code;
  });
  ws.on('message', (data) => {
    const frame = JSON.parse((data as Buffer).toString('utf8')) as Record<string, unknown>;
    if (frame.type === 'challenge') {
      ws.send(
        JSON.stringify({
          type: 'hello',
          hostId: msg.host.hostId,
          nonce: frame.nonce,
          agentVersion: '0.0.0-slow',
          sig: signHello(
            {
              coordinatorId: String(frame.coordinatorId),
              hostId: msg.host.hostId,
              nonce: String(frame.nonce),
            },
            key,
          ),
        }),
      );
    } else if (frame.type === 'welcome' && !slowState.welcomed) {
      slowState.welcomed = true;
      // From here on nothing is read: the kernel buffers fill, then the coordinator's.
      ws.pause();
      reply({ op: 'slow-ready' });
    }
  });
}

function report(since: number): FleetReport {
  return {
    hosts: sessions.length,
    connected: connected.size,
    attempts: attempts.filter((a) => a.t >= since),
    welcomes: welcomes.filter((a) => a.t >= since),
    disconnects: disconnects.filter((a) => a.t >= since),
    commandsAnswered: counts.answered,
    commandsRefusedBadSignature: counts.badSignature,
    ...(slowWs === undefined ? {} : { slow: { ...slowState } }),
  };
}

async function stop(): Promise<void> {
  slowWs?.terminate();
  // Bounded: a session whose coordinator is gone ends at once; one connected closes with 1000.
  await Promise.race([
    Promise.all(sessions.map((s) => s.stop())),
    new Promise((resolve) => setTimeout(resolve, 10_000)),
  ]);
}

process.on('message', (raw: WorkerRequest) => {
  try {
    switch (raw.op) {
      case 'start':
        start(raw);
        return;
      case 'slow':
        startSlow(raw);
        return;
      case 'report':
        reply({ op: 'report', report: report(raw.since) });
        return;
      case 'stop':
        void stop().then(() => {
          reply({ op: 'stopped' });
          process.exit(0);
        });
        return;
    }
  } catch (err) {
    reply({ op: 'error', message: err instanceof Error ? err.message : String(err) });
  }
});
// The driver going away (IPC closed, test killed) ends the fleet.
process.on('disconnect', () => process.exit(0));
