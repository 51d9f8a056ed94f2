/**
 * `launchplane enroll-token create --host H [--ttl 15m]` (admin): a single-use enrollment token
 * bound to one host id, with the coordinator key fingerprint the host should pin.
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
  io.stdout(
    [
      `token:       ${r.token}`,
      `host:        ${r.hostId}`,
      `expires:     ${formatTime(r.expiresAt)} (single use)`,
      `fingerprint: ${r.coordinatorFingerprint}`,
      '',
      'On the host, run:',
      `  launchplane-agent enroll --coordinator ${opts.url} --token ${r.token} --host-id ${r.hostId} --coordinator-fingerprint ${r.coordinatorFingerprint}`,
      '',
    ].join('\n'),
  );
  return 0;
}
