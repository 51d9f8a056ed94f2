/**
 * The built `launchplane-agent` binary end to end, against a minimal coordinator written here
 * (the enrollment handshake over HTTP, the session over WebSocket, both on 127.0.0.1 port 0):
 * enroll, run, status while connected, SIGTERM stops cleanly.
 */
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { readFile, stat } from 'node:fs/promises';
import { createServer } from 'node:http';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { WebSocketServer } from 'ws';
import type { WebSocket } from 'ws';
import {
  enrollChallengeRequestSchema,
  enrollProofKey,
  enrollProofMatches,
  enrollRequestSchema,
  exportPublicJwk,
  fingerprint,
  importPublicJwk,
  newNonce,
  signEnrollChallenge,
  signEnrolled,
  verifyHello,
} from '@launchplane/shared';
import type { KeyObject } from 'node:crypto';
import { tempDir } from '../testbed/temp-dir.js';
import type { TempDir } from '../testbed/temp-dir.js';

const BIN = fileURLToPath(new URL('../../packages/agent/dist/cli.js', import.meta.url));
const TOKEN_ID = randomBytes(8).toString('hex');
const SECRET = randomBytes(32).toString('base64url');
const TOKEN = `lpe_${TOKEN_ID}_${SECRET}`;
const COORDINATOR_ID = 'coord-bin';

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

function runBin(args: string[], env: Record<string, string>): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [BIN, ...args], { env: { ...process.env, ...env } });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
    child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

describe('launchplane-agent binary', () => {
  let dir: TempDir;
  let http: Server;
  let wss: WebSocketServer;
  let httpBase: string;
  let daemon: ChildProcess | undefined;
  const coordinatorKey = generateKeyPairSync('ed25519');
  let enrolledKey: KeyObject | undefined;
  const sockets: { ws: WebSocket; messages: unknown[]; closed: Promise<number> }[] = [];

  beforeAll(async () => {
    await stat(BIN).catch(() => {
      throw new Error(`${BIN} is missing: build first (npm run build)`);
    });
    dir = await tempDir({ prefix: 'lp-agent-bin-' });
    wss = new WebSocketServer({
      host: '127.0.0.1',
      port: 0,
      handleProtocols: (p) => (p.has('launchplane.v1') ? 'launchplane.v1' : false),
    });
    await new Promise<void>((r) => wss.once('listening', r));
    const agentUrl = `ws://127.0.0.1:${(wss.address() as AddressInfo).port}/v1/agent`;
    wss.on('connection', (ws) => {
      const entry = {
        ws,
        messages: [] as unknown[],
        closed: new Promise<number>((r) => ws.on('close', (code) => r(code))),
      };
      sockets.push(entry);
      const nonce = randomBytes(32).toString('base64url');
      ws.on('message', (data) => {
        const msg = JSON.parse(Buffer.from(data as Buffer).toString('utf8')) as Record<
          string,
          string
        >;
        entry.messages.push(msg);
        if (msg['type'] === 'hello' && enrolledKey !== undefined) {
          verifyHello(
            { hostId: msg['hostId'] ?? '', nonce: msg['nonce'] ?? '', sig: msg['sig'] ?? '' },
            { publicKey: enrolledKey, coordinatorId: COORDINATOR_ID, nonce },
          );
          ws.send(JSON.stringify({ type: 'welcome', heartbeatSec: 15 }));
        }
      });
      ws.send(JSON.stringify({ type: 'challenge', nonce, coordinatorId: COORDINATOR_ID }));
    });
    // The coordinator's side of the enrollment handshake, from the shared protocol functions.
    const challenges = new Map<string, { hostId: string; agentNonce: string }>();
    http = createServer((req, res) => {
      let body = '';
      req.on('data', (c: Buffer) => (body += c.toString()));
      req.on('end', () => {
        const answer = (status: number, value: unknown) =>
          res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(value));
        if (req.url === '/v1/enroll/challenge') {
          const r = enrollChallengeRequestSchema.parse(JSON.parse(body));
          const nonce = newNonce();
          const expiresAt = Math.floor(Date.now() / 1000) + 60;
          challenges.set(nonce, r);
          answer(200, {
            coordinatorId: COORDINATOR_ID,
            coordinatorKey: exportPublicJwk(coordinatorKey.publicKey),
            nonce,
            expiresAt,
            sig: signEnrollChallenge(
              { coordinatorId: COORDINATOR_ID, ...r, nonce, expiresAt },
              coordinatorKey.privateKey,
            ),
          });
          return;
        }
        const r = enrollRequestSchema.parse(JSON.parse(body));
        const challenge = challenges.get(r.nonce);
        const key = importPublicJwk(r.publicKey);
        if (
          req.url !== '/v1/enroll' ||
          challenge === undefined ||
          r.tokenId !== TOKEN_ID ||
          !enrollProofMatches(
            enrollProofKey(SECRET),
            {
              coordinatorId: COORDINATOR_ID,
              hostId: r.hostId,
              tokenId: r.tokenId,
              hostFingerprint: fingerprint(key),
              agentNonce: challenge.agentNonce,
              nonce: r.nonce,
            },
            r.proof,
          )
        ) {
          answer(401, { error: { code: 'LP_TOKEN_INVALID', message: 'Unknown token' } });
          return;
        }
        enrolledKey = key;
        answer(201, {
          hostId: r.hostId,
          coordinatorId: COORDINATOR_ID,
          coordinatorKey: exportPublicJwk(coordinatorKey.publicKey),
          agentUrl,
          hostFingerprint: fingerprint(key),
          sig: signEnrolled(
            {
              coordinatorId: COORDINATOR_ID,
              hostId: r.hostId,
              hostFingerprint: fingerprint(key),
              agentUrl,
              nonce: r.nonce,
            },
            coordinatorKey.privateKey,
          ),
        });
      });
    });
    await new Promise<void>((r) => http.listen(0, '127.0.0.1', r));
    httpBase = `http://127.0.0.1:${(http.address() as AddressInfo).port}`;
  });

  afterAll(async () => {
    daemon?.kill('SIGKILL');
    for (const s of sockets) s.ws.terminate();
    await new Promise<void>((r) => wss.close(() => r()));
    http.closeAllConnections();
    await new Promise<void>((r) => http.close(() => r()));
    await dir.cleanup();
  });

  it('enrolls, runs, reports connected status, and stops on SIGTERM', async () => {
    const configPath = join(dir.path, 'agent.yaml');
    const dataDir = join(dir.path, 'data');
    const env = { LAUNCHPLANE_AGENT_CONFIG: configPath };

    const wrong = await runBin(
      [
        'enroll',
        '--coordinator',
        httpBase,
        '--host-id',
        'host-a',
        '--data-dir',
        dataDir,
        '--coordinator-fingerprint',
        fingerprint(coordinatorKey.publicKey),
      ],
      { ...env, LAUNCHPLANE_ENROLL_TOKEN: `lpe_${TOKEN_ID}_${'A'.repeat(43)}` },
    );
    expect(wrong.code).toBe(1);
    expect(wrong.stderr).toMatch(/^error LP_TOKEN_INVALID: /m);
    expect(wrong.stderr).not.toContain(SECRET);

    const enrolled = await runBin(
      [
        'enroll',
        '--coordinator',
        httpBase,
        '--host-id',
        'host-a',
        '--data-dir',
        dataDir,
        '--coordinator-fingerprint',
        fingerprint(coordinatorKey.publicKey),
        '--json',
      ],
      { ...env, LAUNCHPLANE_ENROLL_TOKEN: TOKEN },
    );
    expect(enrolled.stderr).toBe('');
    expect(enrolled.code).toBe(0);
    expect(JSON.parse(enrolled.stdout)).toMatchObject({
      ok: true,
      hostId: 'host-a',
      coordinatorId: COORDINATOR_ID,
      // The refused attempt already made the key; a retry reuses it so the coordinator sees one key.
      keyCreated: false,
      configCreated: true,
    });
    expect((await stat(join(dataDir, 'private', 'host.key'))).mode & 0o777).toBe(0o600);
    expect(await readFile(configPath, 'utf8')).not.toContain(TOKEN);

    daemon = spawn(process.execPath, [BIN, 'run'], { env: { ...process.env, ...env } });
    let logs = '';
    daemon.stdout?.on('data', (c: Buffer) => (logs += c.toString()));
    daemon.stderr?.on('data', (c: Buffer) => (logs += c.toString()));
    const exited = new Promise<number | null>((r) => daemon?.on('close', (code) => r(code)));

    while (!sockets[0]?.messages.some((m) => (m as { type: string }).type === 'inventory')) {
      await new Promise((r) => setTimeout(r, 20));
    }
    let status: { connection: { state: string }; daemon: { running: boolean } } | undefined;
    for (;;) {
      const s = await runBin(['status', '--json'], env);
      expect(s.code).toBe(0);
      status = JSON.parse(s.stdout) as typeof status;
      if (status?.connection.state === 'connected') break;
      await new Promise((r) => setTimeout(r, 50));
    }
    expect(status?.daemon.running).toBe(true);

    const second = await runBin(['run'], env);
    expect(second.code).toBe(1);
    expect(second.stderr).toMatch(/^error LP_CONFLICT: /m);

    daemon.kill('SIGTERM');
    expect(await exited).toBe(0);
    expect(await sockets[0]?.closed).toBe(1000);
    expect(logs).not.toContain(TOKEN);
    const after = await runBin(['status', '--json'], env);
    expect(JSON.parse(after.stdout)).toMatchObject({ daemon: { running: false } });
    daemon = undefined;
  });
});
