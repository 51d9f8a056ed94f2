/**
 * `launchplane enroll-token create --host H [--ttl 15m]` (admin): a single-use enrollment token
 * bound to one host id, with what the host must pin (the coordinator key fingerprint, and the TLS
 * key pin when the coordinator serves TLS) and the line to run there. The line never carries the
 * token: the host reads it from standard input (or LAUNCHPLANE_ENROLL_TOKEN, or a file), since a
 * command line is readable by every user of that host.
 */
import { LaunchplaneError } from '@launchplane/shared';
import type { ApiClient } from '../api-client/api-client.js';
import { formatTime, parseDurationSec } from './duration.js';
import type { CliIo } from './output.js';
import { printJson } from './output.js';

interface Created {
  id: string;
  hostId: string;
  expiresAt: number;
  token: string;
  coordinatorId: string;
  coordinatorFingerprint: string;
  tlsPin?: string;
}

/** Creates an enrollment token; returns the exit status. */
export async function enrollTokenCreate(
  io: CliIo,
  client: ApiClient,
  opts: { host: string; ttl: string; json: boolean; url: string },
): Promise<number> {
  const ttlSec = parseDurationSec(opts.ttl);
  if (ttlSec < 1 || ttlSec > 3600) {
    throw new LaunchplaneError('LP_USAGE', `--ttl ${opts.ttl} is out of range; at most 60m`);
  }
  const r = (await client.post('/v1/enrollment-tokens', { hostId: opts.host, ttlSec })) as Created;
  if (opts.json) {
    printJson(io, r);
    return 0;
  }
  const pins = [
    `--coordinator-fingerprint ${r.coordinatorFingerprint}`,
    ...(r.tlsPin === undefined ? [] : [`--tls-pin ${r.tlsPin}`]),
  ].join(' ');
  io.stdout(
    [
      `token:       ${r.token}`,
      `host:        ${r.hostId}`,
      `expires:     ${formatTime(r.expiresAt)} (single use)`,
      `fingerprint: ${r.coordinatorFingerprint}`,
      ...(r.tlsPin === undefined ? [] : [`tls pin:     ${r.tlsPin}`]),
      '',
      'On the host, run this and paste the token when it waits for it (never put the token on a',
      'command line; LAUNCHPLANE_ENROLL_TOKEN or --token-file FILE work too, and install/agent.sh',
      'takes the same options):',
      `  launchplane-agent enroll --coordinator ${opts.url} --host-id ${r.hostId} ${pins} --token-file -`,
      '',
    ].join('\n'),
  );
  return 0;
}
