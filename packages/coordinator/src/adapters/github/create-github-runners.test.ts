import { generateKeyPairSync } from 'node:crypto';
import { chmod, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type GitHubSim, startGitHubSim } from '@launchplane/github-sim';
import { LaunchplaneError } from '@launchplane/shared';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createGitHubRunners, resolveGitHubAuth, scopeWebUrl } from './create-github-runners.js';

const TOKEN = 'ghp_c3factorytoken00000000000000000000';
let dir: string;
let gh: GitHubSim;

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'lp-gh-factory-'));
  gh = await startGitHubSim({ tokens: [TOKEN] });
});
afterEach(async () => {
  await gh.close();
  await rm(dir, { recursive: true, force: true });
});

async function secretFile(name: string, text: string, mode: number): Promise<string> {
  const file = join(dir, name);
  await writeFile(file, text);
  await chmod(file, mode);
  return file;
}

async function configError(p: Promise<unknown>): Promise<LaunchplaneError> {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(LaunchplaneError);
  expect((err as LaunchplaneError).code).toBe('LP_CONFIG_INVALID');
  return err as LaunchplaneError;
}

describe('createGitHubRunners()', () => {
  it('reads a 0600 token file (trailing newline trimmed) and talks to the configured API', async () => {
    const tokenFile = await secretFile('gh.token', `${TOKEN}\n`, 0o600);
    const runners = await createGitHubRunners({ apiUrl: gh.url, auth: { tokenFile } });
    expect(await runners.listRunners({ repository: 'acme/app' })).toEqual([]);
    expect(runners.rateLimit()?.limit).toBe(5000);
  });

  it('accepts an inline token', async () => {
    const runners = await createGitHubRunners({ apiUrl: `${gh.url}/`, auth: { token: TOKEN } });
    expect(await runners.listRunners({ organization: 'acme' })).toEqual([]);
  });

  it('refuses a token file other users can read, without echoing its content', async () => {
    const tokenFile = await secretFile('gh.token', TOKEN, 0o644);
    const err = await configError(createGitHubRunners({ apiUrl: gh.url, auth: { tokenFile } }));
    expect(err.message).toContain('other users can access it');
    expect(err.recovery).toContain('chmod');
    expect(`${err.message} ${err.recovery} ${JSON.stringify(err)}`).not.toContain(TOKEN);
  });

  it('refuses a missing or empty token file and a missing auth section', async () => {
    const missing = await configError(resolveGitHubAuth({ tokenFile: join(dir, 'nope.token') }));
    expect(missing.message).toContain('ENOENT');
    const empty = await secretFile('empty.token', '\n', 0o600);
    expect((await configError(resolveGitHubAuth({ tokenFile: empty }))).message).toContain(
      'is empty',
    );
    expect((await configError(resolveGitHubAuth(undefined))).message).toContain('github.auth');
  });

  it('builds GitHub App auth from a private key file and mints installation tokens', async () => {
    const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
    const pem = privateKey.export({ type: 'pkcs1', format: 'pem' }).toString();
    await fetch(`${gh.url}/_sim/apps`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({
        appId: '99',
        publicKey: publicKey.export({ type: 'spki', format: 'pem' }).toString(),
        installationIds: [5],
      }),
    });
    const privateKeyFile = await secretFile('app.pem', pem, 0o600);
    const runners = await createGitHubRunners({
      apiUrl: gh.url,
      auth: { appId: '99', privateKeyFile, installationId: 5 },
    });
    const token = await runners.createRegistrationToken({ repository: 'acme/app' });
    expect(token.token.length).toBeGreaterThan(10);

    const notPem = await secretFile('bad.pem', 'hello', 0o600);
    await configError(resolveGitHubAuth({ appId: 1, privateKeyFile: notPem, installationId: 5 }));
  });
});

describe('scopeWebUrl()', () => {
  it('builds the config.sh --url of a repository and an organization', () => {
    expect(scopeWebUrl('https://github.com/', { repository: 'acme/app' })).toBe(
      'https://github.com/acme/app',
    );
    expect(scopeWebUrl('https://ghe.example.com', { organization: 'acme' })).toBe(
      'https://ghe.example.com/acme',
    );
  });
});
