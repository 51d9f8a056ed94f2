/**
 * `launchplane policy apply FILE [--dry-run]` (admin): validates locally first (precise errors
 * with YAML paths, no round trip), then stores a new policy version on the coordinator.
 */
import { readFile } from 'node:fs/promises';
import { LaunchplaneError, formatIssue, parsePolicy } from '@launchplane/shared';
import type { ApiClient } from '../api-client/api-client.js';
import type { CliIo } from './output.js';
import { printJson } from './output.js';

interface Applied {
  digest: string;
  version: number | null;
  changed: boolean;
  dryRun: boolean;
  summary: { totalLanes: number; pools: { name: string }[] };
}

/** Applies a policy file; returns the exit status. */
export async function policyApply(
  io: CliIo,
  client: ApiClient,
  opts: { file: string; dryRun: boolean; json: boolean },
): Promise<number> {
  let text: string;
  try {
    text = await readFile(opts.file, 'utf8');
  } catch (cause) {
    throw new LaunchplaneError('LP_NOT_FOUND', `Cannot read policy file "${opts.file}"`, {
      cause,
      recovery: 'Check the path and that the file is readable',
    });
  }
  const local = parsePolicy(text);
  if (!local.ok) {
    for (const issue of local.issues) io.stderr(`${formatIssue(issue, opts.file)}\n`);
    throw new LaunchplaneError(
      'LP_POLICY_INVALID',
      `Policy "${opts.file}" has ${local.issues.length} problem${local.issues.length === 1 ? '' : 's'}`,
      { recovery: 'Fix each path named above; nothing was applied' },
    );
  }
  const r = (await client.post('/v1/policy', { text, dryRun: opts.dryRun })) as Applied;
  if (opts.json) {
    printJson(io, r);
    return 0;
  }
  const what = `${r.summary.pools.length} pool${r.summary.pools.length === 1 ? '' : 's'}, ${r.summary.totalLanes} lane${r.summary.totalLanes === 1 ? '' : 's'}`;
  if (r.dryRun) {
    io.stdout(
      `dry run: would ${r.changed ? 'store a new policy version' : 'change nothing (same digest)'} (${what})\ndigest ${r.digest}\n`,
    );
  } else if (r.changed) {
    io.stdout(`applied policy version ${r.version ?? '?'} (${what})\ndigest ${r.digest}\n`);
  } else {
    io.stdout(`unchanged: version ${r.version ?? '?'} has the same digest\ndigest ${r.digest}\n`);
  }
  return 0;
}
