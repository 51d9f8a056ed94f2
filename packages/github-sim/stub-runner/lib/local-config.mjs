// The runner root and its local configuration files, as actions/runner keeps them
// (docs/runner-contract.md): `.runner` (settings), `.credentials` and `.credentials_rsaparams`
// (secrets, 0600), `.env` (variables loaded at start), `.path`.
import { chmodSync, existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { log } from './log.mjs';

/** The runner root: the directory holding run.sh and config.sh. */
export const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');

const RUNNER = join(ROOT, '.runner');
const CREDENTIALS = join(ROOT, '.credentials');
const RSA_PARAMS = join(ROOT, '.credentials_rsaparams');

/** Files a JIT config may hold: the real runner writes each key as a file in its root. */
const JIT_FILES = new Set(['.runner', '.credentials', '.credentials_rsaparams']);

/** Loads `KEY=VALUE` lines of `.env` into the environment, as Runner.Listener does at start. */
export function loadDotEnv() {
  let text;
  try {
    text = readFileSync(join(ROOT, '.env'), 'utf8');
  } catch {
    return;
  }
  for (const line of text.split('\n')) {
    const i = line.indexOf('=');
    if (i > 0) process.env[line.slice(0, i)] = line.slice(i + 1);
  }
}

/** Writes a file afresh (an old one, or a link planted in its place, is removed first). */
function writeFresh(path, content, mode) {
  rmSync(path, { force: true });
  writeFileSync(path, content, { mode, flag: 'wx' });
  chmodSync(path, mode);
}

function modeOf(name) {
  return name.startsWith('.credentials') ? 0o600 : 0o644;
}

/** Writes `.runner`, `.credentials` and `.credentials_rsaparams` from their contents. */
export function writeLocalConfig({ runner, credentials, rsaParams }) {
  writeFresh(RUNNER, JSON.stringify(runner, null, 2), modeOf('.runner'));
  writeFresh(CREDENTIALS, JSON.stringify(credentials, null, 2), modeOf('.credentials'));
  writeFresh(
    RSA_PARAMS,
    JSON.stringify(rsaParams ?? {}, null, 2),
    modeOf('.credentials_rsaparams'),
  );
}

/**
 * Decodes a JIT config (base64 of a JSON object from file name to base64 content) and writes its
 * files to the runner root, as the real runner does before it runs. Throws on a malformed config.
 */
export function writeJitConfig(encoded) {
  let files;
  try {
    files = JSON.parse(Buffer.from(encoded, 'base64').toString('utf8'));
  } catch {
    throw new Error('The JIT configuration is not valid base64-encoded JSON');
  }
  if (typeof files !== 'object' || files === null || typeof files['.runner'] !== 'string') {
    throw new Error('The JIT configuration holds no .runner file');
  }
  for (const [name, content] of Object.entries(files)) {
    if (!JIT_FILES.has(name) || typeof content !== 'string') {
      throw new Error(`The JIT configuration holds an unexpected entry "${name.slice(0, 40)}"`);
    }
  }
  for (const [name, content] of Object.entries(files)) {
    writeFresh(join(ROOT, name), Buffer.from(content, 'base64'), modeOf(name));
  }
}

/** Whether `.runner` and `.credentials` are there. */
export function isConfigured() {
  return existsSync(RUNNER) && existsSync(CREDENTIALS);
}

/** `.runner` and `.credentials`, parsed; throws when they are missing or unreadable. */
export function readLocalConfig() {
  return {
    runner: JSON.parse(readFileSync(RUNNER, 'utf8')),
    credentials: JSON.parse(readFileSync(CREDENTIALS, 'utf8')),
  };
}

/** Deletes the local configuration like the real DeleteLocalRunnerConfig, saying what it did. */
export function deleteLocalConfig() {
  if (existsSync(CREDENTIALS)) {
    rmSync(CREDENTIALS, { force: true });
    rmSync(RSA_PARAMS, { force: true });
    log('Removed .credentials');
  } else log('Does not exist. Skipping Removing .credentials');
  if (existsSync(RUNNER)) {
    rmSync(RUNNER, { force: true });
    log('Removed .runner');
  } else log('Does not exist. Skipping Removing .runner');
}
