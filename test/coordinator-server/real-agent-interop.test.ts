/**
 * Interop with the real agent's enrollment and session code (packages/agent), with a small core
 * that verifies commands with shared's verifyCommand and signs results and events. The full
 * agent with systemd and Docker is exercised by the e2e suites; this pins the wire contract.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AgentSession, enroll, loadEnrolledHost } from '@launchplane/agent';
import {
  InMemoryReplayStore,
  chainRecord,
  signEvent,
  signResult,
  verifyCommand,
  type AuditRecord,
  type InventoryMessage,
} from '@launchplane/shared';
import { startHarness, type Harness } from './harness.js';

let h: Harness;
let dir: string;
beforeAll(async () => {
  h = await startHarness();
  dir = mkdtempSync(join(tmpdir(), 'lp-interop-'));
});
afterAll(async () => {
  await h.close();
  rmSync(dir, { recursive: true, force: true });
});

describe('the real agent session against the coordinator', () => {
  it('enrolls, connects, reports inventory, ships events until acked, and answers commands', async () => {
    const t = await h.api('POST', '/v1/enrollment-tokens', { body: { hostId: 'host-r' } });
    const configPath = join(dir, 'agent.yaml');
    const enrolled = await enroll({
      coordinatorUrl: h.baseUrl,
      token: String(t.body.token),
      hostId: 'host-r',
      expectedFingerprint: h.coordinator.identity.fingerprint,
      configPath,
      dataDir: join(dir, 'data'),
      agentVersion: '0.1.0',
    });
    expect(enrolled).toMatchObject({
      coordinatorId: h.coordinator.coordinatorId,
      agentUrl: h.agentUrl,
      coordinatorFingerprint: h.coordinator.identity.fingerprint,
    });
    const host = await loadEnrolledHost(configPath);

    const replay = new InMemoryReplayStore();
    // Audit records chained as the agent's log chains them.
    const records: ReturnType<typeof chainRecord<AuditRecord>>[] = [];
    for (const seq of [1, 2, 3]) {
      records.push(
        chainRecord(records.at(-1), {
          seq,
          at: h.clock.now,
          actor: 'agent',
          action: `interop.${seq}`,
          params: {},
          dryRun: false,
          outcome: 'ok' as const,
        }),
      );
    }
    const outbox = records.map((record) => ({
      seq: record.seq,
      jws: signEvent(
        { iss: 'host-r', seq: record.seq, at: h.clock.now, event: { kind: 'audit', record } },
        { privateKey: host.hostKey },
      ),
    }));
    let acked = 0;
    const inventory: InventoryMessage = {
      type: 'inventory',
      optIn: { repositories: ['acme/api'], organizations: [], backends: ['docker'], maxLanes: 1 },
      lanes: [],
      capabilities: ['interop'],
    };
    const session = new AgentSession({
      url: enrolled.agentUrl,
      hostId: 'host-r',
      coordinatorId: host.coordinatorId,
      hostKey: host.hostKey,
      agentVersion: '0.1.0',
      core: {
        handleCommand: (jws) => {
          const v = verifyCommand(jws, {
            publicKey: host.coordinatorKey,
            hostId: 'host-r',
            now: Math.floor(Date.now() / 1000),
            replay,
          });
          return Promise.resolve(
            signResult(
              {
                iss: 'host-r',
                jti: v.payload.jti,
                ok: true,
                dryRun: v.payload.cmd.dryRun,
                outcome: 'inspected',
              },
              { privateKey: host.hostKey },
            ),
          );
        },
        inventory: () => inventory,
        onInventoryChange: () => () => undefined,
        pendingEvents: () => outbox.filter((e) => e.seq > acked),
        ackEvents: (upto) => {
          acked = Math.max(acked, upto);
        },
        onEvent: () => () => undefined,
      },
    });
    session.start();
    try {
      await expect
        .poll(() => h.coordinator.server.hub.session('host-r')?.inventory?.capabilities)
        .toEqual(['interop']);
      await expect.poll(() => acked).toBe(3);
      const audit = await h.coordinator.store.listAudit({ hostId: 'host-r' });
      expect(audit.map((r) => r.action)).toEqual(
        expect.arrayContaining([
          'host.enroll',
          'agent.connect',
          'interop.1',
          'interop.2',
          'interop.3',
        ]),
      );
      const result = await h.coordinator.server.hub.send(
        'host-r',
        { type: 'lane.inspect', laneId: '01jd0000000000000000000000', dryRun: true },
        { actor: 'interop', timeoutMs: 5000 },
      );
      expect(result).toMatchObject({ iss: 'host-r', ok: true, dryRun: true, outcome: 'inspected' });
    } finally {
      await session.stop();
    }
  });
});
