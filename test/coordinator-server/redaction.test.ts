/**
 * Every secret kind, sent through the coordinator's audit writers the way real callers reach them
 * (an agent's audit events, commands sent to a host), then read back the way an operator reads
 * them: `launchplane audit --json`, the table and `GET /v1/audit`.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { chainRecord, signEvent, type AuditRecord, type EventPayload } from '@launchplane/shared';
import { SECRET_SAMPLES } from '@launchplane/testkit/redact-vectors';
import { runCli } from '@launchplane/coordinator';
import { FakeAgent, enrollHost, newHostKey } from './fake-agent.js';
import { startHarness, type Harness } from './harness.js';

const LANE_ID = '01jd0000000000000000000000';

let h: Harness;
let key: ReturnType<typeof newHostKey>;
let agent: FakeAgent | undefined;

beforeEach(async () => {
  h = await startHarness();
  key = newHostKey();
  const t = await h.api('POST', '/v1/enrollment-tokens', { body: { hostId: 'host-a' } });
  const r = await enrollHost(h.baseUrl, {
    token: String(t.body.token),
    hostId: 'host-a',
    publicKey: key.publicKey,
  });
  expect(r.status).toBe(201);
  agent = await FakeAgent.connect(h.agentUrl, { hostId: 'host-a', privateKey: key.privateKey });
});
afterEach(async () => {
  agent?.ws.terminate();
  await h.close();
});

async function cli(args: string[]): Promise<{ status: number; out: string; err: string }> {
  let out = '';
  let err = '';
  const status = await runCli([...args, '--url', h.baseUrl, '--token', h.adminToken], {
    stdout: (t) => void (out += t),
    stderr: (t) => void (err += t),
  });
  return { status, out, err };
}

function event(seq: number, e: EventPayload['event']): EventPayload {
  return { iss: 'host-a', seq, at: h.clock.now, event: e };
}

describe('audit records as an operator reads them', () => {
  // The fake agent plays one that does not redact (an old or a faulty agent): each record it
  // signs holds a sample in its parameters, message and recovery. The coordinator sends commands
  // holding a JIT config and a registration token. Were the agent-session ingest or writeAudit to
  // stop using shared's redaction, `launchplane audit` would print these secrets.
  it('`launchplane audit --json`, the table and GET /v1/audit show no secret of any kind', async () => {
    const a = agent!;
    let prev: AuditRecord | undefined;
    for (const [i, sample] of SECRET_SAMPLES.entries()) {
      const record: AuditRecord = chainRecord(
        prev === undefined ? undefined : { hash: prev.hash! },
        {
          seq: i + 1,
          at: h.clock.now,
          actor: 'coordinator',
          hostId: 'host-a',
          laneId: LANE_ID,
          action: 'lane.create',
          params: { ...sample.fields, nested: [sample.fields] },
          dryRun: false,
          outcome: 'failed' as const,
          code: 'LP_BACKEND_FAILED' as const,
          message: `Create failed: ${sample.text}`.slice(0, 4096),
          recovery: `Retry without ${sample.text}`.slice(0, 4096),
        },
      );
      prev = record;
      a.send({
        type: 'event',
        seq: i + 1,
        jws: signEvent(event(i + 1, { kind: 'audit', record }), { privateKey: key.privateKey }),
      });
      expect(await a.next('ack')).toEqual({ type: 'ack', seq: i + 1 });
    }
    const jit = SECRET_SAMPLES.find((s) => s.kind.includes('lane.create'))!;
    const registration = SECRET_SAMPLES.find((s) => s.kind === 'registration token')!;
    const runners = [
      { jitConfig: jit.secret },
      { url: 'https://github.com/acme', registrationToken: registration.secret },
    ];
    for (const runner of runners) {
      const sent = h.coordinator.server.hub.send(
        'host-a',
        {
          type: 'lane.create',
          laneId: LANE_ID,
          dryRun: true,
          name: 'lp-host-a-build-00000000',
          scope: { repository: 'acme/api' },
          pool: 'build',
          labels: ['launchplane'],
          backend: 'systemd',
          ephemeral: 'jitConfig' in runner,
          runner,
        },
        { actor: 'tok-1', timeoutMs: 100 },
      );
      await a.next('command');
      await expect(sent).rejects.toMatchObject({ code: 'LP_TIMEOUT' });
    }

    const json = await cli(['audit', '--json']);
    expect(json.status).toBe(0);
    const records = (JSON.parse(json.out) as { records: AuditRecord[] }).records;
    expect(records.filter((r) => r.action === 'lane.create')).toHaveLength(SECRET_SAMPLES.length);
    expect(records.filter((r) => r.action === 'command.lane.create')).toHaveLength(2);
    // The host's chain was checked against what it signed, before its records were redacted.
    expect(records.filter((r) => r.action === 'agent.audit-chain')).toEqual([]);
    const table = await cli(['audit']);
    expect(table.status).toBe(0);
    const api = JSON.stringify((await h.api('GET', '/v1/audit?limit=1000')).body);
    for (const sample of SECRET_SAMPLES) {
      for (const [where, text] of [
        ['audit --json', json.out],
        ['audit', table.out + table.err],
        ['GET /v1/audit', api],
      ]) {
        expect(text, `${sample.kind} in ${where}`).not.toContain(sample.secret);
      }
    }
    expect(json.out).toContain('[redacted]');
  });
});
