/**
 * The create saga's rollback with real parts: the agent runs a runner template whose `run.sh`
 * dies at once, so no runner ever comes online on the simulator. The deadline must remove the
 * lane on the host, delete the registration by its id, mark the lane failed with a hint, and
 * plan no retry until an operator removes it.
 */
import { cp, writeFile, chmod } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { stubRunnerTemplateDir } from '@launchplane/github-sim';
import { describeWithSystemd } from '../testbed/require.js';
import { tempDir, type TempDir } from '../testbed/temp-dir.js';
import { startControlWorld, type ControlWorld } from './control-world.js';

interface Lane {
  laneId: string;
  pool: string;
  state: string;
  runnerId?: number;
  recovery?: string;
}

const POLICY = `version: 1
allowedHosts: [host-a]
allowedRepositories: [acme/api]
pools:
  build:
    repository: acme/api
    backend: systemd
    lanes: { host-a: 1 }
  eph:
    repository: acme/api
    backend: systemd
    ephemeral: true
    lanes: { host-a: 1 }
`;

describeWithSystemd('create rollback against the real agent and the simulator', (systemd) => {
  let world: ControlWorld;
  let template: TempDir;

  beforeAll(async () => {
    template = await tempDir({ base: systemd().laneRoot, prefix: 'broken-runner-' });
    await cp(stubRunnerTemplateDir(), template.path, { recursive: true });
    // config.sh still registers the runner; run.sh never brings it online.
    await writeFile(
      join(template.path, 'run.sh'),
      '#!/bin/sh\necho "broken on purpose" >&2\nexit 3\n',
    );
    await chmod(join(template.path, 'run.sh'), 0o755);
    world = await startControlWorld({
      systemd: systemd(),
      policy: POLICY,
      runnerTemplate: template.path,
      createOnlineSec: 6,
    });
  }, 120_000);

  afterAll(async () => {
    await world?.close();
    await template?.cleanup();
  });

  it('rolls back both lane kinds: nothing stays on the host or on GitHub, lanes failed with a hint', async () => {
    const r = await world.cli(world.operator, 'apply', '--wait', '--json');
    expect(r.code).toBe(1);
    const result = r.json<{
      reports: { actionId: string; ok: boolean; error?: { code: string } }[];
    }>();
    expect(result.reports.map((x) => [x.actionId, x.ok])).toEqual([
      ['create:host-a:build:1', false],
      ['create:host-a:eph:1', false],
    ]);
    expect(r.stderr).toMatch(/^error LP_\w+: create:host-a:build:1: /m);
    expect(r.stderr).toMatch(/^hint: .*launchplane lane remove/m);

    expect(await world.simRunners()).toEqual([]);
    const lanes = (await world.cli(world.viewer, 'lanes', '--json')).json<{ lanes: Lane[] }>()
      .lanes;
    expect(lanes.map((l) => [l.pool, l.state])).toEqual([
      ['build', 'failed'],
      ['eph', 'failed'],
    ]);
    for (const lane of lanes) {
      expect(lane.recovery).toContain(`launchplane lane remove ${lane.laneId}`);
      const unit = await world.userctl(
        'list-units',
        '--all',
        '--plain',
        '--no-legend',
        `launchplane-lane-${lane.laneId}.service`,
      );
      expect(unit.stdout.trim()).toBe('');
    }
    const audit = await world.harness.api('GET', `/v1/audit?lane=${lanes[0]!.laneId}`);
    const records = audit.body.records as { action: string; outcome: string; code?: string }[];
    expect(records.filter((x) => x.action === 'lane.create').at(-1)).toMatchObject({
      outcome: 'failed',
    });
    expect(JSON.stringify(audit.body)).not.toMatch(/registrationToken"\s*:\s*"(?!\[redacted\])/);
  }, 120_000);

  it('plans no retry of a failed lane until an operator removes it', async () => {
    const plan = (await world.cli(world.viewer, 'plan', '--json')).json<{
      actions: unknown[];
      degraded: string[];
    }>();
    expect(plan.actions).toEqual([]);
    expect(plan.degraded.filter((d) => d.includes('failed'))).toHaveLength(2);

    const lanes = (await world.cli(world.viewer, 'lanes', '--pool', 'build', '--json')).json<{
      lanes: Lane[];
    }>().lanes;
    const removed = await world.cli(world.operator, 'lane', 'remove', lanes[0]!.laneId, '--wait');
    expect(removed.stderr).toBe('');
    expect(removed.code).toBe(0);
    const after = (await world.cli(world.viewer, 'plan', '--json')).json<{
      actions: { id: string }[];
    }>();
    expect(after.actions.map((a) => a.id)).toEqual(['create:host-a:build:1']);
  }, 120_000);
});
