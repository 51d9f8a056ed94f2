/**
 * `launchplane token create --role viewer|operator|admin [--name N]` (admin): prints a new
 * operator token once.
 */
import type { ApiClient } from '../api-client/api-client.js';
import type { CliIo } from './output.js';
import { printJson } from './output.js';

interface Created {
  id: string;
  name: string;
  role: string;
  token: string;
}

/** Creates a token; returns the exit status. */
export async function tokenCreate(
  io: CliIo,
  client: ApiClient,
  opts: { role: string; name?: string | undefined; json: boolean },
): Promise<number> {
  const r = (await client.post('/v1/tokens', {
    role: opts.role,
    ...(opts.name === undefined ? {} : { name: opts.name }),
  })) as Created;
  if (opts.json) {
    printJson(io, r);
    return 0;
  }
  io.stdout(`${r.token}\n`);
  io.stderr(`created ${r.role} token "${r.name}" (id ${r.id}); it is shown only this once\n`);
  return 0;
}

/** `launchplane token revoke ID` (admin). */
export async function tokenRevoke(
  io: CliIo,
  client: ApiClient,
  opts: { id: string; json: boolean },
): Promise<number> {
  const r = (await client.post(`/v1/tokens/${encodeURIComponent(opts.id)}/revoke`)) as {
    id: string;
    revokedAt: number;
  };
  if (opts.json) printJson(io, r);
  else io.stdout(`revoked token ${r.id}\n`);
  return 0;
}
