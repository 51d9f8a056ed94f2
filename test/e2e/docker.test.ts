/**
 * The acceptance suite on the Docker backend: lanes are containers of the testbed's private
 * dockerd. Criterion 7c stops a dockerd of its own (never the shared one). Skips locally without
 * Docker; fails under CI=true.
 */
import { expect, it } from 'vitest';

import { describeWithDocker } from '../testbed/require.js';
import { startDockerd } from '../testbed/dockerd.js';
import { acceptanceSuite } from './acceptance.js';
import { REPO } from './world.js';

describeWithDocker('acceptance on Docker', (docker) => {
  const suite = acceptanceSuite('docker', () => ({ docker: docker() }));

  it('7c. Docker down: create is refused with LP_BACKEND_UNAVAILABLE and a hint, nothing half-made', async () => {
    const w = suite.world();
    // A dockerd of this test's own: stopping the shared one would break every other suite.
    const own = await startDockerd();
    w.adopt(() => own.stop());
    await w.addAgent({
      hostId: 'host-e',
      optIn: { repositories: [REPO], backends: ['docker'], maxLanes: 2 },
      dockerSocket: own.socketPath,
    });
    await own.stop();
    await w.applyPolicy({
      allowedHosts: ['host-a', 'host-d', 'host-e'],
      allowedRepositories: [REPO],
      pools: {
        build: { labels: ['linux'], lanes: { 'host-a': 1 } },
        // 7b's lane stays wanted, so this apply only tries host-e.
        slow: { lanes: { 'host-d': 1 } },
        dk: { lanes: { 'host-e': 1 } },
      },
    });
    const runnersBefore = (await w.simRunners()).map((r) => r.id).sort();
    const objectsBefore = await w.ownObjects();
    const r = await w.cli(w.operator, 'apply', '--wait', '--json');
    expect(r.code, r.stderr).toBe(1);
    expect(r.stderr).toMatch(/^error LP_BACKEND_UNAVAILABLE: /m);
    expect(r.stderr).toMatch(/^hint: /m);
    // Nothing half-made: no registration on GitHub, no container, no live lane on host-e.
    expect((await w.simRunners()).map((x) => x.id).sort()).toEqual(runnersBefore);
    expect(await w.ownObjects()).toEqual(objectsBefore);
    const onE = await w.lanes('--host', 'host-e');
    expect(onE.filter((l) => l.state !== 'failed')).toEqual([]);
    for (const l of onE) expect(l.recovery).toBeDefined();
    const records = await w.audit('--host', 'host-e');
    const refusal = records.find((x) => x.code === 'LP_BACKEND_UNAVAILABLE');
    expect(refusal).toBeDefined();
    expect(['failed', 'refused']).toContain(refusal!.outcome);
    expect(refusal!.recovery).toEqual(expect.any(String));
  }, 180_000);
});
