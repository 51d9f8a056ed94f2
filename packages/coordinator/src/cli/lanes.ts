/**
 * `launchplane lanes [--host H] [--pool P] [--json]` (viewer): lanes with their state, runner id,
 * and what GitHub and the agent say about them.
 */
import type { ApiClient } from '../api-client/api-client.js';
import type { LaneListing } from './control-views.js';
import { printJson, renderTable, type CliIo } from './output.js';

/** Lists lanes; returns the exit status. */
export async function lanesCommand(
  io: CliIo,
  client: ApiClient,
  opts: { host?: string | undefined; pool?: string | undefined; json: boolean },
): Promise<number> {
  const r = (await client.get('/v1/lanes', { host: opts.host, pool: opts.pool })) as {
    lanes: LaneListing[];
  };
  if (opts.json) {
    printJson(io, r);
    return 0;
  }
  if (r.lanes.length === 0) {
    io.stdout('no lanes\n');
    return 0;
  }
  io.stdout(
    renderTable(
      ['LANE', 'HOST', 'POOL', 'STATE', 'RUNNER', 'GITHUB', 'BUSY', 'NOTE'],
      r.lanes.map((l) => [
        l.laneId,
        l.hostId,
        l.pool,
        l.state,
        l.runnerId === undefined ? '-' : String(l.runnerId),
        l.github?.status ?? '-',
        busy(l),
        l.recovery ?? '',
      ]),
    ),
  );
  return 0;
}

/** Busy as both sides see it: `host/github`, `-` when a side is unknown. */
function busy(l: LaneListing): string {
  const side = (v: boolean | null | undefined) =>
    v === null || v === undefined ? '-' : v ? 'busy' : 'idle';
  return `${side(l.localBusy)}/${side(l.github?.busy)}`;
}
