/** `launchplane-agent lanes [--json]`: the lanes in the local ledger. */
import type { LaneReport } from '@launchplane/shared';
import { loadAgentConfig } from '../config/config-file.js';
import { readLanes } from './local-ledger.js';
import type { CliIo } from './output.js';
import { printJson, renderTable } from './output.js';

function scopeText(lane: LaneReport): string {
  return 'repository' in lane.scope ? lane.scope.repository : `org:${lane.scope.organization}`;
}

/** Prints the owned lanes. Returns the exit status. */
export async function lanesCommand(
  io: CliIo,
  configPath: string,
  opts: { json: boolean },
): Promise<number> {
  const config = await loadAgentConfig(configPath);
  const lanes = readLanes(config.dataDir);
  if (opts.json) {
    printJson(io, { hostId: config.hostId, lanes });
    return 0;
  }
  if (lanes.length === 0) {
    io.stdout('no lanes\n');
    return 0;
  }
  io.stdout(
    renderTable(
      ['LANE', 'NAME', 'POOL', 'SCOPE', 'BACKEND', 'STATE', 'RUNNER', 'RESTARTS', 'BACKEND STATE'],
      lanes.map((l) => [
        l.laneId,
        l.name,
        l.pool,
        scopeText(l),
        l.backend,
        l.state,
        l.runnerId === undefined ? '-' : String(l.runnerId),
        String(l.restarts),
        l.backendState ?? '-',
      ]),
    ),
  );
  return 0;
}
