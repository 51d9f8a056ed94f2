import { randomUUID } from 'node:crypto';
import { stat } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { LaunchplaneError, signCommand, verifyEvent, verifyResult } from '@launchplane/shared';
import { captureIo, enrolledHost } from './cli/enrolled-host.test-helper.js';
import type { EnrolledHostFixture } from './cli/enrolled-host.test-helper.js';
import { runCli } from './cli/program.js';
import { readStatusFile } from './config/status-file.js';
import type { BackendFactories, RunningAgent } from './main.js';
import { crashInjection, loadEnrolledHost, startAgent } from './main.js';
import { silentLogger } from './ports/logger.js';
import { FakeCoordinator } from './session/fake-coordinator.test-helper.js';
import { FakeUnitManager } from './ports/fake-unit-manager.test-helper.js';
import { FakeUserAccounts } from './ports/fake-user-accounts.test-helper.js';

const LANE = '01jabcdefghjkmnpqrstvwxyz0';

const noBackends: BackendFactories = {
  systemd: () =>
    Promise.reject(new LaunchplaneError('LP_BACKEND_UNAVAILABLE', 'No systemd in this test')),
  docker: () =>
    Promise.reject(new LaunchplaneError('LP_BACKEND_UNAVAILABLE', 'No Docker in this test')),
};

async function until<T>(read: () => Promise<T | undefined> | T | undefined): Promise<T> {
  for (;;) {
    const value = await read();
    if (value !== undefined) return value;
    await new Promise((r) => setTimeout(r, 10));
  }
}

describe('the agent daemon (startAgent)', () => {
  let coordinator: FakeCoordinator;
  let host: EnrolledHostFixture;
  let agent: RunningAgent | undefined;

  beforeEach(async () => {
    coordinator = await FakeCoordinator.start();
    host = await enrolledHost(
      coordinator.url,
      'optIn: { repositories: [acme/api], backends: [systemd], maxLanes: 1 }\ncapabilities: [gpu]',
    );
  });
  afterEach(async () => {
    await agent?.stop();
    agent = undefined;
    await coordinator.close();
    await host.cleanup();
  });

  async function start(): Promise<RunningAgent> {
    return startAgent(await loadEnrolledHost(host.configPath), {
      backends: noBackends,
      logger: silentLogger,
      statusIntervalMs: 20,
      session: { backoff: { baseMs: 5, capMs: 20 } },
    });
  }

  it('reports a missing backend without failing, and serves the coordinator through the real core', async () => {
    agent = await start();
    expect(agent.backends.systemd).toEqual({
      optedIn: true,
      available: false,
      error: 'No systemd in this test',
    });
    expect(agent.backends.docker).toEqual({ optedIn: false, available: false });

    const peer = await coordinator.connection();
    await coordinator.authenticate(peer, host.hostPublic);
    expect(await peer.next()).toEqual({
      type: 'inventory',
      optIn: { repositories: ['acme/api'], organizations: [], backends: ['systemd'], maxLanes: 1 },
      lanes: [],
      capabilities: ['gpu'],
    });

    const now = Math.floor(Date.now() / 1000);
    const jti = randomUUID();
    const jws = signCommand(
      {
        iss: host.coordinatorId,
        aud: host.hostId,
        iat: now,
        exp: now + 60,
        jti,
        seq: 1,
        cmd: { type: 'lane.inspect', laneId: LANE, dryRun: false },
      },
      { privateKey: host.coordinatorPrivate },
    );
    peer.send({ type: 'command', jws });
    // The result and the audit event of the refusal may come in either order.
    const seen: Record<string, unknown>[] = [];
    while (!(seen.some((m) => m['type'] === 'result') && seen.some((m) => m['type'] === 'event'))) {
      seen.push(await peer.next());
    }
    const resultMsg = seen.find((m) => m['type'] === 'result') as { jws: string };
    const result = verifyResult(resultMsg.jws, { publicKey: host.hostPublic, hostId: host.hostId });
    expect(result).toMatchObject({ jti, ok: false });
    expect(result.error?.code).toBe('LP_NOT_OWNED');

    const eventMsg = seen.find((m) => m['type'] === 'event') as { seq: number; jws: string };
    const event = verifyEvent(eventMsg.jws, { publicKey: host.hostPublic, hostId: host.hostId });
    expect(event.event.kind).toBe('audit');
    peer.send({ type: 'ack', seq: eventMsg.seq });
    await until(() => (agent?.core.pendingEvents().length === 0 ? true : undefined));

    // The status file tells `status` that the daemon is connected.
    await until(async () => {
      const s = await readStatusFile(host.dataDir);
      return s?.session.state === 'connected' ? s : undefined;
    });
    const io = captureIo();
    expect(await runCli(['--config', host.configPath, 'status', '--json'], io, { env: {} })).toBe(
      0,
    );
    expect(JSON.parse(io.out())).toMatchObject({
      daemon: { running: true, pid: process.pid },
      connection: { state: 'connected', coordinatorId: 'coord-1' },
      backends: { systemd: { optedIn: true, available: false } },
    });
  });

  it('holds the data directory: a second daemon and lane remove --local are refused', async () => {
    agent = await start();
    await expect(start()).rejects.toMatchObject({ code: 'LP_CONFLICT' });
    const io = captureIo();
    const code = await runCli(
      ['--config', host.configPath, 'lane', 'remove', LANE, '--local'],
      io,
      {
        env: {},
        backends: noBackends,
        logger: silentLogger,
      },
    );
    expect(code).toBe(1);
    expect(io.err()).toMatch(/^error LP_CONFLICT:/m);
  });

  it('stop() closes the session with 1000, marks the status file stopped and releases the lock', async () => {
    agent = await start();
    const peer = await coordinator.connection();
    await coordinator.authenticate(peer, host.hostPublic);
    await peer.next();
    await agent.stop();
    expect((await peer.closed).code).toBe(1000);
    const status = await readStatusFile(host.dataDir);
    expect(status?.stopped).toBe(true);
    await expect(stat(join(host.dataDir, 'private', 'agent.pid'))).rejects.toMatchObject({
      code: 'ENOENT',
    });
    // Stopped for good: no reconnect.
    await new Promise((r) => setTimeout(r, 50));
    expect(coordinator.peers).toHaveLength(1);
    const io = captureIo();
    await runCli(['--config', host.configPath, 'status', '--json'], io, { env: {} });
    expect(JSON.parse(io.out())).toMatchObject({ daemon: { running: false } });
    agent = undefined;
  });

  it('refuses to start when lanes would run as root without runner.allowRoot, and lets go of the lock', async () => {
    const units = new FakeUnitManager();
    const withSystemd: BackendFactories = { ...noBackends, systemd: () => Promise.resolve(units) };
    const startWith = async (): Promise<RunningAgent> =>
      startAgent(await loadEnrolledHost(host.configPath), {
        backends: withSystemd,
        logger: silentLogger,
        accounts: new FakeUserAccounts(),
        session: { backoff: { baseMs: 5, capMs: 20 } },
      });
    await host.writeConfig(
      'optIn: { repositories: [acme/api], backends: [systemd], maxLanes: 1 }\nrunner: { runAsUser: root }',
    );
    const refused = await startWith().catch((e: unknown) => e);
    expect(refused).toMatchObject({ code: 'LP_CONFIG_INVALID' });
    expect((refused as LaunchplaneError).recovery).toContain('runner.allowRoot: true');
    await expect(stat(join(host.dataDir, 'private', 'agent.pid'))).rejects.toMatchObject({
      code: 'ENOENT',
    });
    await host.writeConfig(
      'optIn: { repositories: [acme/api], backends: [systemd], maxLanes: 1 }\nrunner: { runAsUser: root, allowRoot: true }',
    );
    agent = await startWith();
    expect(agent.backends.systemd.available).toBe(true);
  });

  it('moves a legacy data directory into private/ at start, under its lock', async () => {
    const { rename, readdir } = await import('node:fs/promises');
    // The layout of an older agent: every file in the data dir itself.
    for (const f of await readdir(join(host.dataDir, 'private'))) {
      await rename(join(host.dataDir, 'private', f), join(host.dataDir, f));
    }
    agent = await start();
    const top = (await readdir(host.dataDir)).sort();
    expect(top).toEqual(['lanes', 'private', 'trash']);
    const inside = await readdir(join(host.dataDir, 'private'));
    for (const f of ['host.key', 'host.json', 'coordinator.jwk', 'ledger.db', 'agent.pid']) {
      expect(inside).toContain(f);
    }
  });

  it('refuses to start with a pinned coordinator key that the config does not name', async () => {
    const other = await enrolledHost(coordinator.url);
    try {
      // Swap in another coordinator's key file: the daemon must not trust it.
      const { copyFile } = await import('node:fs/promises');
      await copyFile(
        join(other.dataDir, 'private', 'coordinator.jwk'),
        join(host.dataDir, 'private', 'coordinator.jwk'),
      );
      await expect(loadEnrolledHost(host.configPath)).rejects.toMatchObject({
        code: 'LP_CONFIG_INVALID',
      });
    } finally {
      await other.cleanup();
    }
  });
});

describe('crash injection (LAUNCHPLANE_AGENT_CRASH_AT)', () => {
  it('is off unless set', () => {
    expect(crashInjection(undefined)).toBeUndefined();
    expect(crashInjection('  ')).toBeUndefined();
  });

  it('kills at the named steps only', () => {
    const killed: string[] = [];
    let current = '';
    const inj = crashInjection('create:configure, remove:stop', () => killed.push(current));
    expect(inj?.points).toEqual(['create:configure', 'remove:stop']);
    for (const step of [
      'create:record',
      'create:configure',
      'remove:record',
      'remove:stop',
    ] as const) {
      current = step;
      inj?.crashPoint(step);
    }
    expect(killed).toEqual(['create:configure', 'remove:stop']);
  });

  it('refuses an unknown step, so a typo cannot test nothing', () => {
    let err: unknown;
    try {
      crashInjection('create:configur');
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(LaunchplaneError);
    expect((err as LaunchplaneError).code).toBe('LP_CONFIG_INVALID');
    expect((err as LaunchplaneError).message).toMatch(/create:configur\b/);
  });
});
