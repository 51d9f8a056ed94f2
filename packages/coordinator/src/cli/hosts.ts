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
      ['HOST', 'STATE', 'LAST SEEN', 'AGENT', 'LANES', 'OPT-IN'],
      r.hosts.map((h) => [
        h.hostId,
        h.revoked ? 'revoked' : h.connected ? 'connected' : 'offline',
        formatTime(h.lastSeenAt),
        h.agentVersion ?? '-',
        String(h.lanes),
        h.optIn === null
          ? '-'
          : `${[...h.optIn.repositories, ...h.optIn.organizations].join(',') || 'nothing'} ` +
            `[${h.optIn.backends.join(',') || 'no backend'}] max ${h.optIn.maxLanes}`,
      ]),
    ),
  );
  return 0;
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
