/**
 * `launchplane-agent status [--json]`: connection (from the daemon's status file), opt-in, lanes
 * (from the ledger) and the last health check.
 */
import { loadAgentConfig } from '../config/config-file.js';
import { processAlive, readStatusFile } from '../config/status-file.js';
import { readLanes } from './local-ledger.js';
import type { CliIo } from './output.js';
import { formatAge, printJson } from './output.js';
import { systemClock, type Clock } from '../ports/clock.js';

/** Prints the host's status. Returns the exit status (0: status is information, not a verdict). */
export async function statusCommand(
  io: CliIo,
  configPath: string,
  opts: { json: boolean },
  clock: Pick<Clock, 'nowMs'> = systemClock,
): Promise<number> {
  const config = await loadAgentConfig(configPath);
  const file = await readStatusFile(config.dataDir);
  const running = file !== undefined && !file.stopped && processAlive(file.pid);
  const lanes = readLanes(config.dataDir);
  const byState: Record<string, number> = {};
  for (const l of lanes) byState[l.state] = (byState[l.state] ?? 0) + 1;
  const connection = running ? file.session : { state: 'not-running' as const };
  const lastHealthAt = file?.lastHealthAt;
  const doc = {
    hostId: config.hostId,
    configPath,
    dataDir: config.dataDir,
    enrolled: config.coordinator !== undefined,
    coordinator: config.coordinator ?? null,
    daemon: running
      ? { running: true, pid: file.pid, agentVersion: file.agentVersion, startedAt: file.startedAt }
      : { running: false },
    connection,
    backends: running ? file.backends : null,
    optIn: config.optIn,
    capabilities: config.capabilities,
    lanes: { total: lanes.length, byState },
    lastHealthAt: lastHealthAt ?? null,
    healthPassStartedAt: (running ? file.healthPassStartedAt : undefined) ?? null,
    hardening: (running ? file.hardening : undefined) ?? null,
  };
  if (opts.json) {
    printJson(io, doc);
    return 0;
  }
  const t = clock.nowMs();
  const lines: string[] = [`host         ${config.hostId}`];
  if (config.coordinator === undefined) {
    lines.push('coordinator  not enrolled (run `launchplane-agent enroll`)');
  } else {
    lines.push(
      `coordinator  ${config.coordinator.coordinatorId ?? '?'} at ${config.coordinator.url} (${config.coordinator.fingerprint})`,
    );
  }
  if (!running) {
    lines.push('daemon       not running');
  } else {
    const s = file.session;
    let conn: string = s.state;
    if (s.state === 'connected' && s.connectedSince !== undefined) {
      conn += ` since ${formatAge(s.connectedSince, t)}`;
    } else if (s.nextRetryAt !== undefined) {
      conn += `, retry ${s.attempt} in ${Math.max(0, Math.round((s.nextRetryAt - t) / 1000))}s`;
    }
    if (s.state !== 'connected' && s.lastError !== undefined) conn += ` (${s.lastError})`;
    lines.push(`daemon       running, pid ${file.pid}, version ${file.agentVersion}`);
    lines.push(`connection   ${conn}`);
    for (const [name, b] of Object.entries(file.backends)) {
      if (!b.optedIn) continue;
      lines.push(
        `${name.padEnd(12)} ${b.available ? 'available' : `unavailable${b.error === undefined ? '' : `: ${b.error}`}`}`,
      );
    }
  }
  const o = config.optIn;
  const consent = [...o.repositories, ...o.organizations.map((org) => `org:${org}`)];
  lines.push(
    `opt-in       ${consent.length === 0 ? 'no repositories' : consent.join(', ')}; backends: ${o.backends.length === 0 ? 'none' : o.backends.join(', ')}; max ${o.maxLanes} lane${o.maxLanes === 1 ? '' : 's'}${o.pools === undefined ? '' : `; pools: ${o.pools.join(', ')}`}`,
  );
  const states = Object.entries(byState)
    .map(([s, n]) => `${n} ${s}`)
    .join(', ');
  lines.push(`lanes        ${lanes.length}${lanes.length === 0 ? '' : ` (${states})`}`);
  lines.push(`last health  ${lastHealthAt === undefined ? 'never' : formatAge(lastHealthAt, t)}`);
  if (running && file.healthPassStartedAt !== undefined) {
    lines.push(`health pass  running since ${formatAge(file.healthPassStartedAt, t)}`);
  }
  if (running && file.hardening !== undefined) {
    const h = file.hardening;
    lines.push(
      `hardening    ${h.applied.length} setting${h.applied.length === 1 ? '' : 's'} applied${h.omitted.length === 0 ? '' : `; left out: ${h.omitted.map((o) => `${o.setting} (${o.reason})`).join(', ')}`}`,
    );
  }
  io.stdout(`${lines.join('\n')}\n`);
  return 0;
}
