/**
 * Builds the GitHub client from the `github` section of coordinator.yaml: reads the token or the
 * App's private key from disk, refusing files other users can read.
 */
import { readFile, stat } from 'node:fs/promises';
import { LaunchplaneError } from '@launchplane/shared';
import type { Scope } from '@launchplane/shared';
import {
  type GitHubAuth,
  OctokitGitHubRunners,
  type OctokitGitHubRunnersOptions,
} from './octokit-github-runners.js';

/** The `github` section of coordinator.yaml, as its schema parses it. */
export interface GitHubConfig {
  /** Default `https://api.github.com`; GHES: `https://HOST/api/v3`. */
  apiUrl?: string;
  /** Default `https://github.com`; the origin runner `--url`s are built on. */
  webUrl?: string;
  auth?:
    | { token: string }
    | { tokenFile: string }
    | { appId: number | string; privateKeyFile: string; installationId: number };
}

/** Everything but auth and URL, which come from the config. */
export type GitHubRunnersTuning = Omit<OctokitGitHubRunnersOptions, 'auth' | 'apiUrl'>;

/**
 * Reads a secret named by coordinator.yaml (`key`, e.g. `github.auth.tokenFile`), trimmed.
 * Refuses a file other users can access, and an empty one.
 */
export async function readConfigSecretFile(
  file: string,
  what: string,
  key: string,
): Promise<string> {
  let mode: number;
  let text: string;
  try {
    mode = (await stat(file)).mode;
    text = await readFile(file, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code ?? 'EIO';
    throw new LaunchplaneError(
      'LP_CONFIG_INVALID',
      `Cannot read the ${what} file "${file}" (${key}): ${code}`,
      { recovery: `Create the file readable by the coordinator's user only (chmod 600)` },
    );
  }
  // A credential any local user can read is a leak waiting to happen; refuse it outright.
  if ((mode & 0o007) !== 0) {
    throw new LaunchplaneError(
      'LP_CONFIG_INVALID',
      `Refusing the ${what} file "${file}" (${key}): other users can access it`,
      { recovery: `Run: chmod o-rwx ${file}` },
    );
  }
  const value = text.trim();
  if (value === '') {
    throw new LaunchplaneError('LP_CONFIG_INVALID', `The ${what} file "${file}" (${key}) is empty`);
  }
  return value;
}

/** Resolves the config's auth into credentials, reading files where it names them. */
export async function resolveGitHubAuth(auth: GitHubConfig['auth']): Promise<GitHubAuth> {
  if (auth === undefined) {
    throw new LaunchplaneError('LP_CONFIG_INVALID', 'The coordinator config has no github.auth', {
      recovery:
        'Set github.auth to {tokenFile: PATH} or {appId, privateKeyFile, installationId} in coordinator.yaml',
    });
  }
  if ('token' in auth) return { kind: 'token', token: auth.token };
  if ('tokenFile' in auth) {
    return {
      kind: 'token',
      token: await readConfigSecretFile(auth.tokenFile, 'GitHub token', 'github.auth.tokenFile'),
    };
  }
  const privateKey = await readConfigSecretFile(
    auth.privateKeyFile,
    'GitHub App private key',
    'github.auth.privateKeyFile',
  );
  if (!privateKey.includes('PRIVATE KEY-----')) {
    throw new LaunchplaneError(
      'LP_CONFIG_INVALID',
      `The GitHub App private key file "${auth.privateKeyFile}" (github.auth.privateKeyFile) is not a PEM private key`,
      { recovery: "Download the App's private key (.pem) from its GitHub settings page" },
    );
  }
  return { kind: 'app', appId: auth.appId, privateKey, installationId: auth.installationId };
}

/** The GitHub client the coordinator uses, from its config. */
export async function createGitHubRunners(
  config: GitHubConfig,
  tuning: GitHubRunnersTuning = {},
): Promise<OctokitGitHubRunners> {
  return new OctokitGitHubRunners({
    ...tuning,
    auth: await resolveGitHubAuth(config.auth),
    ...(config.apiUrl === undefined ? {} : { apiUrl: config.apiUrl }),
  });
}

/** The URL `config.sh --url` takes for a scope: `<webUrl>/<owner>/<repo>` or `<webUrl>/<org>`. */
export function scopeWebUrl(webUrl: string, scope: Scope): string {
  const base = webUrl.replace(/\/+$/, '');
  return 'repository' in scope ? `${base}/${scope.repository}` : `${base}/${scope.organization}`;
}
