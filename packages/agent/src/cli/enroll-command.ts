/**
 * `launchplane-agent enroll`: see `enroll()`. The token comes from `LAUNCHPLANE_ENROLL_TOKEN` or a
 * file (`--token-file FILE`, `-` for standard input), never from the command line: every user of
 * the host can read a process's arguments (`ps`, `/proc/<pid>/cmdline`).
 */
import { readFile } from 'node:fs/promises';
import type { Readable } from 'node:stream';
import { LaunchplaneError } from '@launchplane/shared';
import { enroll } from '../enroll/enroll.js';
import { AGENT_VERSION } from '../version.js';
import type { CliIo } from './output.js';
import { printJson } from './output.js';

/** Environment variable that may carry the enrollment token. */
export const ENROLL_TOKEN_ENV = 'LAUNCHPLANE_ENROLL_TOKEN';

/** Largest token file read, in bytes (a token is 81 characters). */
const MAX_TOKEN_FILE_BYTES = 4096;

/** Options of {@link enrollCommand} (commander's parsed flags). */
export interface EnrollCommandOptions {
  coordinator: string;
  /** Present only to refuse it: a token on the command line. */
  token?: string;
  tokenFile?: string;
  hostId: string;
  coordinatorFingerprint?: string;
  tlsPin?: string;
  insecure?: boolean;
  dataDir?: string;
  json: boolean;
}

/** Where the command reads a token from besides files: the environment and standard input. */
export interface EnrollSources {
  env: Readonly<Record<string, string | undefined>>;
  stdin: Readable;
}

/** Runs the enrollment and prints what was done. Returns the exit status. */
export async function enrollCommand(
  io: CliIo,
  configPath: string,
  opts: EnrollCommandOptions,
  sources: EnrollSources = { env: process.env, stdin: process.stdin },
): Promise<number> {
  if (opts.token !== undefined) {
    throw new LaunchplaneError(
      'LP_USAGE',
      '--token puts the enrollment token on the command line, where every user of this host can read it (ps, /proc/<pid>/cmdline)',
      {
        recovery: `Pass it in ${ENROLL_TOKEN_ENV} or with --token-file FILE (- reads standard input); treat this token as seen and create a new one: launchplane enroll-token create --host ${opts.hostId}`,
      },
    );
  }
  const token = await readToken(opts, sources);
  if (opts.coordinatorFingerprint === undefined) {
    throw new LaunchplaneError(
      'LP_USAGE',
      'Enrollment needs --coordinator-fingerprint: the coordinator is authenticated by it before the token is used',
      { recovery: 'Copy it from the line `launchplane enroll-token create` printed' },
    );
  }
  if (opts.insecure === true) {
    io.stderr(
      'warning: --insecure: plain HTTP to the coordinator can be read and altered on the way; the enrollment is still authenticated by the coordinator key, but use https:// with --tls-pin\n',
    );
  }
  const result = await enroll({
    coordinatorUrl: opts.coordinator,
    token,
    hostId: opts.hostId,
    configPath,
    agentVersion: AGENT_VERSION,
    expectedFingerprint: opts.coordinatorFingerprint,
    ...(opts.tlsPin === undefined ? {} : { tlsPin: opts.tlsPin }),
    ...(opts.insecure === true ? { insecure: true } : {}),
    ...(opts.dataDir === undefined ? {} : { dataDir: opts.dataDir }),
  });
  if (opts.json) {
    printJson(io, { ok: true, ...result });
    return 0;
  }
  io.stdout(
    [
      `enrolled host "${result.hostId}" with coordinator "${result.coordinatorId}"`,
      `  coordinator key  ${result.coordinatorFingerprint} (authenticated, pinned)`,
      ...(result.tlsPin === undefined ? [] : [`  TLS key          ${result.tlsPin} (pinned)`]),
      `  host key         ${result.hostFingerprint} (${result.keyCreated ? 'new' : 'reused'}; recorded by the coordinator)`,
      `  agent URL        ${result.agentUrl}${result.insecure ? ' (insecure)' : ''}`,
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

/** The token from `--token-file` (a path, or `-`) or else the environment. */
async function readToken(opts: EnrollCommandOptions, sources: EnrollSources): Promise<string> {
  let text: string | undefined;
  if (opts.tokenFile === '-') {
    text = await readLimited(sources.stdin, 'standard input');
  } else if (opts.tokenFile !== undefined) {
    try {
      const content = await readFile(opts.tokenFile);
      if (content.length > MAX_TOKEN_FILE_BYTES) throw new Error('too large');
      text = content.toString('utf8');
    } catch (cause) {
      throw new LaunchplaneError('LP_USAGE', `Cannot read token file "${opts.tokenFile}"`, {
        cause,
        recovery: `It must be a readable file of at most ${MAX_TOKEN_FILE_BYTES} bytes holding the token`,
      });
    }
  } else {
    text = sources.env[ENROLL_TOKEN_ENV];
  }
  const token = (text ?? '').trim();
  if (token === '') {
    throw new LaunchplaneError('LP_USAGE', 'An enrollment token is required', {
      recovery: `Set ${ENROLL_TOKEN_ENV}, or pass --token-file FILE (- reads standard input)`,
    });
  }
  return token;
}

/** Reads up to the first line break (or the end) of a stream, at most 4 KiB. */
async function readLimited(stream: Readable, what: string): Promise<string> {
  let text = '';
  for await (const chunk of stream) {
    text += typeof chunk === 'string' ? chunk : (chunk as Buffer).toString('utf8');
    if (text.includes('\n')) break;
    if (text.length > MAX_TOKEN_FILE_BYTES) {
      throw new LaunchplaneError('LP_USAGE', `The token on ${what} is too long`);
    }
  }
  return text.split('\n')[0] ?? '';
}
