/**
 * `launchplane-agent doctor`: can this host run lanes? Each check says what it found and, when it
 * fails, how to fix it. Exit 1 when any check fails.
 */
import { access, constants, lstat } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { laneUserModel, toLaunchplaneError } from '@launchplane/shared';
import type { AgentConfig, Backend, ErrorCode } from '@launchplane/shared';
import { SystemUserAccounts } from '../adapters/users/system-user-accounts.js';
import { loadAgentConfig } from '../config/config-file.js';
import {
  PRIVATE_FILES,
  dataPaths,
  unreachableAncestor,
  unreachableError,
} from '../config/data-dir.js';
import { lockHolder } from '../config/pid-lock.js';
import { laneOfUser, resolveSystemdRunAs, runsAsRoot } from '../lanes/lane-users.js';
import { probeLaneHardening, probeUser, type HardeningReport } from '../lanes/hardening-probe.js';
import type { UserAccounts } from '../ports/user-accounts.js';
import { readLanes } from './local-ledger.js';
import { loadCoordinatorKey } from '../keys/coordinator-key.js';
import { hostKeyPath, loadHostKey } from '../keys/host-key.js';
import type { BackendFactories } from '../main.js';
import { probeCoordinator } from '../session/probe-coordinator.js';
import type { ProbeOptions, ProbeResult } from '../session/probe-coordinator.js';
import type { CliIo } from './output.js';
import { printJson, renderTable } from './output.js';

/** One check's outcome. `skip`: not applicable (e.g. a backend the host did not opt in to). */
export interface DoctorCheck {
  name: string;
  status: 'ok' | 'fail' | 'skip' | 'warn';
  detail: string;
  /** The error code of a failed check. */
  code?: ErrorCode;
  hint?: string;
}

/** What doctor uses to reach the outside; tests pass fakes. */
export interface DoctorDeps {
  backends: BackendFactories;
  probe: (options: ProbeOptions) => Promise<ProbeResult>;
  /** The host's user database; default the real one. */
  accounts?: UserAccounts;
}

function fail(name: string, err: unknown, hint?: string): DoctorCheck {
  const e = toLaunchplaneError(err);
  const h = e.recovery ?? hint;
  return {
    name,
    status: 'fail',
    code: e.code,
    detail: e.message,
    ...(h === undefined ? {} : { hint: h }),
  };
}

/** A backend's check, and (systemd) the uid its manager runs as. */
async function backendCheck(
  backend: Backend,
  config: AgentConfig,
  deps: DoctorDeps,
): Promise<{ check: DoctorCheck; managerUid?: number }> {
  if (!config.optIn.backends.includes(backend)) {
    return { check: { name: backend, status: 'skip', detail: 'not opted in (optIn.backends)' } };
  }
  try {
    if (backend === 'systemd') {
      const units = await deps.backends.systemd(config);
      let managerUid: number;
      try {
        await units.ping();
        managerUid = await units.managerUid();
      } finally {
        await units.close();
      }
      return {
        check: {
          name: backend,
          status: 'ok',
          detail: `${config.systemd.bus} manager answers (uid ${managerUid})`,
        },
        managerUid,
      };
    }
    const containers = await deps.backends.docker(config);
    await containers.ping();
    return {
      check: {
        name: backend,
        status: 'ok',
        detail: `daemon at ${config.docker.socketPath} answers`,
      },
    };
  } catch (err) {
    return {
      check: fail(
        backend,
        err,
        backend === 'systemd'
          ? 'Check that systemd runs and the agent may use its bus'
          : `Check that dockerd runs and ${config.docker.socketPath} is reachable`,
      ),
    };
  }
}

/** Runs every check on the host of `configPath`. */
export async function runDoctor(configPath: string, deps: DoctorDeps): Promise<DoctorCheck[]> {
  const checks: DoctorCheck[] = [];
  let config: AgentConfig;
  try {
    config = await loadAgentConfig(configPath);
    checks.push({ name: 'config', status: 'ok', detail: `${configPath} is valid` });
  } catch (err) {
    checks.push(fail('config', err));
    return checks;
  }

  checks.push(await dataDirCheck(config));
  try {
    const key = await loadHostKey(config.dataDir);
    checks.push({
      name: 'host key',
      status: 'ok',
      detail: `${hostKeyPath(config.dataDir)} ${key.fingerprint}`,
    });
  } catch (err) {
    checks.push(fail('host key', err));
  }

  const coordinator = config.coordinator;
  if (coordinator?.coordinatorId === undefined) {
    checks.push({
      name: 'enrollment',
      status: 'fail',
      code: 'LP_CONFIG_INVALID',
      detail: 'the config has no complete coordinator section',
      hint: 'Run `launchplane-agent enroll --coordinator URL --token T --host-id H`',
    });
  } else {
    try {
      await loadCoordinatorKey(config.dataDir, coordinator.fingerprint);
      checks.push({
        name: 'coordinator key',
        status: 'ok',
        detail: `pinned ${coordinator.fingerprint}`,
      });
    } catch (err) {
      checks.push(fail('coordinator key', err));
    }
    const probe = await deps.probe({
      url: coordinator.url,
      coordinatorId: coordinator.coordinatorId,
      tlsPin: coordinator.tlsPin,
    });
    checks.push(
      probe.ok
        ? {
            name: 'coordinator',
            status: 'ok',
            detail: `${coordinator.url} answers as "${coordinator.coordinatorId}"`,
          }
        : {
            name: 'coordinator',
            status: 'fail',
            code: 'LP_BACKEND_UNAVAILABLE',
            detail: `${coordinator.url}: ${probe.reason}`,
            hint: 'Check the network path and TLS trust to the coordinator, and that it runs',
          },
    );
  }

  const accounts = deps.accounts ?? new SystemUserAccounts();
  let managerUid: number | undefined;
  for (const backend of ['systemd', 'docker'] as const) {
    const r = await backendCheck(backend, config, deps);
    managerUid ??= r.managerUid;
    checks.push(r.check);
  }
  checks.push(...(await laneUserChecks(config, managerUid, accounts)));
  if (managerUid !== undefined)
    checks.push(await hardeningCheck(config, managerUid, deps, accounts));

  if (config.optIn.backends.length === 0 || config.optIn.maxLanes === 0) {
    checks.push({
      name: 'opt-in',
      status: 'warn',
      detail: 'this host allows no lanes (optIn is empty)',
      hint: 'Add repositories, backends and maxLanes under optIn in the config',
    });
  } else {
    checks.push({
      name: 'opt-in',
      status: 'ok',
      detail: `${config.optIn.backends.join(', ')}; up to ${config.optIn.maxLanes} lanes`,
    });
    try {
      await access(config.runner.template, constants.R_OK | constants.X_OK);
      checks.push({ name: 'runner template', status: 'ok', detail: config.runner.template });
    } catch {
      checks.push({
        name: 'runner template',
        status: 'fail',
        code: 'LP_CONFIG_INVALID',
        detail: `${config.runner.template} is missing or unreadable`,
        hint: 'Extract an actions/runner release there, or set runner.template in the config',
      });
    }
  }

  const pid = await lockHolder(config.dataDir);
  checks.push(
    pid === undefined
      ? {
          name: 'daemon',
          status: 'warn',
          detail: 'not running',
          hint: 'Start it: `systemctl start launchplane-agent`',
        }
      : { name: 'daemon', status: 'ok', detail: `running, pid ${pid}` },
  );
  return checks;
}

/**
 * Which lane hardening settings this host supports: the same probe the daemon runs at start
 * (`lanes/hardening-probe.ts`), run now through the systemd manager as the user lanes run as.
 */
async function hardeningCheck(
  config: AgentConfig,
  managerUid: number,
  deps: DoctorDeps,
  accounts: UserAccounts,
): Promise<DoctorCheck> {
  const name = 'lane hardening';
  try {
    const runAs = await resolveSystemdRunAs(config, managerUid, accounts);
    const units = await deps.backends.systemd(config);
    let report: HardeningReport;
    try {
      report = await probeLaneHardening(units, {
        user: await probeUser(runAs, accounts),
        readWritePaths: [dataPaths(config.dataDir).lanes],
      });
    } finally {
      await units.close();
    }
    const applied = `${report.applied.length} of ${report.applied.length + report.omitted.length} settings work (probed as ${report.probedAs ?? 'the manager'})`;
    if (report.omitted.length === 0) return { name, status: 'ok', detail: applied };
    return {
      name,
      status: 'warn',
      detail: `${applied}; left out: ${report.omitted.map((o) => `${o.setting} (${o.reason})`).join(', ')}`,
      hint: 'Lanes run without the settings left out; they fail on this kernel or in this container. See docs/security.md "Lane units"',
    };
  } catch (err) {
    return fail(name, err, 'Check that the systemd manager can start units');
  }
}

/** The data dir's layout: modes, and whether it was migrated to `private/` yet. */
async function dataDirCheck(config: AgentConfig): Promise<DoctorCheck> {
  const p = dataPaths(config.dataDir);
  try {
    const st = await lstat(config.dataDir);
    const mode = st.mode & 0o777;
    if ((mode & 0o022) !== 0) {
      return {
        name: 'data dir',
        status: 'fail',
        code: 'LP_CONFIG_INVALID',
        detail: `${config.dataDir} is writable by group or others (mode ${mode.toString(8)})`,
        hint: `Run \`chmod 755 ${config.dataDir}\``,
      };
    }
    await access(config.dataDir, constants.R_OK | constants.W_OK);
    const legacy = Object.values(PRIVATE_FILES).filter((f) => existsSync(join(config.dataDir, f)));
    if (legacy.length > 0) {
      return {
        name: 'data dir',
        status: 'warn',
        detail: `${config.dataDir} still holds ${legacy.join(', ')} outside private/ (an older layout)`,
        hint: 'Restart the agent: it moves them into private/ at its start',
      };
    }
    if (existsSync(p.private)) {
      const pm = (await lstat(p.private)).mode & 0o777;
      if (pm !== 0o700) {
        return {
          name: 'data dir',
          status: 'fail',
          code: 'LP_CONFIG_INVALID',
          detail: `${p.private} has mode ${pm.toString(8)}: the host's secrets are in it`,
          hint: `Run \`chmod 700 ${p.private}\``,
        };
      }
    }
    return {
      name: 'data dir',
      status: 'ok',
      detail: `${config.dataDir} (mode ${mode.toString(8)}), secrets in private/`,
    };
  } catch (err) {
    return fail('data dir', err, 'Enroll the host, which creates the data directory');
  }
}

/**
 * Who runs lanes: a user per lane (useradd and userdel must be there), the shared user (flagged:
 * lanes can read each other's files), root (warned), the lanes dir reachable by lane users, and
 * lane users left behind by lanes that are gone.
 */
async function laneUserChecks(
  config: AgentConfig,
  managerUid: number | undefined,
  accounts: UserAccounts,
): Promise<DoctorCheck[]> {
  const checks: DoctorCheck[] = [];
  const model = laneUserModel(config);
  if (config.optIn.backends.includes('systemd') && managerUid !== undefined) {
    try {
      const runAs = await resolveSystemdRunAs(config, managerUid, accounts);
      if (runAs.kind === 'lane-users') {
        const tools = ['useradd', 'userdel'].filter((t) => !onPath(t));
        checks.push(
          tools.length === 0
            ? {
                name: 'lane users',
                status: 'ok',
                detail: `a user of its own per lane, uids ${runAs.firstUid}-${runAs.lastUid}`,
              }
            : {
                name: 'lane users',
                status: 'fail',
                code: 'LP_CONFIG_INVALID',
                detail: `${tools.join(' and ')} not found: the agent cannot make lane users`,
                hint: 'Install the passwd package',
              },
        );
      } else if (runAs.kind === 'shared') {
        checks.push({
          name: 'lane users',
          status: 'warn',
          detail: `every lane runs as the shared user "${runAs.account.name}" (uid ${runAs.account.uid}): a job can read other lanes' credentials and workspaces`,
          hint: 'Drop runner.runAsUser (and systemd.runAsUser) to give each lane a user of its own',
        });
      } else {
        checks.push({
          name: 'lane users',
          status: 'warn',
          detail: `the systemd manager runs as uid ${runAs.uid} and cannot switch users: every lane runs as uid ${runAs.uid}`,
          hint: 'Use the system manager (systemd.bus: system) to give each lane a user of its own',
        });
      }
      if (!runsAsRoot(runAs)) {
        const blocked = await unreachableAncestor(dataPaths(config.dataDir).lanes);
        if (blocked !== undefined) checks.push(fail('lanes dir', unreachableError(blocked)));
      }
    } catch (err) {
      checks.push(fail('lane users', err));
    }
  } else if (model.kind === 'shared' && config.optIn.backends.includes('systemd')) {
    checks.push({
      name: 'lane users',
      status: 'warn',
      detail: `every lane runs as the shared user "${model.user}"`,
      hint: 'Drop runner.runAsUser to give each lane a user of its own',
    });
  }
  if (config.runner.allowRoot) {
    checks.push({
      name: 'root lanes',
      status: 'warn',
      detail:
        'runner.allowRoot is true: lanes (and their jobs) may run as root, with the host in reach',
      hint: 'Set runner.allowRoot: false unless lanes must run as root',
    });
  }
  try {
    const live = new Set(readLanes(config.dataDir).map((l) => l.laneId));
    const left = (await accounts.list()).filter((a) => {
      const lane = laneOfUser(a);
      return lane !== undefined && !live.has(lane);
    });
    if (left.length > 0) {
      checks.push({
        name: 'leftover lane users',
        status: 'warn',
        detail: `users made for lanes that are gone: ${left.map((a) => a.name).join(', ')}`,
        hint: `Delete them once no process of theirs runs: ${left.map((a) => `userdel ${a.name}`).join('; ')}`,
      });
    }
  } catch {
    // No user database to list (or no ledger yet): nothing to report.
  }
  return checks;
}

function onPath(tool: string): boolean {
  const dirs = (process.env['PATH'] ?? '').split(':').concat(['/usr/sbin', '/sbin']);
  return dirs.some((d) => d !== '' && existsSync(join(d, tool)));
}

/** Prints the checks; exit 1 when any failed. */
export async function doctorCommand(
  io: CliIo,
  configPath: string,
  opts: { json: boolean },
  deps: DoctorDeps,
): Promise<number> {
  const checks = await runDoctor(configPath, deps);
  const ok = checks.every((c) => c.status !== 'fail');
  if (opts.json) {
    printJson(io, { ok, checks });
  } else {
    io.stdout(
      renderTable(
        ['CHECK', 'STATUS', 'DETAIL'],
        checks.map((c) => [c.name, c.status, c.detail]),
      ),
    );
    for (const c of checks) {
      if (c.status !== 'ok' && c.status !== 'skip' && c.hint !== undefined) {
        io.stdout(`fix ${c.name}: ${c.hint}\n`);
      }
    }
  }
  if (!ok) {
    const failed = checks.filter((c) => c.status === 'fail');
    const code = failed[0]?.code ?? 'LP_INTERNAL';
    io.stderr(
      `error ${code}: ${failed.length} check${failed.length === 1 ? '' : 's'} failed: ${failed.map((c) => c.name).join(', ')}\n`,
    );
    io.stderr('hint: Apply the fixes listed above and run `launchplane-agent doctor` again\n');
    return 1;
  }
  return 0;
}

/** The real outside world. */
export const realDoctorDeps = async (): Promise<DoctorDeps> => {
  const { realBackends } = await import('../main.js');
  return { backends: realBackends, probe: probeCoordinator };
};
