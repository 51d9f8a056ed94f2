/**
 * `launchplane-agent enroll`: see `enroll()`. The token may come from `--token` or, to keep it out
 * of the process list and shell history, from `LAUNCHPLANE_ENROLL_TOKEN`.
 */
import { LaunchplaneError } from '@launchplane/shared';
import { enroll } from '../enroll/enroll.js';
import { AGENT_VERSION } from '../version.js';
import type { CliIo } from './output.js';
import { printJson } from './output.js';

/** Environment variable that may carry the enrollment token. */
export const ENROLL_TOKEN_ENV = 'LAUNCHPLANE_ENROLL_TOKEN';

/** Options of {@link enrollCommand} (commander's parsed flags). */
export interface EnrollCommandOptions {
  coordinator: string;
  token?: string;
  hostId: string;
  coordinatorFingerprint?: string;
  dataDir?: string;
  json: boolean;
}

/** Runs the enrollment and prints what was done. Returns the exit status. */
export async function enrollCommand(
  io: CliIo,
  configPath: string,
  opts: EnrollCommandOptions,
  env: Readonly<Record<string, string | undefined>> = process.env,
): Promise<number> {
  const token = opts.token ?? env[ENROLL_TOKEN_ENV];
  if (token === undefined || token === '') {
    throw new LaunchplaneError('LP_USAGE', 'An enrollment token is required', {
      recovery: `Pass --token or set ${ENROLL_TOKEN_ENV}`,
    });
  }
  const result = await enroll({
    coordinatorUrl: opts.coordinator,
    token,
    hostId: opts.hostId,
    configPath,
    agentVersion: AGENT_VERSION,
    ...(opts.coordinatorFingerprint === undefined
      ? {}
      : { expectedFingerprint: opts.coordinatorFingerprint }),
    ...(opts.dataDir === undefined ? {} : { dataDir: opts.dataDir }),
  });
  if (opts.json) {
    printJson(io, { ok: true, ...result });
    return 0;
  }
  io.stdout(
    [
      `enrolled host "${result.hostId}" with coordinator "${result.coordinatorId}"`,
      `  coordinator key  ${result.coordinatorFingerprint} (pinned)`,
      `  host key         ${result.hostFingerprint} (${result.keyCreated ? 'new' : 'reused'})`,
      `  agent URL        ${result.agentUrl}`,
      `  config           ${result.configPath}${result.configCreated ? ' (created)' : ' (updated)'}`,
      `  data dir         ${result.dataDir}`,
      '',
    ].join('\n'),
  );
  if (result.configCreated) {
    io.stdout(
      'next: edit optIn in the config (it allows nothing yet), then start the agent: `launchplane-agent run`\n',
    );
  }
  return 0;
}
