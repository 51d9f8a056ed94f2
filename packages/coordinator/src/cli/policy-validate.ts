/**
 * `launchplane policy validate FILE`: offline validation of a policy file.
 */
import { readFile } from 'node:fs/promises';
import { LaunchplaneError, formatIssue, parsePolicy, summarizePolicy } from '@launchplane/shared';
import type { CliIo } from './output.js';
import { printJson, renderTable } from './output.js';

/** Validates `file`; prints the summary or every problem. Returns the exit status. */
export async function policyValidate(
  io: CliIo,
  file: string,
  opts: { json: boolean },
): Promise<number> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (cause) {
    throw new LaunchplaneError('LP_NOT_FOUND', `Cannot read policy file "${file}"`, {
      cause,
      recovery: 'Check the path and that the file is readable',
    });
  }
  const result = parsePolicy(text);
  if (!result.ok) {
    if (opts.json) {
      printJson(io, { ok: false, file, code: 'LP_POLICY_INVALID', errors: result.issues });
    } else {
      for (const issue of result.issues) io.stderr(`${formatIssue(issue, file)}\n`);
    }
    const n = result.issues.length;
    io.stderr(`error LP_POLICY_INVALID: Policy "${file}" has ${n} problem${n === 1 ? '' : 's'}\n`);
    io.stderr(
      'hint: Fix each path named above; hosts and repositories must be in the allowlists\n',
    );
    return 1;
  }
  const summary = summarizePolicy(result.value);
  if (opts.json) {
    printJson(io, { ok: true, file, summary });
    return 0;
  }
  const hostCount = new Set(summary.pools.flatMap((p) => Object.keys(p.perHost))).size;
  io.stdout(
    `ok: ${summary.pools.length} pool${summary.pools.length === 1 ? '' : 's'}, ` +
      `${summary.totalLanes} lane${summary.totalLanes === 1 ? '' : 's'} on ${hostCount} host${hostCount === 1 ? '' : 's'}\n`,
  );
  if (summary.pools.length > 0) {
    io.stdout(
      renderTable(
        ['POOL', 'SCOPE', 'BACKEND', 'EPHEMERAL', 'LANES', 'PER HOST', 'SCALING'],
        summary.pools.map((p) => [
          p.name,
          p.scope,
          p.backend,
          p.ephemeral ? 'yes' : 'no',
          String(p.lanes),
          Object.entries(p.perHost)
            .map(([h, n]) => `${h}=${n}`)
            .join(' '),
          p.scaling,
        ]),
      ),
    );
  }
  return 0;
}
