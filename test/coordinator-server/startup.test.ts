import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Route } from '@launchplane/coordinator';
import { startHarness } from './harness.js';

let dir: string;
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'lp-start-'));
});
afterAll(() => {
  rmSync(dir, { recursive: true, force: true });
});

describe('coordinator start', () => {
  it('loads policyFile at start as a version by "coordinator"', async () => {
    const file = join(dir, 'policy.yaml');
    writeFileSync(file, 'version: 1\nallowedHosts: [host-a]\nallowedRepositories: []\npools: {}\n');
    const h = await startHarness({ yaml: `policyFile: ${file}\n` });
    try {
      const p = await h.coordinator.store.currentPolicy();
      expect(p).toMatchObject({ version: 1, actor: 'coordinator' });
      expect(p?.digest).toMatch(/^sha256:[0-9a-f]{64}$/);
    } finally {
      await h.close();
    }
  });

  it('an invalid policyFile stops the start with LP_POLICY_INVALID', async () => {
    const file = join(dir, 'bad.yaml');
    writeFileSync(file, 'version: 2\n');
    await expect(startHarness({ yaml: `policyFile: ${file}\n` })).rejects.toMatchObject({
      code: 'LP_POLICY_INVALID',
    });
  });

  it('a route that shadows a mounted one is refused at start', async () => {
    const dup: Route = {
      method: 'GET',
      path: '/v1/hosts',
      role: 'viewer',
      handler: () => Promise.resolve({ status: 200, body: {} }),
    };
    await expect(startHarness({ routes: [() => [dup]] })).rejects.toThrow(/already mounted/);
  });
});
