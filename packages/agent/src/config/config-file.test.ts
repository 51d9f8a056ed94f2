import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { LaunchplaneError } from '@launchplane/shared';
import {
  ConfigInvalidError,
  loadAgentConfig,
  renderConfigWithCoordinator,
  resolveConfigPath,
  writeCoordinatorSection,
} from './config-file.js';

const coordinator = {
  url: 'wss://coord.example/v1/agent',
  fingerprint: `SHA256:${'A'.repeat(43)}`,
  coordinatorId: 'coord-1',
};

describe('config file', () => {
  let dir: string;
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'lp-config-'));
  });
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('resolveConfigPath() prefers --config, then LAUNCHPLANE_AGENT_CONFIG, then the default', () => {
    expect(resolveConfigPath('/a.yaml', { LAUNCHPLANE_AGENT_CONFIG: '/b.yaml' })).toBe('/a.yaml');
    expect(resolveConfigPath(undefined, { LAUNCHPLANE_AGENT_CONFIG: '/b.yaml' })).toBe('/b.yaml');
    expect(resolveConfigPath(undefined, {})).toBe('/etc/launchplane/agent.yaml');
  });

  it('loadAgentConfig() reports every problem with its YAML path', async () => {
    const path = join(dir, 'agent.yaml');
    await writeFile(
      path,
      [
        'hostId: Host_A',
        'optIn:',
        '  backends: [podman]',
        '  maxLanes: -1',
        'surprise: 1',
        '',
      ].join('\n'),
    );
    const err = await loadAgentConfig(path).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ConfigInvalidError);
    const issues = (err as ConfigInvalidError).issues.map((i) => i.path);
    expect(issues).toEqual(
      expect.arrayContaining(['hostId', 'optIn.backends[0]', 'optIn.maxLanes']),
    );
    expect((err as ConfigInvalidError).code).toBe('LP_CONFIG_INVALID');
    expect((err as ConfigInvalidError).issues.length).toBeGreaterThanOrEqual(4);
  });

  it('loadAgentConfig() of a missing file is LP_NOT_FOUND with a hint to enroll', async () => {
    const err = await loadAgentConfig(join(dir, 'nope.yaml')).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(LaunchplaneError);
    expect((err as LaunchplaneError).code).toBe('LP_NOT_FOUND');
    expect((err as LaunchplaneError).recovery).toMatch(/enroll/);
  });

  it('writeCoordinatorSection() replaces only the coordinator section', async () => {
    const path = join(dir, 'agent.yaml');
    await writeFile(
      path,
      '# keep me\nhostId: host-a\ncoordinator: # old\n  url: wss://old.example/v1/agent\n  fingerprint: "SHA256:' +
        'C'.repeat(43) +
        '"\noptIn: { maxLanes: 1 } # consent\n',
    );
    await writeCoordinatorSection(path, { hostId: 'host-a', coordinator });
    const text = await readFile(path, 'utf8');
    expect(text).toContain('# keep me');
    expect(text).toContain('# consent');
    expect(text).not.toContain('old.example');
    const cfg = await loadAgentConfig(path);
    expect(cfg.coordinator).toEqual(coordinator);
    expect(cfg.optIn.maxLanes).toBe(1);
  });

  it('renderConfigWithCoordinator() never produces a config that does not load', () => {
    expect(() =>
      renderConfigWithCoordinator('hostId: host-a\ndataDir: relative/path\n', '/x.yaml', {
        hostId: 'host-a',
        coordinator,
      }),
    ).toThrow(ConfigInvalidError);
    expect(() =>
      renderConfigWithCoordinator('- a list\n', '/x.yaml', { hostId: 'host-a', coordinator }),
    ).toThrow(ConfigInvalidError);
  });
});
