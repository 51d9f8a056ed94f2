// A fleet of lightweight agent-side protocol clients in one process
// (docs/design/protocol.md "Session"):
// per host one WebSocket (`launchplane.v1`, no compression) → challenge → hello signed with the
// host key → welcome → inventory with the host's lanes. Each `command` is verified with
// `verifyCommand` against the coordinator key pinned at enrollment (audience, times, jti replay,
// seq, each host with its own replay store) and answered with a `signResult` result: for
// `lane.inspect`, the lane's report from the inventory. No backend work is done: this measures
// the coordinator, not a runner.
//
// Driven over IPC by bench/coordinator/run.mjs:
//   → {op: 'connect', agentUrl, coordinatorKey (JWK), hosts: [{hostId, privateKeyPem, lanes}],
//      concurrency}
//   ← {op: 'connected', connected, failures: {reason: count}, ms}
//   → {op: 'stats'}  ← {op: 'stats', answered, refused, closed}
//   → {op: 'close'}  closes every socket and exits.
import { performance } from 'node:perf_hooks';
import process from 'node:process';
import WebSocket from 'ws';
import {
  InMemoryReplayStore,
  PROTOCOL_SUBPROTOCOL,
  importPrivateKeyPem,
  importPublicJwk,
  signHello,
  signResult,
  verifyCommand,
} from '@launchplane/shared';
import { mapLimit } from './stats.mjs';

const sockets = new Set();
const counts = { answered: 0, refused: 0, closed: 0 };

function connectHost(agentUrl, coordinatorKey, host) {
  const privateKey = importPrivateKeyPem(host.privateKeyPem);
  const replay = new InMemoryReplayStore();
  const reports = new Map(host.lanes.map((l) => [l.laneId, l]));
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(agentUrl, [PROTOCOL_SUBPROTOCOL], {
      perMessageDeflate: false,
      followRedirects: false,
      maxPayload: 256 * 1024,
    });
    let welcomed = false;
    const timer = setTimeout(() => {
      ws.terminate();
      reject(new Error('handshake timeout'));
    }, 30_000);
    ws.on('error', (err) => {
      if (!welcomed) {
        clearTimeout(timer);
        reject(err);
      }
    });
    ws.on('unexpected-response', (_req, res) => {
      clearTimeout(timer);
      reject(new Error(`upgrade refused: ${res.statusCode}`));
    });
    ws.on('close', (code) => {
      sockets.delete(ws);
      if (welcomed) counts.closed++;
      else {
        clearTimeout(timer);
        reject(new Error(`closed during handshake: ${code}`));
      }
    });
    ws.on('message', (data) => {
      const frame = JSON.parse(data.toString('utf8'));
      switch (frame.type) {
        case 'challenge':
          ws.send(
            JSON.stringify({
              type: 'hello',
              hostId: host.hostId,
              nonce: frame.nonce,
              agentVersion: '0.0.0-bench',
              sig: signHello(
                { coordinatorId: frame.coordinatorId, hostId: host.hostId, nonce: frame.nonce },
                privateKey,
              ),
            }),
          );
          break;
        case 'welcome':
          welcomed = true;
          clearTimeout(timer);
          sockets.add(ws);
          ws.send(
            JSON.stringify({
              type: 'inventory',
              optIn: host.optIn,
              lanes: host.lanes,
              capabilities: ['docker'],
            }),
          );
          resolve();
          break;
        case 'command':
          answer(ws, frame.jws, { host, privateKey, replay, reports, coordinatorKey });
          break;
        default:
          break;
      }
    });
  });
}

function answer(ws, jws, { host, privateKey, replay, reports, coordinatorKey }) {
  const now = Math.floor(Date.now() / 1000);
  let verified;
  try {
    verified = verifyCommand(jws, {
      publicKey: coordinatorKey,
      hostId: host.hostId,
      now,
      replay,
    });
  } catch {
    // A command that does not verify is never answered as if it ran; the coordinator times out.
    counts.refused++;
    return;
  }
  const { payload } = verified;
  const lane = reports.get(payload.cmd.laneId);
  const result = {
    iss: host.hostId,
    jti: payload.jti,
    ok: lane !== undefined,
    dryRun: payload.cmd.dryRun,
    outcome: lane !== undefined ? 'inspected' : 'refused',
    ...(lane !== undefined
      ? { lane }
      : {
          error: {
            code: 'LP_NOT_FOUND',
            message: `Lane "${payload.cmd.laneId}" is not on this host`,
          },
        }),
  };
  replay.remember({ ...verified.replayRecord, result });
  ws.send(JSON.stringify({ type: 'result', jws: signResult(result, { privateKey }) }));
  counts.answered++;
}

process.on('message', (msg) => {
  if (msg.op === 'connect') {
    const coordinatorKey = importPublicJwk(msg.coordinatorKey);
    const failures = {};
    const t0 = performance.now();
    mapLimit(msg.hosts, msg.concurrency, async (host) => {
      try {
        await connectHost(msg.agentUrl, coordinatorKey, host);
        return true;
      } catch (err) {
        const why = String(err?.message ?? err).slice(0, 80);
        failures[why] = (failures[why] ?? 0) + 1;
        return false;
      }
    }).then((ok) =>
      process.send({
        op: 'connected',
        connected: ok.filter(Boolean).length,
        failures,
        ms: performance.now() - t0,
      }),
    );
  } else if (msg.op === 'stats') {
    process.send({ op: 'stats', ...counts, open: sockets.size });
  } else if (msg.op === 'close') {
    for (const ws of sockets) ws.close(1000, 'bench done');
    setTimeout(() => process.exit(0), 500).unref();
  }
});
// The driver going away (IPC closed) ends the fleet.
process.on('disconnect', () => process.exit(0));
