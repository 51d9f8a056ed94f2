/**
 * The agent's config file: where it is, reading and validating it, and the one write the agent
 * ever makes to it (the `coordinator` section, at enrollment). Writes keep the operator's
 * comments and every other key, so an enrolled host's hand-written opt-in survives re-enrollment.
 */
import { randomBytes } from 'node:crypto';
import { mkdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import { Document, isMap, parseDocument } from 'yaml';
import {
  DEFAULT_AGENT_CONFIG_PATH,
  DEFAULT_DATA_DIR,
  LaunchplaneError,
  formatIssue,
  parseAgentConfig,
} from '@launchplane/shared';
import type { AgentConfig, ConfigIssue } from '@launchplane/shared';

/** Environment variable naming the config file (docs/agent-config.md). */
export const CONFIG_ENV_VAR = 'LAUNCHPLANE_AGENT_CONFIG';

/** The config path: `--config`, else `LAUNCHPLANE_AGENT_CONFIG`, else `/etc/launchplane/agent.yaml`. */
export function resolveConfigPath(
  flag: string | undefined,
  env: Readonly<Record<string, string | undefined>> = process.env,
): string {
  if (flag !== undefined && flag !== '') return flag;
  const fromEnv = env[CONFIG_ENV_VAR];
  return fromEnv !== undefined && fromEnv !== '' ? fromEnv : DEFAULT_AGENT_CONFIG_PATH;
}

/** A config file that exists but does not validate; carries every problem with its YAML path. */
export class ConfigInvalidError extends LaunchplaneError {
  readonly issues: readonly ConfigIssue[];
  readonly path: string;

  constructor(path: string, issues: readonly ConfigIssue[]) {
    const n = issues.length;
    super(
      'LP_CONFIG_INVALID',
      `Config "${path}" has ${n} problem${n === 1 ? '' : 's'}: ${issues.map((i) => formatIssue(i)).join('; ')}`,
      { recovery: 'Fix each path named above and run again', details: { path, issues } },
    );
    this.name = 'ConfigInvalidError';
    this.issues = issues;
    this.path = path;
  }
}

/** Reads the file's text, or undefined when it does not exist. */
export async function readConfigText(path: string): Promise<string | undefined> {
  try {
    return await readFile(path, 'utf8');
  } catch (cause) {
    if ((cause as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw new LaunchplaneError('LP_CONFIG_INVALID', `Cannot read config "${path}"`, {
      cause,
      recovery: 'Check that the file is readable by the agent',
    });
  }
}

/**
 * Loads and validates the config. A missing file is `LP_NOT_FOUND` (enroll first); a bad one is a
 * {@link ConfigInvalidError} listing every problem.
 */
export async function loadAgentConfig(path: string): Promise<AgentConfig> {
  const text = await readConfigText(path);
  if (text === undefined) {
    throw new LaunchplaneError('LP_NOT_FOUND', `Config "${path}" does not exist`, {
      recovery:
        'Enroll the host with `launchplane-agent enroll`, or point --config / LAUNCHPLANE_AGENT_CONFIG at the file',
    });
  }
  const parsed = parseAgentConfig(text);
  if (!parsed.ok) throw new ConfigInvalidError(path, parsed.issues);
  return parsed.value;
}

/** The `coordinator` section enrollment writes. */
export interface CoordinatorSection {
  url: string;
  fingerprint: string;
  coordinatorId: string;
}

/** Options of {@link writeCoordinatorSection}. */
export interface WriteCoordinatorSectionOptions {
  hostId: string;
  /** Used only when the file is created. Default `/var/lib/launchplane`. */
  dataDir?: string;
  coordinator: CoordinatorSection;
}

const NEW_CONFIG_HEADER = [
  ' Launchplane agent config, created by `launchplane-agent enroll`.',
  " optIn is this host's own consent: empty allows nothing. Example:",
  '   optIn: { repositories: [acme/api], backends: [systemd], maxLanes: 2 }',
].join('\n');

/**
 * The config text with the `coordinator` section set: a new file from defaults when `existing` is
 * undefined, else `existing` with its comments and other keys kept. Its `hostId` must be
 * `hostId`. The result is validated, so a caller never writes a config the agent cannot load.
 * Pure: no I/O.
 */
export function renderConfigWithCoordinator(
  existing: string | undefined,
  path: string,
  options: WriteCoordinatorSectionOptions,
): string {
  let text: string;
  if (existing === undefined) {
    const doc = new Document({
      hostId: options.hostId,
      coordinator: { ...options.coordinator },
      dataDir: options.dataDir ?? DEFAULT_DATA_DIR,
      optIn: { repositories: [], organizations: [], backends: [], maxLanes: 0 },
    });
    doc.commentBefore = NEW_CONFIG_HEADER;
    text = doc.toString();
  } else {
    const doc = parseDocument(existing, { uniqueKeys: true });
    if (doc.errors.length > 0 || !(isMap(doc.contents) || doc.contents === null)) {
      const parsed = parseAgentConfig(existing);
      throw new ConfigInvalidError(
        path,
        parsed.ok
          ? [{ path: '', line: undefined, column: undefined, message: 'not a YAML mapping' }]
          : parsed.issues,
      );
    }
    const current: unknown = doc.get('hostId');
    if (current !== undefined && current !== options.hostId) {
      throw new LaunchplaneError(
        'LP_CONFLICT',
        `Cannot enroll as host "${options.hostId}": config "${path}" belongs to host "${typeof current === 'string' ? current : JSON.stringify(current)}"`,
        { recovery: 'Pass the hostId of the config, or use another --config' },
      );
    }
    if (current === undefined) doc.set('hostId', options.hostId);
    doc.set('coordinator', doc.createNode({ ...options.coordinator }));
    text = doc.toString();
  }
  const check = parseAgentConfig(text);
  if (!check.ok) throw new ConfigInvalidError(path, check.issues);
  return text;
}

/** Writes the config's `coordinator` section (see {@link renderConfigWithCoordinator}), atomically. */
export async function writeCoordinatorSection(
  path: string,
  options: WriteCoordinatorSectionOptions,
): Promise<void> {
  const text = renderConfigWithCoordinator(await readConfigText(path), path, options);
  await writeFileAtomic(path, text, 0o644);
}

/** Writes `text` to a temporary file beside `path`, then renames it over `path`. */
export async function writeFileAtomic(path: string, text: string, mode: number): Promise<void> {
  await mkdir(dirname(path), { recursive: true, mode: 0o755 });
  const tmp = `${path}.${randomBytes(6).toString('hex')}.tmp`;
  try {
    await writeFile(tmp, text, { mode, flag: 'wx' });
    await rename(tmp, path);
  } catch (cause) {
    await rm(tmp, { force: true });
    throw new LaunchplaneError('LP_INTERNAL', `Cannot write "${path}"`, { cause });
  }
}
