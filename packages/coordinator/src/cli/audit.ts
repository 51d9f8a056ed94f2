/**
 * `launchplane audit [--host H] [--lane L] [--since T] [--follow] [--json]` (viewer). With
 * `--follow` it keeps polling for new records until interrupted; with `--json --follow` each
 * record is one JSON line (a stream has no single document).
 */
import { nowSec } from '@launchplane/shared';
import { systemClock } from '../adapters/system-clock.js';
import type { AuditRecord } from '@launchplane/shared';
import type { ApiClient } from '../api-client/api-client.js';
import { formatTime, parseSince } from './duration.js';
import type { CliIo } from './output.js';
import { jsonText, oneLine, printJson, renderTable } from './output.js';

/** Options of {@link auditCommand}. */
export interface AuditOptions {
  host?: string | undefined;
  lane?: string | undefined;
  since?: string | undefined;
  follow: boolean;
  json: boolean;
  /** Poll interval for `--follow`. Default 1000 ms. */
  pollMs?: number;
  /** Ends `--follow` (SIGINT in the CLI). */
  signal?: AbortSignal;
}

const HEADER = ['SEQ', 'TIME', 'ACTOR', 'ACTION', 'HOST', 'LANE', 'OUTCOME', 'CODE'];

/** Operator token ids the coordinator could name (`GET /v1/audit` `actors`). */
type Actors = Readonly<Record<string, { name: string; role: string } | undefined>>;

interface AuditPage {
  records: AuditRecord[];
  actors?: Actors;
}

/** An operator is shown by its token's name and id (`ci (b979ff3c…)`); other actors as they are. */
function actorText(actor: string, actors: Actors): string {
  const named = actors[actor];
  return named === undefined ? actor : `${named.name} (${actor.slice(0, 8)}…)`;
}

function row(r: AuditRecord, actors: Actors): string[] {
  return [
    String(r.seq),
    formatTime(r.at),
    actorText(r.actor, actors),
    r.action,
    r.hostId ?? '-',
    r.laneId ?? '-',
    r.dryRun ? `${r.outcome} (dry run)` : r.outcome,
    r.code ?? '',
  ];
}

/** Prints audit records; returns the exit status. */
export async function auditCommand(
  io: CliIo,
  client: ApiClient,
  opts: AuditOptions,
): Promise<number> {
  const query = {
    host: opts.host,
    lane: opts.lane,
    since: opts.since === undefined ? undefined : parseSince(opts.since, nowSec(systemClock)),
  };
  const page = (await client.get('/v1/audit', query)) as AuditPage;
  const first = page.records;
  const actors: Actors = page.actors ?? {};
  if (!opts.follow) {
    if (opts.json) printJson(io, { records: first, actors });
    else if (first.length === 0) io.stdout('no audit records\n');
    else
      io.stdout(
        renderTable(
          HEADER,
          first.map((r) => row(r, actors)),
        ),
      );
    return 0;
  }
  const emit = (records: AuditRecord[], names: Actors) => {
    for (const r of records) {
      io.stdout(opts.json ? `${jsonText(r)}\n` : `${row(r, names).map(oneLine).join('  ')}\n`);
    }
  };
  if (!opts.json) io.stdout(`${HEADER.join('  ')}\n`);
  emit(first, actors);
  let afterSeq = first.at(-1)?.seq ?? 0;
  const pollMs = opts.pollMs ?? 1000;
  const aborted = (): boolean => opts.signal?.aborted === true;
  while (!aborted()) {
    await new Promise<void>((resolve) => {
      const t = setTimeout(resolve, pollMs);
      opts.signal?.addEventListener('abort', () => {
        clearTimeout(t);
        resolve();
      });
    });
    if (aborted()) break;
    const next = (await client.get('/v1/audit', {
      host: opts.host,
      lane: opts.lane,
      afterSeq,
    })) as AuditPage;
    emit(next.records, next.actors ?? {});
    afterSeq = next.records.at(-1)?.seq ?? afterSeq;
  }
  return 0;
}
