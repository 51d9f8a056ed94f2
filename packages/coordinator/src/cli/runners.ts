/**
 * `launchplane runners [--json]` (viewer): every GitHub runner in the scopes the coordinator
 * knows, each `managed` (provably one of our lanes) or `unmanaged` (never touched), with why.
 */
import type { ApiClient } from '../api-client/api-client.js';
import type { RunnerListing } from './control-views.js';
import { oneLine, printJson, renderTable, type CliIo } from './output.js';

/** Lists runners; returns the exit status. */
export async function runnersCommand(
  io: CliIo,
  client: ApiClient,
  opts: { json: boolean },
): Promise<number> {
  const r = (await client.get('/v1/runners')) as {
    runners: RunnerListing[];
    unavailable: { scope: string; reason: string }[];
  };
  if (opts.json) {
    printJson(io, r);
    return 0;
  }
  if (r.runners.length === 0) io.stdout('no runners\n');
  else {
    io.stdout(
      renderTable(
        ['RUNNER', 'NAME', 'SCOPE', 'STATUS', 'BUSY', 'OWNER', 'LANE / WHY'],
        r.runners.map((x) => [
          String(x.runnerId),
          x.name,
          x.scope,
          x.githubStatus === undefined ? x.status : `${x.status} (GitHub: ${x.githubStatus})`,
          x.busy ? 'busy' : 'idle',
          x.managed ? 'managed' : 'unmanaged',
          x.managed ? `${x.hostId ?? ''} ${x.laneId ?? ''}`.trim() : (x.reason ?? ''),
        ]),
      ),
    );
  }
  for (const u of r.unavailable)
    io.stderr(`warning: runners of "${u.scope}" could not be listed: ${oneLine(u.reason)}\n`);
  return 0;
}
