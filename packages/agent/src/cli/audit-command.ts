/** `launchplane-agent audit [--verify] [--json]`: the local audit log and its hash chain. */
import { LaunchplaneError } from '@launchplane/shared';
import { loadAgentConfig } from '../config/config-file.js';
import { readAudit } from './local-ledger.js';
import type { CliIo } from './output.js';
import { printJson, renderTable } from './output.js';

/** Prints the audit log; with `verify`, exits 1 when the chain is broken. */
export async function auditCommand(
  io: CliIo,
  configPath: string,
  opts: { verify: boolean; json: boolean },
): Promise<number> {
  const config = await loadAgentConfig(configPath);
  const { records, verdict } = readAudit(config.dataDir, opts.verify);
  const broken = verdict !== undefined && !verdict.ok ? verdict : undefined;
  if (opts.json) {
    printJson(io, {
      hostId: config.hostId,
      records,
      ...(verdict === undefined ? {} : { verify: verdict }),
    });
  } else if (records.length === 0) {
    io.stdout('no audit records\n');
  } else {
    io.stdout(
      renderTable(
        ['SEQ', 'TIME', 'ACTOR', 'ACTION', 'LANE', 'OUTCOME', 'CODE', 'DRY-RUN'],
        records.map((r) => [
          String(r.seq),
          new Date(r.at * 1000).toISOString(),
          r.actor,
          r.action,
          r.laneId ?? '-',
          r.outcome,
          r.code ?? '-',
          r.dryRun ? 'yes' : 'no',
        ]),
      ),
    );
  }
  if (broken !== undefined) {
    const seq = records[broken.index]?.seq ?? broken.index + 1;
    throw new LaunchplaneError(
      'LP_SIGNATURE_INVALID',
      `Audit chain is broken at record ${seq} (${broken.reason})`,
      {
        recovery:
          'The local audit log was altered; compare with the copy the coordinator holds (`launchplane audit --host …`)',
      },
    );
  }
  if (verdict !== undefined && !opts.json) {
    io.stdout(`audit chain ok (${records.length} record${records.length === 1 ? '' : 's'})\n`);
  }
  return 0;
}
