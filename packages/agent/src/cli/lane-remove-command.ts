/**
 * `launchplane-agent lane remove LANE --local [--dry-run] [--force]`: manual recovery when no
 * coordinator can be reached. Runs the core's own removal (ownership and busy guardrails
 * included), audited with actor `cli:local`. Refused while the daemon runs: two cores on one
 * ledger would race.
 */
import { LaunchplaneError, laneIdSchema, toLaunchplaneError } from '@launchplane/shared';
import type { Backend } from '@launchplane/shared';
import { AgentCore } from '../agent-core.js';
import { migrateDataDir } from '../config/data-dir.js';
import { acquirePidLock } from '../config/pid-lock.js';
import { loadEnrolledHost } from '../main.js';
import type { BackendFactories } from '../main.js';
import { systemClock } from '../ports/clock.js';
import type { ContainerRuntime } from '../ports/container-runtime.js';
import type { Logger } from '../ports/logger.js';
import type { UnitManager } from '../ports/unit-manager.js';
import { readLanes } from './local-ledger.js';
import type { CliIo } from './output.js';
import { printJson } from './output.js';

/** The audit actor of local CLI operations. */
export const LOCAL_ACTOR = 'cli:local';

/** Flags of {@link laneRemoveCommand}. */
export interface LaneRemoveOptions {
  local: boolean;
  dryRun: boolean;
  force: boolean;
  json: boolean;
}

/** Removes (or with `dryRun`, reports the removal of) an owned lane. Returns the exit status. */
export async function laneRemoveCommand(
  io: CliIo,
  configPath: string,
  laneId: string,
  opts: LaneRemoveOptions,
  deps: { backends: BackendFactories; logger: Logger },
): Promise<number> {
  if (!opts.local) {
    throw new LaunchplaneError('LP_USAGE', 'Removing a lane from the host needs --local', {
      recovery:
        'With a reachable coordinator use `launchplane lane remove LANE`; for manual recovery add --local',
    });
  }
  if (!laneIdSchema.safeParse(laneId).success) {
    throw new LaunchplaneError(
      'LP_USAGE',
      `Lane id "${laneId.slice(0, 64)}" is not a lowercase ULID`,
    );
  }
  const host = await loadEnrolledHost(configPath);
  const { config } = host;
  const lock = await acquirePidLock(config.dataDir, 'remove a lane locally');
  let units: UnitManager | undefined;
  let core: AgentCore | undefined;
  try {
    // Under the lock, as the daemon does at its start: the ledger is then in private/.
    await migrateDataDir(config.dataDir);
    // Connect what the ledger's lanes use, opted in or not: removal must work after an opt-out.
    const needed = new Set<Backend>([
      ...config.optIn.backends,
      ...readLanes(config.dataDir).map((l) => l.backend),
    ]);
    let containers: ContainerRuntime | undefined;
    if (needed.has('systemd')) {
      units = await deps.backends.systemd(config).catch((err: unknown) => {
        deps.logger.warn({ err: toLaunchplaneError(err).message }, 'systemd unavailable');
        return undefined;
      });
    }
    if (needed.has('docker')) {
      containers = await deps.backends.docker(config).catch((err: unknown) => {
        deps.logger.warn({ err: toLaunchplaneError(err).message }, 'Docker unavailable');
        return undefined;
      });
    }
    core = await AgentCore.create({
      config,
      hostKey: host.hostKey,
      coordinatorKey: host.coordinatorKey,
      coordinatorFingerprint: config.coordinator.fingerprint,
      units,
      containers,
      clock: systemClock,
      logger: deps.logger,
      // Removing needs no lane to run: a host whose lane settings are refused can still clean up.
      removeOnly: true,
    });
    const result = await core.removeLaneLocally(laneId, {
      dryRun: opts.dryRun,
      force: opts.force,
      actor: LOCAL_ACTOR,
    });
    if (opts.json) {
      printJson(io, { laneId, dryRun: opts.dryRun, force: opts.force, ...result });
    } else if (result.ok) {
      io.stdout(
        `${opts.dryRun ? 'would remove' : 'removed'} lane ${laneId}\n${result.steps.map((s) => `  ${s}\n`).join('')}`,
      );
    }
    if (!result.ok) {
      const e = result.error;
      throw new LaunchplaneError(
        e?.code ?? 'LP_INTERNAL',
        e?.message ?? `Cannot remove lane "${laneId}"`,
        {
          ...(e?.recovery === undefined ? {} : { recovery: e.recovery }),
        },
      );
    }
    return 0;
  } finally {
    await core?.stop();
    await units?.close().catch(() => undefined);
    await lock.release();
  }
}
