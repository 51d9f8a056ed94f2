/**
 * `launchplane hosts [--json]` (viewer) and `launchplane hosts revoke H` (admin).
 */
import type { ApiClient } from '../api-client/api-client.js';
import { formatTime } from './duration.js';
import type { CliIo } from './output.js';
import { printJson, renderTable } from './output.js';

interface HostRow {
  hostId: string;
  fingerprint: string;
  revoked: boolean;
  connected: boolean;
  lastSeenAt: number | null;
  agentVersion: string | null;
  optIn: {
    repositories: string[];
    organizations: string[];
    backends: string[];
    maxLanes: number;
  } | null;
  capabilities: string[];
  lanes: number;
  /** The agent's health loop; null when it sent no report (not connected, or an older agent). */
  health?: {
    intervalSec: number;
    lastPassAt: number | null;
    degraded: boolean;
    message: string | null;
  } | null;
}

/** Lists hosts; returns the exit status. */
export async function hostsList(
  io: CliIo,
  client: ApiClient,
  opts: { json: boolean },
): Promise<number> {
  const r = (await client.get('/v1/hosts')) as { hosts: HostRow[] };
  if (opts.json) {
    printJson(io, r);
    return 0;
  }
  if (r.hosts.length === 0) {
    io.stdout('no hosts enrolled\n');
    return 0;
  }
  io.stdout(
    renderTable(
      ['HOST', 'STATE', 'LAST SEEN', 'LAST HEALTH', 'AGENT', 'LANES', 'OPT-IN'],
      r.hosts.map((h) => [
        h.hostId,
        stateOf(h),
        formatTime(h.lastSeenAt),
        formatTime(h.health?.lastPassAt ?? null),
        h.agentVersion ?? '-',
        String(h.lanes),
        h.optIn === null
          ? '-'
          : `${[...h.optIn.repositories, ...h.optIn.organizations].join(',') || 'nothing'} ` +
            `[${h.optIn.backends.join(',') || 'no backend'}] max ${h.optIn.maxLanes}`,
      ]),
    ),
  );
  for (const h of r.hosts) {
    if (h.connected && h.health?.degraded === true && h.health.message !== null) {
      io.stdout(`degraded ${h.hostId}: ${h.health.message}\n`);
    }
  }
  return 0;
}

/**
 * revoked, offline, connected, or degraded: connected, but its health loop finished no pass for
 * a few intervals (the coordinator creates no lane on it).
 */
function stateOf(h: HostRow): string {
  if (h.revoked) return 'revoked';
  if (!h.connected) return 'offline';
  return h.health?.degraded === true ? 'degraded' : 'connected';
}

/** Revokes a host; its live session closes at once. */
export async function hostsRevoke(
  io: CliIo,
  client: ApiClient,
  opts: { host: string; json: boolean },
): Promise<number> {
  const r = (await client.post(`/v1/hosts/${encodeURIComponent(opts.host)}/revoke`)) as {
    hostId: string;
    revokedAt: number;
    sessionClosed: boolean;
  };
  if (opts.json) {
    printJson(io, r);
    return 0;
  }
  io.stdout(
    `revoked host ${r.hostId}${r.sessionClosed ? '; its session was closed' : ' (it was not connected)'}\n`,
  );
  return 0;
}
