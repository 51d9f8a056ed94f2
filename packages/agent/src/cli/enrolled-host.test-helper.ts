/**
 * Test fixture: an enrolled host in a temporary directory (config, host key, pinned coordinator
 * key), without any network. Shared by the CLI and daemon tests.
 */
import { generateKeyPairSync } from 'node:crypto';
import type { KeyObject } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { exportPublicJwk, fingerprint } from '@launchplane/shared';
import { writeCoordinatorKey } from '../keys/coordinator-key.js';
import { ensureHostKey } from '../keys/host-key.js';
import type { CliIo } from './output.js';

/** A host enrolled on disk. */
export interface EnrolledHostFixture {
  dir: string;
  configPath: string;
  dataDir: string;
  hostId: string;
  coordinatorId: string;
  coordinatorPrivate: KeyObject;
  coordinatorPublic: KeyObject;
  hostPublic: KeyObject;
  /** Rewrites the config with extra top-level YAML lines. */
  writeConfig(extra?: string): Promise<void>;
  cleanup(): Promise<void>;
}

/** Creates an enrolled host whose coordinator is expected at `url`. */
export async function enrolledHost(
  url = 'ws://127.0.0.1:9/v1/agent',
  extra = '',
): Promise<EnrolledHostFixture> {
  const dir = await mkdtemp(join(tmpdir(), 'lp-agent-cli-'));
  const dataDir = join(dir, 'data');
  const configPath = join(dir, 'agent.yaml');
  const coordinator = generateKeyPairSync('ed25519');
  const host = await ensureHostKey(dataDir, 'host-a');
  await writeCoordinatorKey(dataDir, exportPublicJwk(coordinator.publicKey));
  const fixture: EnrolledHostFixture = {
    dir,
    configPath,
    dataDir,
    hostId: 'host-a',
    coordinatorId: 'coord-1',
    coordinatorPrivate: coordinator.privateKey,
    coordinatorPublic: coordinator.publicKey,
    hostPublic: host.publicKey,
    writeConfig: async (more = extra) => {
      await writeFile(
        configPath,
        [
          '# test host',
          'hostId: host-a',
          `dataDir: ${dataDir}`,
          'coordinator:',
          `  url: ${url}`,
          `  fingerprint: "${fingerprint(coordinator.publicKey)}"`,
          '  coordinatorId: coord-1',
          more,
          '',
        ].join('\n'),
      );
    },
    cleanup: () => rm(dir, { recursive: true, force: true }),
  };
  await fixture.writeConfig();
  return fixture;
}

/** A CliIo that records what was written. */
export function captureIo(): CliIo & { out: () => string; err: () => string } {
  let out = '';
  let err = '';
  return {
    stdout: (t) => (out += t),
    stderr: (t) => (err += t),
    out: () => out,
    err: () => err,
  };
}
