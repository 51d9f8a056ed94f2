import { nowSec } from '@launchplane/shared';
import { randomUUID } from 'node:crypto';
import { readdir, readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import {
  fingerprint,
  generateEd25519KeyPair,
  newLaneId,
  signCommand,
  signJws,
  unitName,
  containerName,
  verifyEvent,
  DOCKER_LABEL_HOST,
  DOCKER_LABEL_LANE,
} from '@launchplane/shared';
import type { Command } from '@launchplane/shared';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  createHarness,
  SECRET_JIT,
  SECRET_TOKEN,
  type Harness,
} from '../core-harness.test-helper.js';
import { internalErrorBody } from './command-pipeline.js';

let h: Harness;
beforeEach(async () => {
  h = await createHarness();
});
afterEach(async () => {
  await h.cleanup();
});

/** Everything the ledger holds, as one string (to look for secrets). */
function dumpLedger(): string {
  const db = h.core.ledger.db;
  const tables = ['lanes', 'lane_journal', 'replay', 'outbox', 'audit', 'meta'];
  return tables.map((t) => JSON.stringify(db.prepare(`SELECT * FROM ${t}`).all())).join('\n');
}

function lastAudit() {
  return h.core.auditLog().at(-1);
}

async function laneDirs(): Promise<string[]> {
  return readdir(join(h.dataDir, 'lanes')).catch(() => []);
}

async function createOnline(overrides: Parameters<Harness['createCmd']>[0] = {}): Promise<string> {
  const cmd = h.createCmd(overrides);
  const r = await h.send(cmd);
  expect(r.error).toBeUndefined();
  await h.core.healthPass();
  expect(h.core.ledger.lanes.get(cmd.laneId)?.state).toBe('online');
  return cmd.laneId;
}

describe('data dir', () => {
  it('keeps every secret in a root-only private/ and lets lane users reach only lanes/', async () => {
    expect((await stat(join(h.dataDir, 'private', 'ledger.db'))).mode & 0o777).toBe(0o600);
    expect((await stat(join(h.dataDir, 'private'))).mode & 0o777).toBe(0o700);
    expect((await stat(h.dataDir)).mode & 0o777).toBe(0o755);
    expect((await stat(join(h.dataDir, 'lanes'))).mode & 0o777).toBe(0o755);
  });
});

describe('lane.create', () => {
  it('records, lays out, writes a marked unit, starts it, and reports the lane starting', async () => {
    const cmd = h.createCmd();
    const r = await h.send(cmd);
    expect(r).toMatchObject({ ok: true, outcome: 'created', dryRun: false, iss: 'host-a' });
    expect(r.lane).toMatchObject({
      laneId: cmd.laneId,
      state: 'starting',
      runnerId: 17,
      backend: 'systemd',
    });
    const unit = h.units.units.get(unitName(cmd.laneId));
    expect(unit?.marker).toBe(cmd.laneId);
    expect(unit?.activeState).toBe('active');
    expect(h.units.calls).toEqual([
      `write ${unitName(cmd.laneId)}`,
      `start ${unitName(cmd.laneId)}`,
    ]);
    const dir = join(h.dataDir, 'lanes', cmd.laneId);
    expect(unit?.spec?.workingDirectory).toBe(dir);
    expect(unit?.spec?.execStart).toEqual(['/bin/sh', `${dir}/_launchplane/launch.sh`]);
    expect(unit?.spec?.environment['ACTIONS_RUNNER_HOOK_JOB_STARTED']).toBe(
      `${dir}/_launchplane/hooks/job-started.sh`,
    );
    // The JIT secret lives only in the lane's 0600 file.
    const jit = await stat(join(dir, '_launchplane', 'jit'));
    expect(jit.mode & 0o777).toBe(0o600);
    expect(await readFile(join(dir, '_launchplane', 'jit'), 'utf8')).toBe(`${SECRET_JIT}\n`);
    expect(JSON.stringify(unit?.spec)).not.toContain(SECRET_JIT);
    expect(dumpLedger()).not.toContain(SECRET_JIT);
    const audit = lastAudit();
    expect(audit).toMatchObject({
      action: 'lane.create',
      outcome: 'ok',
      actor: 'coordinator',
      laneId: cmd.laneId,
    });
    expect(audit?.params['runner']).toEqual({ jitConfig: '[redacted]' });
  });

  it("lets the agent's queue go on while a create's unit starts: another create overlaps, the lane takes only inspect, the health loop and stop wait for it", async () => {
    const first = h.createCmd();
    const second = h.createCmd();
    let open!: () => void;
    const slow = new Promise<void>((resolve) => (open = resolve));
    h.units.beforeStart = (name) => (name === unitName(first.laneId) ? slow : Promise.resolve());
    const jws = h.sign(first);
    const a = h.core.handleCommand(jws).then((r) => h.read(r));
    for (let i = 0; i < 200 && !h.units.calls.includes(`start ${unitName(first.laneId)}`); i++) {
      await new Promise((r) => setImmediate(r));
    }
    // The first create is still starting its unit; the second one runs to its end meanwhile.
    expect(await h.send(second)).toMatchObject({ ok: true, outcome: 'created' });
    const stop = await h.send({ type: 'lane.stop', laneId: first.laneId, dryRun: false });
    expect(stop).toMatchObject({ ok: false, outcome: 'refused', error: { code: 'LP_CONFLICT' } });
    const seen = await h.send({ type: 'lane.inspect', laneId: first.laneId, dryRun: false });
    expect(seen).toMatchObject({ ok: true, lane: { state: 'starting' } });
    // The same command again is a replay, and says the first is still running.
    expect(h.read(await h.core.handleCommand(jws)).error?.message).toMatch(/still running/);
    // The unit is not running yet: the health loop would restart it, but leaves it to its create.
    await h.core.healthPass();
    expect(h.units.calls.filter((c) => c.endsWith(unitName(first.laneId)))).toEqual([
      `write ${unitName(first.laneId)}`,
      `start ${unitName(first.laneId)}`,
    ]);
    let stopped = false;
    const stopping = h.core.stop().then(() => (stopped = true));
    await new Promise((r) => setImmediate(r));
    expect(stopped).toBe(false);
    open();
    expect(await a).toMatchObject({ ok: true, outcome: 'created', lane: { state: 'starting' } });
    await stopping;
  });

  it('configures a persistent lane with config.sh and reports the runner id from .runner', async () => {
    const cmd = h.createCmd({
      ephemeral: false,
      runnerId: undefined,
      runner: { url: 'http://127.0.0.1:9/acme/api', registrationToken: SECRET_TOKEN },
    });
    delete (cmd as { runnerId?: number }).runnerId;
    const r = await h.send(cmd);
    expect(r.error).toBeUndefined();
    expect(r.lane?.runnerId).toBe(4242);
    expect(dumpLedger()).not.toContain(SECRET_TOKEN);
    const launch = await readFile(
      join(h.dataDir, 'lanes', cmd.laneId, '_launchplane', 'launch.sh'),
      'utf8',
    );
    expect(launch).toContain('exec ./run.sh\n');
  });

  it('rolls back a persistent lane whose config.sh fails: no unit, no dir, lane failed, token never echoed', async () => {
    const cmd = h.createCmd({
      ephemeral: false,
      runner: { url: 'http://127.0.0.1:9/acme/api', registrationToken: 'bad-token' },
    });
    const r = await h.send(cmd);
    expect(r).toMatchObject({ ok: false, outcome: 'failed', error: { code: 'LP_BACKEND_FAILED' } });
    expect(r.error?.message).not.toContain('bad-token');
    expect(r.error?.message).toContain('[redacted]');
    expect(h.units.units.size).toBe(0);
    expect(await laneDirs()).toEqual([]);
    expect(h.core.ledger.lanes.get(cmd.laneId)?.state).toBe('failed');
    expect(dumpLedger()).not.toContain('bad-token');
    expect(lastAudit()).toMatchObject({ outcome: 'failed', code: 'LP_BACKEND_FAILED' });
  });

  it('creates a docker lane as a labelled container with the lane dir mounted', async () => {
    const cmd = h.createCmd({ backend: 'docker', docker: { image: 'stub-runner:test' } });
    const r = await h.send(cmd);
    expect(r.error).toBeUndefined();
    const c = h.containers.containers.get(containerName(cmd.laneId));
    expect(c?.labels).toMatchObject({
      [DOCKER_LABEL_LANE]: cmd.laneId,
      [DOCKER_LABEL_HOST]: 'host-a',
    });
    expect(c?.spec?.mounts).toEqual([
      { source: join(h.dataDir, 'lanes', cmd.laneId), target: '/actions-runner' },
    ]);
    // A bridge network, no capability, no new privileges: unless the host says otherwise.
    expect(c?.spec).toMatchObject({ networkMode: 'bridge', capAdd: [], noNewPrivileges: true });
    expect(c?.running).toBe(true);
    expect(JSON.stringify(c?.spec)).not.toContain(SECRET_JIT);
  });

  it('a dry run walks every guardrail and reports the steps, changing nothing but the audit and the jti', async () => {
    const cmd = { ...h.createCmd(), dryRun: true };
    const jws = h.sign(cmd);
    const firstJws = await h.core.handleCommand(jws);
    const r = h.read(firstJws);
    expect(r).toMatchObject({ ok: true, dryRun: true, outcome: 'would-create' });
    expect(r.steps?.length).toBeGreaterThanOrEqual(4);
    expect(r.steps?.join('\n')).toContain(`write unit "${unitName(cmd.laneId)}"`);
    expect(h.core.listLanes()).toEqual([]);
    expect(h.core.ledger.lanes.get(cmd.laneId)).toBeUndefined();
    expect(h.units.calls).toEqual([]);
    expect(await laneDirs()).toEqual([]);
    expect(lastAudit()).toMatchObject({ action: 'lane.create', outcome: 'dry-run', dryRun: true });
    // The jti is remembered: the same command returns the same result.
    expect(await h.core.handleCommand(jws)).toBe(firstJws);
  });

  it('a dry run of a persistent create shows config.sh without the token, which goes in its environment', async () => {
    const cmd = h.createCmd({
      dryRun: true,
      ephemeral: false,
      runner: { url: 'http://127.0.0.1:9/acme/api', registrationToken: SECRET_TOKEN },
    });
    const r = await h.send(cmd);
    expect(r.steps?.join('\n')).toContain('./config.sh --unattended --url');
    expect(r.steps?.join('\n')).toContain('token in its environment only');
    expect(r.steps?.join('\n')).not.toContain('--token');
    expect(JSON.stringify(r)).not.toContain(SECRET_TOKEN);
    expect(dumpLedger()).not.toContain(SECRET_TOKEN);
  });

  it('a persistent lane of a named runner group registers with --runnergroup', async () => {
    const cmd = h.createCmd({
      dryRun: true,
      ephemeral: false,
      runner: {
        url: 'http://127.0.0.1:9/acme/api',
        registrationToken: SECRET_TOKEN,
        runnerGroup: 'deploy',
      },
    });
    const r = await h.send(cmd);
    expect(r.steps?.join('\n')).toContain('--disableupdate --runnergroup deploy');
    const plain = await h.send(
      h.createCmd({
        dryRun: true,
        ephemeral: false,
        runner: { url: 'http://127.0.0.1:9/acme/api', registrationToken: SECRET_TOKEN },
      }),
    );
    expect(plain.steps?.join('\n')).not.toContain('--runnergroup');
  });

  it('a dry run is refused by the same guardrails as the real thing', async () => {
    const r = await h.send(h.createCmd({ dryRun: true, scope: { repository: 'evil/repo' } }));
    expect(r).toMatchObject({ ok: false, dryRun: true, error: { code: 'LP_NOT_OPTED_IN' } });
  });
});

describe('refusals', () => {
  async function expectRefused(jws: string, code: string): Promise<void> {
    const auditBefore = h.core.auditLog().length;
    const lanesBefore = JSON.stringify(h.core.ledger.lanes.all());
    const callsBefore = [...h.units.calls];
    const dirsBefore = await laneDirs();
    const r = h.read(await h.core.handleCommand(jws));
    expect(r.ok).toBe(false);
    expect(r.outcome).toBe('refused');
    expect(r.error?.code).toBe(code);
    const audit = h.core.auditLog();
    expect(audit.length).toBe(auditBefore + 1);
    expect(audit.at(-1)).toMatchObject({ outcome: 'refused', code });
    expect(JSON.stringify(h.core.ledger.lanes.all())).toBe(lanesBefore);
    expect(h.units.calls).toEqual(callsBefore);
    expect(await laneDirs()).toEqual(dirsBefore);
  }

  it('refuses a command signed by another key (forged)', async () => {
    const other = generateEd25519KeyPair();
    const now = nowSec(h.clock);
    const jws = signCommand(
      {
        iss: 'coord-test',
        aud: 'host-a',
        iat: now,
        exp: now + 60,
        jti: randomUUID(),
        seq: 1,
        cmd: h.createCmd(),
      },
      { privateKey: other.privateKey, kid: fingerprint(h.keys.coordinator.publicKey) },
    );
    await expectRefused(jws, 'LP_SIGNATURE_INVALID');
  });

  it('refuses a command whose kid is not the pinned key', async () => {
    const other = generateEd25519KeyPair();
    const now = nowSec(h.clock);
    const jws = signCommand(
      {
        iss: 'coord-test',
        aud: 'host-a',
        iat: now,
        exp: now + 60,
        jti: randomUUID(),
        seq: 1,
        cmd: h.createCmd(),
      },
      { privateKey: other.privateKey },
    );
    await expectRefused(jws, 'LP_BAD_HEADER');
  });

  it('refuses a tampered command', async () => {
    const jws = h.sign(h.createCmd());
    const [head, body, sig] = jws.split('.');
    const payload = JSON.parse(Buffer.from(body ?? '', 'base64url').toString()) as {
      cmd: { scope: unknown };
    };
    payload.cmd.scope = { repository: 'acme/other' };
    const forged = `${head}.${Buffer.from(JSON.stringify(payload)).toString('base64url')}.${sig}`;
    await expectRefused(forged, 'LP_SIGNATURE_INVALID');
  });

  it('refuses an expired command', async () => {
    const now = nowSec(h.clock);
    await expectRefused(h.sign(h.createCmd(), { iat: now - 400, exp: now - 200 }), 'LP_EXPIRED');
  });

  it('refuses a command for another host', async () => {
    await expectRefused(h.sign(h.createCmd(), { aud: 'host-b' }), 'LP_WRONG_AUDIENCE');
  });

  it('refuses garbage without throwing', async () => {
    await expectRefused('not.a.jws', 'LP_BAD_HEADER');
    await expectRefused('', 'LP_INVALID_MESSAGE');
    const r = h.read(await h.core.handleCommand(42 as unknown as string));
    expect(r.error?.code).toBe('LP_INVALID_MESSAGE');
  });

  it('refuses an unknown command type', async () => {
    const now = nowSec(h.clock);
    const jws = signJws(
      {
        iss: 'coord-test',
        aud: 'host-a',
        iat: now,
        exp: now + 60,
        jti: randomUUID(),
        seq: 5,
        cmd: { type: 'lane.format-disk', laneId: newLaneId(h.clock.nowMs()), dryRun: false },
      },
      { typ: 'launchplane-command', privateKey: h.keys.coordinator.privateKey },
    );
    await expectRefused(jws, 'LP_UNKNOWN_COMMAND');
  });

  it('answers a replayed command with its stored result and executes nothing', async () => {
    const jws = h.sign(h.createCmd());
    const first = await h.core.handleCommand(jws);
    const calls = [...h.units.calls];
    const lanes = JSON.stringify(h.core.ledger.lanes.all());
    const again = await h.core.handleCommand(jws);
    expect(again).toBe(first);
    expect(h.units.calls).toEqual(calls);
    expect(JSON.stringify(h.core.ledger.lanes.all())).toBe(lanes);
    expect(lastAudit()).toMatchObject({ outcome: 'refused', code: 'LP_REPLAYED' });
  });

  it('refuses an out-of-sequence command', async () => {
    await h.send(h.createCmd(), { seq: 10 });
    await expectRefused(h.sign(h.createCmd(), { seq: 9 }), 'LP_SEQ_REGRESSION');
    await expectRefused(h.sign(h.createCmd(), { seq: 10 }), 'LP_SEQ_REGRESSION');
  });

  it('refuses a repository, organization, pool or backend the host did not opt in', async () => {
    await expectRefused(
      h.sign(h.createCmd({ scope: { repository: 'acme/other' } })),
      'LP_NOT_OPTED_IN',
    );
    await expectRefused(
      h.sign(h.createCmd({ scope: { organization: 'acme' } })),
      'LP_NOT_OPTED_IN',
    );
    await h.cleanup();
    h = await createHarness({
      config: {
        optIn: {
          repositories: ['acme/api'],
          organizations: [],
          backends: ['systemd'],
          maxLanes: 3,
          pools: ['build'],
        },
      },
    });
    await expectRefused(h.sign(h.createCmd({ pool: 'gpu' })), 'LP_NOT_OPTED_IN');
    await expectRefused(
      h.sign(h.createCmd({ backend: 'docker', docker: { image: 'x' } })),
      'LP_NOT_OPTED_IN',
    );
  });

  it('refuses an opted-in backend that is not available', async () => {
    await h.cleanup();
    h = await createHarness({ docker: false });
    await expectRefused(
      h.sign(h.createCmd({ backend: 'docker', docker: { image: 'x' } })),
      'LP_BACKEND_UNAVAILABLE',
    );
  });

  it('refuses a lane beyond maxLanes, counting every lane not removed', async () => {
    await h.cleanup();
    h = await createHarness({
      config: {
        optIn: {
          repositories: ['acme/api'],
          organizations: [],
          backends: ['systemd'],
          maxLanes: 1,
        },
      },
    });
    const first = h.createCmd({
      ephemeral: false,
      runner: { url: 'http://127.0.0.1:9/x', registrationToken: 'bad-token' },
    });
    expect((await h.send(first)).error?.code).toBe('LP_BACKEND_FAILED'); // failed lanes still count
    await expectRefused(h.sign(h.createCmd()), 'LP_CAPACITY');
    expect(
      (await h.send({ type: 'lane.remove', laneId: first.laneId, dryRun: false, force: false })).ok,
    ).toBe(true);
    expect((await h.send(h.createCmd())).ok).toBe(true);
  });

  it('refuses every command on a lane that is not in the ledger', async () => {
    const laneId = newLaneId(h.clock.nowMs());
    const cmds: Command[] = [
      { type: 'lane.start', laneId, dryRun: false },
      { type: 'lane.stop', laneId, dryRun: false },
      { type: 'lane.restart', laneId, dryRun: false },
      { type: 'lane.remove', laneId, dryRun: false, force: true },
      { type: 'lane.inspect', laneId, dryRun: false },
    ];
    for (const cmd of cmds) await expectRefused(h.sign(cmd), 'LP_NOT_OWNED');
  });

  it('remembers a refused command: resending it does not run it again', async () => {
    const jws = h.sign(h.createCmd({ scope: { repository: 'acme/other' } }));
    const first = await h.core.handleCommand(jws);
    expect(await h.core.handleCommand(jws)).toBe(first);
  });
});

describe('look-alike units and containers', () => {
  it('a hand-made launchplane-lane-<id> unit and a container with our labels survive every command', async () => {
    const fakeId = newLaneId(h.clock.nowMs() - 1000);
    const unit = h.units.plant(unitName(fakeId), { marker: fakeId });
    const box = h.containers.plant(containerName(fakeId), {
      [DOCKER_LABEL_LANE]: fakeId,
      [DOCKER_LABEL_HOST]: 'host-a',
    });
    const cmds: Command[] = [
      { type: 'lane.start', laneId: fakeId, dryRun: false },
      { type: 'lane.stop', laneId: fakeId, dryRun: false },
      { type: 'lane.restart', laneId: fakeId, dryRun: false },
      { type: 'lane.remove', laneId: fakeId, dryRun: false, force: true },
      { type: 'lane.remove', laneId: fakeId, dryRun: true, force: true },
      { type: 'lane.inspect', laneId: fakeId, dryRun: false },
    ];
    for (const cmd of cmds) expect((await h.send(cmd)).error?.code).toBe('LP_NOT_OWNED');
    expect((await h.send(h.createCmd({ laneId: fakeId }))).error?.code).toBe('LP_CONFLICT');
    expect(
      (await h.send(h.createCmd({ laneId: fakeId, backend: 'docker', docker: { image: 'x' } })))
        .error?.code,
    ).toBe('LP_CONFLICT');
    expect(
      (await h.core.removeLaneLocally(fakeId, { dryRun: false, force: true, actor: 'cli:local' }))
        .error?.code,
    ).toBe('LP_NOT_OWNED');
    await h.core.healthPass();
    expect(h.units.calls.filter((c) => c.includes(fakeId))).toEqual([]);
    expect(h.containers.calls.filter((c) => c.includes(fakeId))).toEqual([]);
    expect(h.units.units.get(unitName(fakeId))).toBe(unit);
    expect(unit.activeState).toBe('active');
    expect(box.running).toBe(true);
  });

  it('never touches a ledger lane whose unit lost its marker; force retires only the record', async () => {
    const laneId = await createOnline();
    const unit = h.units.units.get(unitName(laneId));
    if (unit === undefined) throw new Error('no unit');
    unit.marker = undefined;
    for (const cmd of [
      { type: 'lane.stop', laneId, dryRun: false },
      { type: 'lane.restart', laneId, dryRun: false },
      { type: 'lane.remove', laneId, dryRun: false, force: false },
    ] satisfies Command[]) {
      expect((await h.send(cmd)).error?.code).toBe('LP_NOT_OWNED');
    }
    const callsBefore = h.units.calls.length;
    const r = await h.send({ type: 'lane.remove', laneId, dryRun: false, force: true });
    expect(r.ok).toBe(true);
    expect(r.steps?.join('\n')).toContain('leave unit');
    expect(h.units.calls.length).toBe(callsBefore);
    expect(unit.activeState).toBe('active');
    expect(h.core.ledger.lanes.get(laneId)?.state).toBe('removed');
  });

  it('never touches a docker lane whose container carries another host label', async () => {
    const laneId = await createOnline({ backend: 'docker', docker: { image: 'x' } });
    const box = h.containers.containers.get(containerName(laneId));
    if (box === undefined) throw new Error('no container');
    box.labels = { ...box.labels, [DOCKER_LABEL_HOST]: 'host-b' };
    expect(
      (await h.send({ type: 'lane.remove', laneId, dryRun: false, force: false })).error?.code,
    ).toBe('LP_NOT_OWNED');
    await h.core.healthPass();
    expect(box.running).toBe(true);
    expect(h.core.ledger.lanes.get(laneId)?.state).toBe('failed');
  });
});

describe('lane lifecycle', () => {
  it('stop → start → restart → remove on systemd, each audited and evented', async () => {
    const laneId = await createOnline();
    const name = unitName(laneId);
    let r = await h.send({ type: 'lane.stop', laneId, dryRun: false });
    expect(r).toMatchObject({ ok: true, outcome: 'stopped', lane: { state: 'drained' } });
    expect(h.units.units.get(name)?.activeState).toBe('inactive');
    await h.core.healthPass();
    expect(h.core.ledger.lanes.get(laneId)?.state).toBe('drained'); // a stopped lane is not restarted
    r = await h.send({ type: 'lane.start', laneId, dryRun: false });
    expect(r).toMatchObject({ ok: true, outcome: 'started', lane: { state: 'online' } });
    r = await h.send({ type: 'lane.restart', laneId, dryRun: false });
    expect(r).toMatchObject({
      ok: true,
      outcome: 'restarted',
      lane: { state: 'online', restarts: 1 },
    });
    r = await h.send({ type: 'lane.remove', laneId, dryRun: true, force: false });
    expect(r).toMatchObject({ ok: true, outcome: 'would-remove', lane: { state: 'online' } });
    expect(h.units.units.has(name)).toBe(true);
    r = await h.send({ type: 'lane.remove', laneId, dryRun: false, force: false });
    expect(r).toMatchObject({ ok: true, outcome: 'removed', lane: { state: 'removed' } });
    expect(h.units.units.has(name)).toBe(false);
    expect(await laneDirs()).toEqual([]);
    expect(h.core.listLanes()).toEqual([]);
    const actions = h.core.auditLog().map((a) => `${a.action}:${a.outcome}`);
    expect(actions).toEqual([
      'lane.create:ok',
      'lane.stop:ok',
      'lane.start:ok',
      'lane.restart:ok',
      'lane.remove:dry-run',
      'lane.remove:ok',
    ]);
    const events = h.core
      .pendingEvents()
      .map(
        (e) =>
          verifyEvent(e.jws, { publicKey: h.keys.host.publicKey, hostId: 'host-a', seq: e.seq })
            .event,
      );
    expect(events.some((e) => e.kind === 'lane-removed' && e.laneId === laneId)).toBe(true);
    expect(events.filter((e) => e.kind === 'audit').length).toBe(actions.length);
    expect(h.core.verifyAudit()).toEqual({ ok: true });
  });

  it('refuses to remove or restart a lane whose job hooks say a job runs, unless forced', async () => {
    const laneId = await createOnline();
    await h.writeLaneFile(laneId, '_launchplane/state/jobs', 'started\n');
    expect(
      (await h.send({ type: 'lane.remove', laneId, dryRun: false, force: false })).error?.code,
    ).toBe('LP_LANE_BUSY');
    expect((await h.send({ type: 'lane.restart', laneId, dryRun: false })).error?.code).toBe(
      'LP_LANE_BUSY',
    );
    expect((await h.send({ type: 'lane.stop', laneId, dryRun: false })).error?.code).toBe(
      'LP_LANE_BUSY',
    );
    expect(h.units.units.get(unitName(laneId))?.activeState).toBe('active');
    const inspect = await h.send({ type: 'lane.inspect', laneId, dryRun: false });
    expect(inspect.lane?.local).toMatchObject({
      busy: true,
      jobRunning: true,
      workerProcess: false,
    });
    const r = await h.send({ type: 'lane.remove', laneId, dryRun: false, force: true });
    expect(r.ok).toBe(true);
    expect(r.steps?.[1]).toBe(`stop unit "${unitName(laneId)}" (forced)`);
  });

  it('inspect of a docker lane sees Runner.Worker inside the container', async () => {
    const laneId = await createOnline({ backend: 'docker', docker: { image: 'x' } });
    const box = h.containers.containers.get(containerName(laneId));
    box?.processes.push({
      pid: 99,
      comm: 'Runner.Worker',
      args: '/actions-runner/bin/Runner.Worker spawnclient 1 2',
    });
    const r = await h.send({ type: 'lane.inspect', laneId, dryRun: false });
    expect(r.lane).toMatchObject({
      state: 'online',
      backendState: 'running',
      local: { busy: true, workerProcess: true, jobRunning: false },
    });
    expect(
      (await h.send({ type: 'lane.remove', laneId, dryRun: false, force: false })).error?.code,
    ).toBe('LP_LANE_BUSY');
  });

  it('acknowledged events leave the outbox and seq never repeats', async () => {
    await createOnline();
    const pending = h.core.pendingEvents();
    expect(pending.length).toBeGreaterThan(2);
    const last = pending.at(-1)?.seq ?? 0;
    h.core.ackEvents(last);
    expect(h.core.pendingEvents()).toEqual([]);
    await h.send(h.createCmd({ scope: { repository: 'acme/other' } }));
    expect(h.core.pendingEvents()[0]?.seq).toBe(last + 1);
  });

  it('notifies event listeners after every append, inventory listeners only when a lane changed', async () => {
    let events = 0;
    let inventory = 0;
    const offE = h.core.onEvent(() => (events += 1));
    const offI = h.core.onInventoryChange(() => (inventory += 1));
    const tick = (): Promise<void> => new Promise((r) => setImmediate(r));
    await h.send(h.createCmd({ scope: { repository: 'acme/other' } }));
    await tick();
    expect([events, inventory]).toEqual([1, 0]);
    await h.send(h.createCmd());
    await tick();
    expect(events).toBeGreaterThan(1);
    expect(inventory).toBeGreaterThanOrEqual(1);
    const seen = [events, inventory];
    offE();
    offI();
    await h.send(h.createCmd());
    await tick();
    expect([events, inventory]).toEqual(seen);
  });

  it('removes a lane locally without a coordinator, audited with the local actor', async () => {
    const laneId = await createOnline();
    const dry = await h.core.removeLaneLocally(laneId, {
      dryRun: true,
      force: false,
      actor: 'cli:local',
    });
    expect(dry.ok).toBe(true);
    expect(h.units.units.has(unitName(laneId))).toBe(true);
    const r = await h.core.removeLaneLocally(laneId, {
      dryRun: false,
      force: false,
      actor: 'cli:local',
    });
    expect(r).toMatchObject({ ok: true });
    expect(h.units.units.has(unitName(laneId))).toBe(false);
    expect(lastAudit()).toMatchObject({ actor: 'cli:local', action: 'lane.remove', outcome: 'ok' });
  });
});

describe('internalErrorBody()', () => {
  it('names a full disk and how to recover, and keeps other failures generic', () => {
    const full = Object.assign(new Error('database or disk is full'), { code: 'SQLITE_FULL' });
    expect(internalErrorBody(full)).toMatchObject({
      code: 'LP_INTERNAL',
      message: expect.stringContaining('data dir is full'),
      recovery: expect.stringContaining('Free space'),
    });
    expect(internalErrorBody(new Error('boom'))).toEqual({
      code: 'LP_INTERNAL',
      message: 'The agent could not handle the command',
    });
  });
});
