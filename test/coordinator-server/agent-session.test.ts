import { randomUUID } from 'node:crypto';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  LaunchplaneError,
  InMemoryReplayStore,
  chainRecord,
  importPublicJwk,
  signEvent,
  signResult,
  verifyCommand,
  type EventPayload,
  type LaneReport,
} from '@launchplane/shared';
import type { LaneRecord } from '@launchplane/coordinator';
import { FakeAgent, enrollHost, laneRecordOf, laneReportOf, newHostKey } from './fake-agent.js';
import { startHarness, type Harness } from './harness.js';

const LANE_ID = '01jd0000000000000000000000';

let h: Harness;
let key: ReturnType<typeof newHostKey>;
const agents: FakeAgent[] = [];

beforeEach(async () => {
  h = await startHarness({ yaml: 'agents: { heartbeatSec: 1, handshakeTimeoutSec: 1 }\n' });
  key = newHostKey();
  await enroll('host-a', key);
});
afterEach(async () => {
  for (const a of agents.splice(0)) a.ws.terminate();
  await h.close();
});

async function enroll(hostId: string, k: ReturnType<typeof newHostKey>): Promise<void> {
  const t = await h.api('POST', '/v1/enrollment-tokens', { body: { hostId } });
  const r = await enrollHost(h.baseUrl, {
    token: String(t.body.token),
    hostId,
    publicKey: k.publicKey,
  });
  expect(r.status).toBe(201);
}

async function connect(hostId = 'host-a', k = key): Promise<FakeAgent> {
  const a = await FakeAgent.connect(h.agentUrl, { hostId, privateKey: k.privateKey });
  agents.push(a);
  return a;
}

async function open(): Promise<FakeAgent> {
  const a = await FakeAgent.open(h.agentUrl);
  agents.push(a);
  return a;
}

const LANE: LaneRecord = laneRecordOf(LANE_ID);

function laneReport(state: LaneReport['state']): LaneReport {
  return laneReportOf(LANE, state);
}

function event(seq: number, event: EventPayload['event'], iss = 'host-a'): EventPayload {
  return { iss, seq, at: h.clock.now, event };
}

describe('agent session', () => {
  it('challenge → hello → welcome; the host shows as connected', async () => {
    const a = await open();
    const challenge = await a.next('challenge');
    expect(challenge.coordinatorId).toBe(h.coordinator.coordinatorId);
    expect(String(challenge.nonce)).toMatch(/^[A-Za-z0-9_-]{43}$/);
    a.frames.unshift(challenge);
    await a.hello({ hostId: 'host-a', privateKey: key.privateKey });
    expect(await a.next('welcome')).toEqual({ type: 'welcome', heartbeatSec: 1 });
    expect(h.coordinator.server.hub.session('host-a')?.agentVersion).toBe('0.0.0-test');
    const hosts = await h.api('GET', '/v1/hosts');
    expect((hosts.body.hosts as { hostId: string; connected: boolean }[])[0]).toMatchObject({
      hostId: 'host-a',
      connected: true,
    });
  });

  it('a hello signed with another key is closed with 4401 and counted for its source', async () => {
    const a = await open();
    await a.hello({ hostId: 'host-a', privateKey: newHostKey().privateKey });
    expect((await a.closed).code).toBe(4401);
    expect(h.coordinator.server.hub.session('host-a')).toBeUndefined();
    await h.coordinator.server.guard.tally.flush();
    const audit = await h.coordinator.store.listAudit({});
    expect(audit.at(-1)).toMatchObject({
      actor: 'anonymous',
      action: 'auth.refused',
      outcome: 'refused',
      code: 'LP_SIGNATURE_INVALID',
      params: { source: '127.0.0.1', count: 1, kinds: { 'agent-hello': 1 } },
    });
  });

  it('an unknown host and a bad signature get the same answer: same close code, same reason', async () => {
    const answers: { code: number; reason: string }[] = [];
    for (const hello of [
      { hostId: 'host-zz', privateKey: key.privateKey },
      { hostId: 'host-a', privateKey: newHostKey().privateKey },
      { hostId: 'host-zz', privateKey: newHostKey().privateKey },
    ]) {
      const a = await open();
      await a.hello(hello);
      answers.push(await a.closed);
    }
    expect(answers).toEqual([
      { code: 4401, reason: 'authentication failed' },
      { code: 4401, reason: 'authentication failed' },
      { code: 4401, reason: 'authentication failed' },
    ]);
    // The operator still sees the real causes, counted.
    await h.coordinator.server.guard.tally.flush();
    const [row] = (await h.coordinator.store.listAudit({})).filter(
      (r) => r.action === 'auth.refused',
    );
    expect(row?.params).toMatchObject({
      count: 3,
      codes: { LP_UNAUTHENTICATED: 2, LP_SIGNATURE_INVALID: 1 },
    });
  });

  it('a revoked host learns it is revoked only with a valid signature', async () => {
    expect((await h.api('POST', '/v1/hosts/host-a/revoke')).status).toBe(200);
    const forged = await open();
    await forged.hello({ hostId: 'host-a', privateKey: newHostKey().privateKey });
    expect(await forged.closed).toEqual({ code: 4401, reason: 'authentication failed' });
    const real = await open();
    await real.hello({ hostId: 'host-a', privateKey: key.privateKey });
    expect((await real.closed).code).toBe(4403);
  });

  it('a hello claiming another enrolled host is closed with 4401', async () => {
    const keyB = newHostKey();
    await enroll('host-b', keyB);
    const a = await open();
    // Signed with host-a's key for host-a's text, but claiming host-b.
    await a.hello({ hostId: 'host-a', privateKey: key.privateKey, claimHostId: 'host-b' });
    expect((await a.closed).code).toBe(4401);
  });

  it('a frame before the hello is closed with 4400', async () => {
    const a = await open();
    a.send({ type: 'inventory', optIn: {}, lanes: [], capabilities: [] });
    expect((await a.closed).code).toBe(4400);
  });

  it.each([
    ['not JSON', 'hello there'],
    ['duplicate keys', '{"type":"hello","type":"inventory"}'],
    ['an unknown type', '{"type":"shell","cmd":"rm -rf /"}'],
    ['a JSON array', '[1,2,3]'],
  ])('%s before or after the hello closes with 4400', async (_what, text) => {
    const before = await open();
    before.ws.send(text);
    expect((await before.closed).code).toBe(4400);
    const after = await connect();
    after.ws.send(text);
    expect((await after.closed).code).toBe(4400);
  });

  it('a binary frame closes with 4400', async () => {
    const a = await connect();
    a.ws.send(Buffer.from('{"type":"inventory"}'));
    expect((await a.closed).code).toBe(4400);
  });

  it('a second hello on an authenticated session closes with 4400', async () => {
    const a = await connect();
    a.send({
      type: 'hello',
      hostId: 'host-a',
      nonce: 'A'.repeat(43),
      agentVersion: '1',
      sig: 'A'.repeat(86),
    });
    expect((await a.closed).code).toBe(4400);
  });

  it('a silent peer is closed with 4408 after the handshake timeout', async () => {
    const a = await open();
    expect((await a.closed).code).toBe(4408);
  });

  it('a revoked host is refused at hello with 4403', async () => {
    await h.api('POST', '/v1/hosts/host-a/revoke');
    const a = await open();
    await a.hello({ hostId: 'host-a', privateKey: key.privateKey });
    expect((await a.closed).code).toBe(4403);
  });

  it('revoking a host closes its live session at once with 4403', async () => {
    const a = await connect();
    const r = await h.api('POST', '/v1/hosts/host-a/revoke');
    expect(r.body).toMatchObject({ hostId: 'host-a', sessionClosed: true });
    expect((await a.closed).code).toBe(4403);
    expect(h.coordinator.server.hub.session('host-a')).toBeUndefined();
    const audit = await h.api('GET', '/v1/audit?host=host-a');
    expect((audit.body.records as { action: string }[]).map((x) => x.action)).toContain(
      'host.revoke',
    );
  });

  it('a new authenticated session replaces the old one', async () => {
    const first = await connect();
    const second = await connect();
    expect((await first.closed).code).toBe(4000);
    expect(second.ws.readyState).toBe(second.ws.OPEN);
    expect(h.coordinator.server.hub.sessions().map((s) => s.hostId)).toEqual(['host-a']);
  });

  it('an oversized frame is refused (1009) and ends the session', async () => {
    const a = await connect();
    a.ws.send('x'.repeat(257 * 1024));
    expect((await a.closed).code).toBe(1009);
  });

  it('other paths and other subprotocols are refused at upgrade', async () => {
    await expect(FakeAgent.open(h.agentUrl.replace('/v1/agent', '/v1/other'))).rejects.toThrow(
      /404/,
    );
    await expect(FakeAgent.open(h.agentUrl, { protocols: ['other.v1'] })).rejects.toThrow(/400/);
  });

  it('inventory is stored: opt-in and capabilities on the host, lane states for its known lanes', async () => {
    await h.coordinator.store.putLane(LANE);
    const a = await connect();
    const optIn = {
      repositories: ['acme/api'],
      organizations: [],
      backends: ['systemd'],
      maxLanes: 2,
    };
    a.send({ type: 'inventory', optIn, lanes: [laneReport('online')], capabilities: ['gpu'] });
    await expect
      .poll(async () => (await h.coordinator.store.getHost('host-a'))?.capabilities)
      .toEqual(['gpu']);
    expect((await h.coordinator.store.getHost('host-a'))?.optIn).toEqual(optIn);
    expect((await h.coordinator.store.getLane(LANE_ID))?.state).toBe('online');
    expect(h.coordinator.server.hub.session('host-a')?.inventory?.lanes).toHaveLength(1);
  });

  it("a lane recorded for another host is not changed by this host's inventory", async () => {
    await h.coordinator.store.putLane({ ...LANE, hostId: 'host-b' });
    const a = await connect();
    a.send({
      type: 'inventory',
      optIn: { repositories: [], organizations: [], backends: [], maxLanes: 0 },
      lanes: [laneReport('removed')],
      capabilities: ['marker'],
    });
    await expect
      .poll(async () => (await h.coordinator.store.getHost('host-a'))?.capabilities)
      .toEqual(['marker']);
    expect((await h.coordinator.store.getLane(LANE_ID))?.state).toBe('starting');
  });

  it("a host's report never gives a lane a runner id: ids come only from GitHub's answers", async () => {
    // A create the host refused: the lane failed before GitHub answered with a runner.
    await h.coordinator.store.putLane({ ...LANE, runnerId: undefined, state: 'failed' });
    const a = await connect();
    // The host, with its real key, claims runner 3 (a hand-made runner) in its inventory…
    a.send({
      type: 'inventory',
      optIn: { repositories: [], organizations: [], backends: [], maxLanes: 0 },
      lanes: [{ ...laneReport('failed'), runnerId: 3, recovery: 'from the host' }],
      capabilities: ['inventory-seen'],
    });
    await expect
      .poll(async () => (await h.coordinator.store.getHost('host-a'))?.capabilities)
      .toEqual(['inventory-seen']);
    // …and in a lane event.
    a.send({
      type: 'event',
      seq: 1,
      jws: signEvent(event(1, { kind: 'lane', lane: { ...laneReport('online'), runnerId: 3 } }), {
        privateKey: key.privateKey,
      }),
    });
    expect(await a.next('ack')).toEqual({ type: 'ack', seq: 1 });
    const lane = await h.coordinator.store.getLane(LANE_ID);
    expect(lane?.runnerId).toBeUndefined();
    expect(lane?.recovery).toBe('from the host');
  });

  it("an agent's audit record is stored under the session's identity, its own actor kept as a claim", async () => {
    const a = await connect();
    const record = chainRecord(undefined, {
      seq: 1,
      at: h.clock.now,
      actor: 'tok-admin-of-someone-else',
      hostId: 'host-a',
      action: 'lane.remove',
      params: { claimedActor: 'forged too' },
      dryRun: false,
      outcome: 'ok' as const,
    });
    a.send({
      type: 'event',
      seq: 1,
      jws: signEvent(event(1, { kind: 'audit', record }), { privateKey: key.privateKey }),
    });
    expect(await a.next('ack')).toEqual({ type: 'ack', seq: 1 });
    const stored = (await h.coordinator.store.listAudit({ hostId: 'host-a' })).filter(
      (r) => r.action === 'lane.remove',
    );
    expect(stored).toHaveLength(1);
    expect(stored[0]).toMatchObject({
      actor: 'agent:host-a',
      hostId: 'host-a',
      params: { claimedActor: 'tok-admin-of-someone-else', agentSeq: 1 },
    });
    // The chain is still checked against what the host signed.
    expect(
      (await h.coordinator.store.listAudit({ hostId: 'host-a' })).some(
        (r) => r.action === 'agent.audit-chain',
      ),
    ).toBe(false);
  });

  it('events are verified, stored once per seq, acknowledged, and applied', async () => {
    await h.coordinator.store.putLane(LANE);
    const a = await connect();
    const record = chainRecord(undefined, {
      seq: 1,
      at: h.clock.now,
      actor: 'coordinator',
      hostId: 'host-a',
      laneId: LANE_ID,
      action: 'lane.create',
      params: { name: 'x' },
      dryRun: false,
      outcome: 'ok' as const,
    });
    const e1 = signEvent(event(1, { kind: 'audit', record }), { privateKey: key.privateKey });
    const e2 = signEvent(event(2, { kind: 'lane', lane: laneReport('busy') }), {
      privateKey: key.privateKey,
    });
    a.send({ type: 'event', seq: 1, jws: e1 });
    a.send({ type: 'event', seq: 2, jws: e2 });
    expect(await a.next('ack')).toEqual({ type: 'ack', seq: 1 });
    expect(await a.next('ack')).toEqual({ type: 'ack', seq: 2 });
    // Resent after a reconnect: acknowledged again, stored once.
    a.send({ type: 'event', seq: 1, jws: e1 });
    expect(await a.next('ack')).toEqual({ type: 'ack', seq: 1 });
    const audit = await h.api('GET', `/v1/audit?lane=${LANE_ID}`);
    const fromAgent = (audit.body.records as { action: string; hash?: string }[]).filter(
      (x) => x.action === 'lane.create',
    );
    expect(fromAgent).toHaveLength(1);
    expect(fromAgent[0]?.hash).toBe(record.hash);
    expect(JSON.stringify(audit.body)).not.toContain('agent.audit-chain');
    expect((await h.coordinator.store.getLane(LANE_ID))?.state).toBe('busy');
  });

  it("tells the hub's listeners when a report changes a lane's state, and only then, past a faulty one", async () => {
    await h.coordinator.store.putLane(LANE);
    let calls = 0;
    // A listener that throws neither stops the others nor the host's acknowledgement.
    h.coordinator.server.hub.onLaneChange?.(() => {
      throw new Error('a faulty listener');
    });
    h.coordinator.server.hub.onLaneChange?.(() => calls++);
    const a = await connect();
    const send = (seq: number, state: LaneReport['state']): void =>
      a.send({
        type: 'event',
        seq,
        jws: signEvent(event(seq, { kind: 'lane', lane: laneReport(state) }), {
          privateKey: key.privateKey,
        }),
      });
    // starting → online: a change.
    send(1, 'online');
    expect(await a.next('ack')).toEqual({ type: 'ack', seq: 1 });
    expect(calls).toBe(1);
    // online again: no change, no call.
    send(2, 'online');
    expect(await a.next('ack')).toEqual({ type: 'ack', seq: 2 });
    expect(calls).toBe(1);
    // online → busy, by an inventory this time.
    a.send({
      type: 'inventory',
      optIn: { repositories: [], organizations: [], backends: [], maxLanes: 1 },
      lanes: [laneReport('busy')],
      capabilities: [],
    });
    await expect.poll(() => calls).toBe(2);
    expect((await h.coordinator.store.getLane(LANE_ID))?.state).toBe('busy');
  });

  it('agent audit records must continue their hash chain; a break is stored, flagged and audited', async () => {
    const a = await connect();
    const base = {
      at: h.clock.now,
      actor: 'coordinator',
      hostId: 'host-a',
      params: {},
      dryRun: false,
      outcome: 'ok' as const,
    };
    const r1 = chainRecord(undefined, { ...base, seq: 1, action: 'one' });
    const r2 = chainRecord(r1, { ...base, seq: 2, action: 'two' });
    const r3 = chainRecord(r2, { ...base, seq: 3, action: 'three' });
    const r4 = chainRecord(r3, { ...base, seq: 4, action: 'four' });
    const send = (seq: number, record: typeof r1) =>
      a.send({
        type: 'event',
        seq,
        jws: signEvent(event(seq, { kind: 'audit', record }), { privateKey: key.privateKey }),
      });
    send(1, r1);
    send(2, r2);
    // Record 3 never arrives (lost or deleted on the host); record 4 names it as its predecessor.
    send(3, r4);
    // A record edited after it was chained.
    send(4, { ...chainRecord(r4, { ...base, seq: 5, action: 'five' }), action: 'edited' });
    for (let i = 1; i <= 4; i++) expect((await a.next('ack')).seq).toBe(i);
    const records = await h.coordinator.store.listAudit({ hostId: 'host-a' });
    const breaks = records.filter((r) => r.action === 'agent.audit-chain');
    expect(breaks.map((r) => r.params.chainBreak)).toEqual(['prev-hash-mismatch', 'hash-mismatch']);
    expect(breaks.map((r) => r.params.agentSeq)).toEqual([4, 5]);
    expect(records.find((r) => r.action === 'two')?.params.chainBreak).toBeUndefined();
  });

  it('an event whose signed issuer is another host is refused and closes the session (4400)', async () => {
    const keyB = newHostKey();
    await enroll('host-b', keyB);
    const a = await connect();
    // Signed by host-a's own key but naming host-b as issuer.
    const jws = signEvent(event(1, { kind: 'lane-removed', laneId: LANE_ID }, 'host-b'), {
      privateKey: key.privateKey,
    });
    a.send({ type: 'event', seq: 1, jws });
    expect((await a.closed).code).toBe(4400);
    expect(await h.coordinator.store.putAgentEvent('host-b', 1, {}, 0)).toBe(true);
  });

  it('an audit event naming another host is refused (4400)', async () => {
    const a = await connect();
    const record = {
      seq: 1,
      at: h.clock.now,
      actor: 'x',
      hostId: 'host-b',
      action: 'lane.remove',
      params: {},
      dryRun: false,
      outcome: 'ok' as const,
    };
    a.send({
      type: 'event',
      seq: 1,
      jws: signEvent(event(1, { kind: 'audit', record }), { privateKey: key.privateKey }),
    });
    expect((await a.closed).code).toBe(4400);
  });

  it('an event signed with another key is refused (4401) and not stored', async () => {
    const a = await connect();
    const jws = signEvent(event(1, { kind: 'lane-removed', laneId: LANE_ID }), {
      privateKey: newHostKey().privateKey,
    });
    a.send({ type: 'event', seq: 1, jws });
    expect((await a.closed).code).toBe(4401);
    expect(await h.coordinator.store.putAgentEvent('host-a', 1, {}, 0)).toBe(true);
  });

  it('send() signs a command the agent can verify, and resolves with the verified result', async () => {
    const a = await connect();
    const sent = h.coordinator.server.hub.send(
      'host-a',
      { type: 'lane.inspect', laneId: LANE_ID, dryRun: false },
      { actor: 'tok-1', timeoutMs: 5000 },
    );
    const frame = await a.next('command');
    const verified = verifyCommand(frame.jws, {
      publicKey: importPublicJwk(h.coordinator.identity.publicJwk),
      hostId: 'host-a',
      now: h.clock.now,
      replay: new InMemoryReplayStore(),
    });
    expect(verified.payload.iss).toBe(h.coordinator.coordinatorId);
    expect(verified.payload.exp - verified.payload.iat).toBe(120);
    expect(verified.payload.seq).toBe(1);
    const result = {
      iss: 'host-a',
      jti: verified.payload.jti,
      ok: true,
      dryRun: false,
      outcome: 'inspected',
    };
    a.send({ type: 'result', jws: signResult(result, { privateKey: key.privateKey }) });
    expect(await sent).toEqual(result);
    const cmd = await h.coordinator.store.getCommand(verified.payload.jti);
    expect(cmd).toMatchObject({
      hostId: 'host-a',
      seq: 1,
      type: 'lane.inspect',
      actor: 'tok-1',
      result,
    });
    // The next command gets the next seq.
    const second = h.coordinator.server.hub.send(
      'host-a',
      { type: 'lane.inspect', laneId: LANE_ID, dryRun: true },
      { actor: 'tok-1', timeoutMs: 200 },
    );
    const f2 = await a.next('command');
    expect(
      JSON.parse(Buffer.from(String(f2.jws).split('.')[1] ?? '', 'base64url').toString()).seq,
    ).toBe(2);
    await expect(second).rejects.toMatchObject({ code: 'LP_TIMEOUT' });
  });

  it('secrets in a command are never stored or audited', async () => {
    const a = await connect();
    const secret = 'JIT-SECRET-VALUE-123';
    const sent = h.coordinator.server.hub.send(
      'host-a',
      {
        type: 'lane.create',
        laneId: LANE_ID,
        dryRun: false,
        name: 'lp-host-a-build-00000000',
        scope: { repository: 'acme/api' },
        pool: 'build',
        labels: ['launchplane'],
        backend: 'systemd',
        ephemeral: true,
        runner: { jitConfig: secret },
      },
      { actor: 'tok-1', timeoutMs: 100 },
    );
    await a.next('command');
    await expect(sent).rejects.toMatchObject({ code: 'LP_TIMEOUT' });
    const audit = JSON.stringify(await h.coordinator.store.listAudit({ limit: 1000 }));
    expect(audit).toContain('command.lane.create');
    expect(audit).toContain('[redacted]');
    expect(audit).not.toContain(secret);
  });

  it('a read-only lane.inspect keeps its command record but is not audited', async () => {
    const a = await connect();
    const sent = h.coordinator.server.hub.send(
      'host-a',
      { type: 'lane.inspect', laneId: LANE_ID, dryRun: false },
      { actor: 'tok-1', timeoutMs: 100 },
    );
    const frame = await a.next('command');
    await expect(sent).rejects.toMatchObject({ code: 'LP_TIMEOUT' });
    const { jti } = JSON.parse(
      Buffer.from(String(frame.jws).split('.')[1] ?? '', 'base64url').toString(),
    ) as { jti: string };
    expect(await h.coordinator.store.getCommand(jti)).toMatchObject({ type: 'lane.inspect' });
    const audit = JSON.stringify(await h.coordinator.store.listAudit({ limit: 1000 }));
    expect(audit).not.toContain('command.lane.inspect');
  });

  it('a result signed by another key or for an unknown jti does not resolve a command', async () => {
    const a = await connect();
    const sent = h.coordinator.server.hub.send(
      'host-a',
      { type: 'lane.inspect', laneId: LANE_ID, dryRun: false },
      { actor: 't', timeoutMs: 5000 },
    );
    // It rejects when the session closes, before the assertion below is attached.
    const outcome = sent.catch((e: unknown) => e);
    await a.next('command');
    a.send({
      type: 'result',
      jws: signResult(
        { iss: 'host-a', jti: randomUUID(), ok: true, dryRun: false, outcome: 'x' },
        { privateKey: key.privateKey },
      ),
    });
    const forged = signResult(
      { iss: 'host-a', jti: randomUUID(), ok: true, dryRun: false, outcome: 'x' },
      { privateKey: newHostKey().privateKey },
    );
    a.send({ type: 'result', jws: forged });
    expect((await a.closed).code).toBe(4401);
    expect(await outcome).toMatchObject({ code: 'LP_HOST_OFFLINE' });
  });

  it('a pending command fails at once when its host is revoked; a late result is still recorded', async () => {
    const a = await connect();
    const hub = h.coordinator.server.hub;
    const cmd = { type: 'lane.inspect' as const, laneId: LANE_ID, dryRun: false };
    // A command that times out, then gets its answer late: the result is recorded.
    const timedOut = hub.send('host-a', cmd, { actor: 't', timeoutMs: 50 });
    const first = await a.next('command');
    await expect(timedOut).rejects.toMatchObject({ code: 'LP_TIMEOUT' });
    const jti = JSON.parse(
      Buffer.from(String(first.jws).split('.')[1] ?? '', 'base64url').toString(),
    ).jti as string;
    const late = { iss: 'host-a', jti, ok: true, dryRun: false, outcome: 'inspected' };
    a.send({ type: 'result', jws: signResult(late, { privateKey: key.privateKey }) });
    await expect
      .poll(async () => (await h.coordinator.store.getCommand(jti))?.result)
      .toEqual(late);

    const pending = hub
      .send('host-a', cmd, { actor: 't', timeoutMs: 60_000 })
      .catch((e: unknown) => e);
    await a.next('command');
    await h.api('POST', '/v1/hosts/host-a/revoke');
    expect(await pending).toMatchObject({ code: 'LP_HOST_OFFLINE' });
    expect((await a.closed).code).toBe(4403);
  });

  it('a command cut off by a disconnect fails with a hint naming when it can no longer run', async () => {
    const a = await connect();
    const cmd = { type: 'lane.restart' as const, laneId: LANE_ID, dryRun: false };
    const pending = h.coordinator.server.hub
      .send('host-a', cmd, { actor: 't', timeoutMs: 60_000 })
      .catch((e: unknown) => e);
    const frame = await a.next('command');
    const payload = JSON.parse(
      Buffer.from(String(frame.jws).split('.')[1] ?? '', 'base64url').toString(),
    ) as { jti: string; exp: number };
    a.ws.terminate();
    const err = (await pending) as LaunchplaneError;
    expect(err.code).toBe('LP_HOST_OFFLINE');
    expect(err.details).toMatchObject({
      hostId: 'host-a',
      jti: payload.jti,
      expiresAt: payload.exp,
    });
    // Past exp plus the 30 s skew allowance, the host refuses it (LP_EXPIRED).
    expect(err.recovery).toContain(new Date((payload.exp + 30) * 1000).toISOString());
    expect(err.recovery).toMatch(/launchplane lanes/);
  });

  it('send() to an offline or revoked host fails with a code', async () => {
    const cmd = { type: 'lane.inspect' as const, laneId: LANE_ID, dryRun: false };
    const offline = await h.coordinator.server.hub
      .send('host-a', cmd, { actor: 't' })
      .catch((e: unknown) => e);
    expect(offline).toBeInstanceOf(LaunchplaneError);
    expect((offline as LaunchplaneError).code).toBe('LP_HOST_OFFLINE');
    await h.api('POST', '/v1/hosts/host-a/revoke');
    await expect(
      h.coordinator.server.hub.send('host-a', cmd, { actor: 't' }),
    ).rejects.toMatchObject({
      code: 'LP_HOST_REVOKED',
    });
  });

  it('a peer that stops answering pings is terminated', async () => {
    const a = await connect();
    // Stop the client from answering pings automatically.
    (
      a.ws as unknown as { _receiver: { removeAllListeners(e: string): void } }
    )._receiver.removeAllListeners('ping');
    const closed = await a.closed;
    expect(closed.code).toBe(1006);
    expect(h.coordinator.server.hub.session('host-a')).toBeUndefined();
  });
});

describe('agent session limits', () => {
  it('connections beyond maxPendingHandshakes are closed with 1013 until handshakes finish', async () => {
    const limited = await startHarness({ yaml: 'agents: { maxPendingHandshakes: 1 }\n' });
    try {
      const k = newHostKey();
      const t = await limited.api('POST', '/v1/enrollment-tokens', { body: { hostId: 'host-a' } });
      await enrollHost(limited.baseUrl, {
        token: String(t.body.token),
        hostId: 'host-a',
        publicKey: k.publicKey,
      });
      const pending = await FakeAgent.open(limited.agentUrl);
      const refused = await FakeAgent.open(limited.agentUrl);
      expect((await refused.closed).code).toBe(1013);
      // Once the pending one authenticates, a new connection is accepted again.
      await pending.hello({ hostId: 'host-a', privateKey: k.privateKey });
      await pending.next('welcome');
      const next = await FakeAgent.open(limited.agentUrl);
      expect((await next.next('challenge')).type).toBe('challenge');
      next.ws.terminate();
      pending.ws.terminate();
    } finally {
      await limited.close();
    }
  });
});
