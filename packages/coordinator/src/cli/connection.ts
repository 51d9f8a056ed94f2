/**
 * The connection options every server-talking command shares: `--url` / `LAUNCHPLANE_URL`,
 * `--token` / `LAUNCHPLANE_TOKEN`, and `LAUNCHPLANE_CA` (a PEM file for a self-signed server).
 */
import { readFileSync } from 'node:fs';
import type { Command } from 'commander';
import { LaunchplaneError } from '@launchplane/shared';
import { ApiClient } from '../api-client/api-client.js';

/** Parsed connection options. */
export interface ConnectionOptions {
  url?: string;
  token?: string;
}

/** Adds `--url` and `--token` to a command. */
export function withConnection(cmd: Command): Command {
  return cmd
    .option('--url <url>', 'coordinator URL (env LAUNCHPLANE_URL)')
    .option('--token <token>', 'operator token (env LAUNCHPLANE_TOKEN)');
}

/** Builds a client from options and the environment. */
export function clientFrom(
  opts: ConnectionOptions,
  env: NodeJS.ProcessEnv = process.env,
): ApiClient {
  const url = opts.url ?? env.LAUNCHPLANE_URL;
  if (url === undefined || url === '') {
    throw new LaunchplaneError('LP_USAGE', 'No coordinator URL', {
      recovery: 'Pass --url or set LAUNCHPLANE_URL',
    });
  }
  const token = opts.token ?? env.LAUNCHPLANE_TOKEN;
  if (token === undefined || token === '') {
    throw new LaunchplaneError('LP_UNAUTHENTICATED', 'No operator token', {
      recovery: 'Pass --token or set LAUNCHPLANE_TOKEN',
    });
  }
  const caFile = env.LAUNCHPLANE_CA;
  let ca: string | undefined;
  if (caFile !== undefined && caFile !== '') {
    try {
      ca = readFileSync(caFile, 'utf8');
    } catch (cause) {
      throw new LaunchplaneError('LP_NOT_FOUND', `Cannot read CA file "${caFile}"`, { cause });
    }
  }
  return new ApiClient({ url, token, ca });
}
