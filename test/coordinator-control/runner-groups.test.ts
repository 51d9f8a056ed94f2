/**
 * Runner groups and GitHub's runner statuses, end to end: a real coordinator with the real Octokit
 * client against the simulator, and a host that does what config.sh and run.sh would.
 */
import { afterEach, describe, expect, it } from 'vitest';
import type { LaneCreateCommand } from '@launchplane/shared';
import { reportOf, startLyingWorld, startRunner, type LyingWorld } from './lying-host.js';

interface SimRunner {
  id: number;
  name: string;
  status: string;
  runner_group_id: number;
}

const ORG_POLICY = (group: string): string => `version: 1
allowedHosts: [host-a]
allowedOrganizations: [acme]
pools:
  org:
    organization: acme
    backend: systemd
    runnerGroup: ${group}
    lanes: { host-a: 1 }
  org-eph:
    organization: acme
    backend: systemd
    ephemeral: true
    runnerGroup: ${group}
    lanes: { host-a: 1 }
`;

let world: LyingWorld | undefined;
afterEach(async () => {
  await world?.close();
  world = undefined;
});

/** A host that does what it is told: registers and starts the runner of every create. */
function honest(w: LyingWorld): void {
  w.onCommand(async (cmd) => {
    if (cmd.type !== 'lane.create') return undefined;
    await startRunner(w.sim, cmd);
    return { lane: reportOf(cmd) };
  });
}

describe('runner groups', () => {
  it('a pool that names its group gets JIT lanes and config.sh lanes into it', async () => {
    const w = (world = await startLyingWorld({ policy: ORG_POLICY('Deploy') }));
    const group = await w.simJson<{ id: number }>('POST', '/_sim/runner-groups', {
      organization: 'acme',
      name: 'deploy',
    });
    honest(w);
    const apply = await w.cli(w.operator, 'apply', '--wait');
    expect(apply.stderr).toBe('');
    expect(apply.code).toBe(0);
    const creates = w.commands.filter((c): c is LaneCreateCommand => c.type === 'lane.create');
    const persistent = creates.find((c) => !c.ephemeral);
    // config.sh gets the group as GitHub names it (matched without regard to case).
    expect(persistent?.runner).toMatchObject({ runnerGroup: 'deploy' });
    const runners = (await w.simJson<{ runners: SimRunner[] }>('GET', '/orgs/acme/actions/runners'))
      .runners;
    expect(runners).toHaveLength(2);
    for (const r of runners) expect(r.runner_group_id).toBe(group.id);
  }, 60_000);

  it('refuses a group the organization does not have, before anything is made', async () => {
    const w = (world = await startLyingWorld({ policy: ORG_POLICY('nowhere') }));
    honest(w);
    const apply = await w.cli(w.operator, 'apply', '--wait');
    expect(apply.code).toBe(1);
    expect(apply.stderr).toContain(
      'error LP_NOT_FOUND: create:host-a:org-eph:1: Cannot create a lane of pool "org-eph": organization "acme" has no runner group "nowhere"',
    );
    expect(w.commands).toEqual([]);
    expect(await w.harness.coordinator.store.listLanes()).toEqual([]);
    const runners = await w.simJson<{ total_count: number }>('GET', '/orgs/acme/actions/runners');
    expect(runners.total_count).toBe(0);
  }, 60_000);
});

describe('runner statuses GitHub may send', () => {
  it('an unknown status reads as offline and never breaks a listing, a plan or a lane view', async () => {
    const w = (world = await startLyingWorld({
      policy: `version: 1
allowedHosts: [host-a]
allowedRepositories: [acme/api]
pools:
  build:
    repository: acme/api
    backend: systemd
    lanes: { host-a: 1 }
`,
    }));
    honest(w);
    expect((await w.cli(w.operator, 'apply', '--wait')).code).toBe(0);
    const [runner] = (
      await w.simJson<{ runners: SimRunner[] }>('GET', '/repos/acme/api/actions/runners')
    ).runners;
    await w.simJson('PUT', `/_sim/runners/${runner!.id}/status`, { status: 'maintenance' });

    const runners = await w.cli(w.viewer, 'runners', '--json');
    expect(runners.code).toBe(0);
    expect(
      runners.json<{ runners: { runnerId: number; status: string; githubStatus?: string }[] }>()
        .runners[0],
    ).toMatchObject({ runnerId: runner!.id, status: 'offline', githubStatus: 'maintenance' });
    expect((await w.cli(w.viewer, 'runners')).stdout).toContain('offline (GitHub: maintenance)');
    const lanes = (await w.cli(w.viewer, 'lanes', '--json')).json<{
      lanes: { github: { status: string } | null }[];
    }>().lanes;
    expect(lanes[0]?.github?.status).toBe('offline');
    const plan = await w.cli(w.viewer, 'plan', '--json');
    expect(plan.code).toBe(0);
    expect(plan.json<{ degraded: string[] }>().degraded.join('\n')).not.toContain(
      'could not be listed',
    );
  }, 60_000);
});
