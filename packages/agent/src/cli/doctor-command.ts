/**
 * `launchplane-agent doctor`: can this host run lanes? Each check says what it found and, when it
 * fails, how to fix it. Exit 1 when any check fails.
 */
import { access, constants, lstat } from 'node:fs/promises';
import { toLaunchplaneError } from '@launchplane/shared';
import type { AgentConfig, Backend, ErrorCode } from '@launchplane/shared';
import { loadAgentConfig } from '../config/config-file.js';
import { lockHolder } from '../config/pid-lock.js';
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

async function backendCheck(
  backend: Backend,
  config: AgentConfig,
  deps: DoctorDeps,
): Promise<DoctorCheck> {
  if (!config.optIn.backends.includes(backend)) {
    return { name: backend, status: 'skip', detail: 'not opted in (optIn.backends)' };
  }
  try {
    if (backend === 'systemd') {
      const units = await deps.backends.systemd(config);
      try {
        await units.ping();
      } finally {
        await units.close();
      }
      return { name: backend, status: 'ok', detail: `${config.systemd.bus} manager answers` };
    }
    const containers = await deps.backends.docker(config);
    await containers.ping();
    return { name: backend, status: 'ok', detail: `daemon at ${config.docker.socketPath} answers` };
  } catch (err) {
    return fail(
      backend,
      err,
      backend === 'systemd'
        ? 'Check that systemd runs and the agent may use its bus'
        : `Check that dockerd runs and ${config.docker.socketPath} is reachable`,
    );
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

  try {
    const st = await lstat(config.dataDir);
    const mode = st.mode & 0o777;
    if ((mode & 0o002) !== 0) {
      checks.push({
        name: 'data dir',
        status: 'fail',
        code: 'LP_CONFIG_INVALID',
        detail: `${config.dataDir} is world-writable (mode ${mode.toString(8)})`,
        hint: `Run \`chmod 700 ${config.dataDir}\``,
      });
    } else {
      await access(config.dataDir, constants.R_OK | constants.W_OK);
      checks.push({
        name: 'data dir',
        status: 'ok',
        detail: `${config.dataDir} (mode ${mode.toString(8)})`,
      });
    }
  } catch (err) {
    checks.push(fail('data dir', err, 'Enroll the host, which creates the data directory'));
  }

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

  for (const backend of ['systemd', 'docker'] as const) {
    checks.push(await backendCheck(backend, config, deps));
  }

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
