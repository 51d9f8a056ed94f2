import { chmod, mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { LaunchplaneError } from '@launchplane/shared';
import { silentLogger } from '../ports/logger.js';
import { FakeUnitManager } from '../ports/fake-unit-manager.test-helper.js';
import { FakeUserAccounts } from '../ports/fake-user-accounts.test-helper.js';
import type { BackendFactories } from '../main.js';
import { writeStatusFile } from '../config/status-file.js';
import type { DoctorDeps } from './doctor-command.js';
import { captureIo, enrolledHost } from './enrolled-host.test-helper.js';
import type { EnrolledHostFixture } from './enrolled-host.test-helper.js';
import { runCli } from './program.js';

const LANE = '01jabcdefghjkmnpqrstvwxyz0';

const noBackends: BackendFactories = {
  systemd: () =>
    Promise.reject(new LaunchplaneError('LP_BACKEND_UNAVAILABLE', 'No systemd in this test')),
  docker: () =>
    Promise.reject(new LaunchplaneError('LP_BACKEND_UNAVAILABLE', 'No Docker in this test')),
};

describe('launchplane-agent CLI', () => {
  let host: EnrolledHostFixture;
  let probeOk = true;
  const doctor: DoctorDeps = {
    backends: noBackends,
    probe: () =>
      Promise.resolve(probeOk ? { ok: true } : { ok: false, reason: 'connect ECONNREFUSED' }),
  };

  beforeEach(async () => {
    host = await enrolledHost();
    probeOk = true;
  });
  afterEach(async () => {
    await host.cleanup();
  });

  async function cli(...argv: string[]): Promise<{ code: number; out: string; err: string }> {
    const io = captureIo();
    const code = await runCli(['--config', host.configPath, ...argv], io, {
      env: {},
      backends: noBackends,
      doctor,
      logger: silentLogger,
    });
    return { code, out: io.out(), err: io.err() };
  }

  it('lanes --json prints exactly one JSON document', async () => {
    const r = await cli('lanes', '--json');
    expect(r.code).toBe(0);
    expect(r.err).toBe('');
    expect(JSON.parse(r.out)).toEqual({ hostId: 'host-a', lanes: [] });
  });

  it('a bad config names every YAML path on stderr, exits 1 and prints nothing on stdout', async () => {
    await host.writeConfig('optIn:\n  backends: [podman]\n  maxLanes: -1\nsurprise: true');
    const r = await cli('lanes', '--json');
    expect(r.code).toBe(1);
    expect(r.out).toBe('');
    expect(r.err).toContain('optIn.backends[0]');
    expect(r.err).toContain('optIn.maxLanes');
    expect(r.err).toMatch(/^error LP_CONFIG_INVALID: Config ".*agent\.yaml" has 3 problems$/m);
    expect(r.err).toMatch(/^hint: /m);
  });

  it('a missing config is LP_NOT_FOUND with a hint to enroll', async () => {
    const io = captureIo();
    const code = await runCli(['status'], io, {
      env: { LAUNCHPLANE_AGENT_CONFIG: join(host.dir, 'absent.yaml') },
    });
    expect(code).toBe(1);
    expect(io.err()).toMatch(/^error LP_NOT_FOUND: Config ".*absent\.yaml" does not exist$/m);
    expect(io.err()).toMatch(/^hint: .*enroll/m);
  });

  it('--config wins over LAUNCHPLANE_AGENT_CONFIG', async () => {
    const io = captureIo();
    const code = await runCli(['--config', host.configPath, 'lanes', '--json'], io, {
      env: { LAUNCHPLANE_AGENT_CONFIG: join(host.dir, 'absent.yaml') },
    });
    expect(code).toBe(0);
  });

  it('bad usage exits 2', async () => {
    expect((await cli('frobnicate')).code).toBe(2);
    expect((await cli('enroll', '--host-id', 'host-a')).code).toBe(2);
    const noLocal = await cli('lane', 'remove', LANE);
    expect(noLocal.code).toBe(2);
    expect(noLocal.err).toMatch(/^error LP_USAGE: .*--local/m);
    const badId = await cli('lane', 'remove', 'not-a-lane', '--local');
    expect(badId.code).toBe(2);
    const noToken = await cli(
      'enroll',
      '--coordinator',
      'http://127.0.0.1:9',
      '--host-id',
      'host-a',
    );
    expect(noToken.code).toBe(2);
    expect(noToken.err).toContain('LAUNCHPLANE_ENROLL_TOKEN');
  });

  it('lane remove --local refuses a lane it does not own, audits it as cli:local, and exits 1', async () => {
    const r = await cli('lane', 'remove', LANE, '--local', '--dry-run', '--json');
    expect(r.code).toBe(1);
    const doc = JSON.parse(r.out) as { ok: boolean; error: { code: string }; dryRun: boolean };
    expect(doc.ok).toBe(false);
    expect(doc.dryRun).toBe(true);
    expect(r.err).toContain(`error ${doc.error.code}:`);

    const audit = await cli('audit', '--json', '--verify');
    expect(audit.code).toBe(0);
    const log = JSON.parse(audit.out) as {
      records: { actor: string; action: string; outcome: string; laneId?: string }[];
      verify: { ok: boolean };
    };
    expect(log.verify).toEqual({ ok: true });
    expect(log.records).toContainEqual(
      expect.objectContaining({
        actor: 'cli:local',
        action: 'lane.remove',
        outcome: 'refused',
        laneId: LANE,
      }),
    );
  });

  it('lane remove --local is refused while the daemon holds the data directory', async () => {
    await writeFile(join(host.dataDir, 'private', 'agent.pid'), `${process.pid}\n`);
    const r = await cli('lane', 'remove', LANE, '--local');
    expect(r.code).toBe(1);
    expect(r.err).toMatch(/^error LP_CONFLICT: .*daemon/m);
  });

  it('audit --verify exits 1 and names the record when the chain was edited', async () => {
    await cli('lane', 'remove', LANE, '--local', '--dry-run');
    await cli('lane', 'remove', LANE, '--local');
    const db = new Database(join(host.dataDir, 'private', 'ledger.db'));
    const row = db.prepare('SELECT record FROM audit WHERE seq = 1').get() as { record: string };
    db.prepare('UPDATE audit SET record = ? WHERE seq = 1').run(
      row.record.replace('"cli:local"', '"someone-else"'),
    );
    db.close();
    const r = await cli('audit', '--verify');
    expect(r.code).toBe(1);
    expect(r.err).toMatch(/^error LP_SIGNATURE_INVALID: Audit chain is broken at record 1/m);
    const plain = await cli('audit');
    expect(plain.code).toBe(0);
    expect(plain.out).toContain('someone-else');
  });

  it('status --json without a daemon says not running, with opt-in and lanes', async () => {
    const r = await cli('status', '--json');
    expect(r.code).toBe(0);
    const doc = JSON.parse(r.out) as Record<string, unknown>;
    expect(doc).toMatchObject({
      hostId: 'host-a',
      enrolled: true,
      daemon: { running: false },
      connection: { state: 'not-running' },
      lanes: { total: 0, byState: {} },
      optIn: { backends: [], maxLanes: 0 },
      lastHealthAt: null,
    });
  });

  it('status reports the connection from the status file of a live daemon, and ignores a dead one', async () => {
    const base = {
      agentVersion: '0.1.0',
      startedAt: 1,
      updatedAt: 2,
      stopped: false,
      session: {
        state: 'connected',
        url: 'ws://x/v1/agent',
        coordinatorId: 'coord-1',
        attempt: 0,
        connectedSince: 1,
      },
      backends: {
        systemd: { optedIn: true, available: false, error: 'No systemd' },
        docker: { optedIn: false, available: false },
      },
      lanes: 0,
      lastHealthAt: 1_700_000_000_000,
    };
    await writeStatusFile(host.dataDir, { ...base, pid: process.pid });
    const live = JSON.parse((await cli('status', '--json')).out) as Record<string, unknown>;
    expect(live).toMatchObject({
      daemon: { running: true, pid: process.pid },
      connection: { state: 'connected' },
      backends: { systemd: { available: false, error: 'No systemd' } },
      lastHealthAt: 1_700_000_000_000,
    });
    const human = await cli('status');
    expect(human.out).toMatch(/^connection\s+connected since/m);
    expect(human.out).toMatch(/^systemd\s+unavailable: No systemd/m);

    await writeStatusFile(host.dataDir, { ...base, pid: 2 ** 22 + 12345 });
    const dead = JSON.parse((await cli('status', '--json')).out) as Record<string, unknown>;
    expect(dead).toMatchObject({
      daemon: { running: false },
      connection: { state: 'not-running' },
    });
  });

  it('doctor passes on a healthy host and fails with a fix for each broken part', async () => {
    const ok = await cli('doctor', '--json');
    const good = JSON.parse(ok.out) as { ok: boolean; checks: { name: string; status: string }[] };
    expect(good.ok).toBe(true);
    expect(ok.code).toBe(0);
    expect(good.checks).toContainEqual(
      expect.objectContaining({ name: 'systemd', status: 'skip' }),
    );
    expect(good.checks).toContainEqual(
      expect.objectContaining({ name: 'coordinator', status: 'ok' }),
    );

    await chmod(join(host.dataDir, 'private', 'host.key'), 0o640);
    probeOk = false;
    await host.writeConfig('optIn: { repositories: [acme/api], backends: [systemd], maxLanes: 1 }');
    const bad = await cli('doctor');
    expect(bad.code).toBe(1);
    expect(bad.out).toMatch(/^host key\s+fail/m);
    expect(bad.out).toMatch(/^fix host key: Run `chmod 600 /m);
    expect(bad.out).toMatch(/^coordinator\s+fail\s+.*ECONNREFUSED/m);
    expect(bad.out).toMatch(/^systemd\s+fail\s+No systemd in this test/m);
    expect(bad.out).toMatch(/^runner template\s+fail/m);
    expect(bad.err).toMatch(
      /^error LP_CONFIG_INVALID: 4 checks failed: host key, coordinator, systemd, runner template$/m,
    );
  });

  it('doctor flags a shared lane user, root lanes, an unreachable lanes dir and lane users left behind', async () => {
    const units = new FakeUnitManager();
    const accounts = new FakeUserAccounts();
    accounts.plant({ name: 'runner', uid: 1001, gid: 1001, comment: '', home: '/home/runner' });
    const gone = '01jzzzzzzzzzzzzzzzzzzzzzzz';
    accounts.plant({
      name: `lp-${gone}`,
      uid: 60600,
      gid: 60600,
      comment: `Launchplane lane ${gone}`,
      home: '/x',
    });
    accounts.plant({ name: 'lp-lookalike', uid: 60601, gid: 60601, comment: 'mine', home: '/y' });
    const deps: DoctorDeps = {
      ...doctor,
      backends: { ...noBackends, systemd: () => Promise.resolve(units) },
      accounts,
    };
    const run = async (): Promise<{ name: string; status: string; detail: string }[]> => {
      const io = captureIo();
      await runCli(['--config', host.configPath, 'doctor', '--json'], io, {
        env: {},
        backends: noBackends,
        doctor: deps,
        logger: silentLogger,
      });
      return (
        JSON.parse(io.out()) as { checks: { name: string; status: string; detail: string }[] }
      ).checks;
    };
    await host.writeConfig(
      'optIn: { repositories: [acme/api], backends: [systemd], maxLanes: 1 }\nrunner: { runAsUser: runner, allowRoot: true }',
    );
    let checks = await run();
    expect(checks).toContainEqual(
      expect.objectContaining({
        name: 'lane users',
        status: 'warn',
        detail: expect.stringContaining('shared user "runner"'),
      }),
    );
    expect(checks).toContainEqual(expect.objectContaining({ name: 'root lanes', status: 'warn' }));
    // mkdtemp made the test's directory 0700: lane users could not reach their lane dirs.
    expect(checks).toContainEqual(
      expect.objectContaining({
        name: 'lanes dir',
        status: 'fail',
        detail: expect.stringContaining(`"${host.dir}" has mode 0700`),
      }),
    );
    const left = checks.find((c) => c.name === 'leftover lane users');
    expect(left?.detail).toContain(`lp-${gone}`);
    expect(left?.detail).not.toContain('lp-lookalike');
    await chmod(host.dir, 0o755);
    await host.writeConfig('optIn: { repositories: [acme/api], backends: [systemd], maxLanes: 1 }');
    checks = await run();
    expect(checks).toContainEqual(
      expect.objectContaining({
        name: 'lane users',
        status: 'ok',
        detail: expect.stringContaining('a user of its own per lane'),
      }),
    );
    expect(checks.map((c) => c.name)).not.toContain('lanes dir');
    expect(checks.map((c) => c.name)).not.toContain('root lanes');
  });

  it('doctor probes the lane hardening through the manager and names what it left out', async () => {
    const units = new FakeUnitManager();
    units.unsupported.set('ProtectKernelLogs', 'exit status 226/NAMESPACE');
    const accounts = new FakeUserAccounts();
    accounts.plant({ name: 'nobody', uid: 65534, gid: 65534, comment: '', home: '/' });
    await chmod(host.dir, 0o755);
    await host.writeConfig('optIn: { repositories: [acme/api], backends: [systemd], maxLanes: 1 }');
    const io = captureIo();
    await runCli(['--config', host.configPath, 'doctor', '--json'], io, {
      env: {},
      backends: noBackends,
      doctor: {
        ...doctor,
        backends: { ...noBackends, systemd: () => Promise.resolve(units) },
        accounts,
      },
      logger: silentLogger,
    });
    const checks = (
      JSON.parse(io.out()) as { checks: { name: string; status: string; detail: string }[] }
    ).checks;
    expect(checks).toContainEqual(
      expect.objectContaining({
        name: 'lane hardening',
        status: 'warn',
        detail: expect.stringMatching(
          /^12 of 13 settings work \(probed as nobody\); left out: ProtectKernelLogs \(exit status 226\/NAMESPACE\)$/,
        ),
      }),
    );
    expect(units.probes.every((p) => p.user === 'nobody')).toBe(true);
  });

  it('doctor on a bad config fails the config check and names the path', async () => {
    await host.writeConfig('optIn: { maxLanes: lots }');
    const r = await cli('doctor', '--json');
    expect(r.code).toBe(1);
    const doc = JSON.parse(r.out) as { checks: { name: string; status: string; detail: string }[] };
    expect(doc.checks[0]).toMatchObject({ name: 'config', status: 'fail' });
    expect(doc.checks[0]?.detail).toContain('optIn.maxLanes');
  });

  it('refuses to run when the host is not enrolled', async () => {
    await mkdir(join(host.dir, 'other'));
    const path = join(host.dir, 'other', 'agent.yaml');
    await writeFile(path, `hostId: host-a\ndataDir: ${host.dataDir}\n`);
    const io = captureIo();
    const code = await runCli(['--config', path, 'run'], io, { env: {}, backends: noBackends });
    expect(code).toBe(1);
    expect(io.err()).toMatch(/^error LP_CONFIG_INVALID: .*not enrolled/m);
  });
});
