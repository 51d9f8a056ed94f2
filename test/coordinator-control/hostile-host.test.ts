/**
 * Attacks by a host that holds its real, enrolled key but lies, against a real coordinator and the
 * GitHub simulator (issue 12, items 1 and 5 and the low items):
 * - it refuses a create, then claims a hand-made runner as its lane's: `lane remove` must leave
 *   that runner untouched;
 * - it reports reserved and ungranted capabilities, and registers its runner with labels it was
 *   not given: no lane carries any of them, and the plan says which were ignored and why;
 * - it puts terminal control sequences in what it reports: no human CLI view prints them;
 * - its audit records claim another actor: they are stored under the host's identity.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { chainRecord, type LaneCreateCommand, type LaneReport } from '@launchplane/shared';
import { recordScenario } from '../reliability/bad-input/record.js';
import { waitFor } from '../testbed/wait-for.js';
import {
  idleInspect,
  reportOf,
  startLyingWorld,
  startRunner,
  type LyingWorld,
} from './lying-host.js';

interface SimRunner {
  id: number;
  name: string;
  status: string;
  runner_group_id: number;
  labels: { name: string }[];
}
interface Lane {
  laneId: string;
  pool: string;
  state: string;
  runnerId?: number;
  labels: string[];
  recovery?: string;
}

const POLICY = `version: 1
allowedHosts: [host-a]
allowedRepositories: [acme/api]
allowedOrganizations: [acme]
hosts:
  host-a: { capabilities: [gpu] }
pools:
  build:
    repository: acme/api
    labels: [linux]
    backend: systemd
    lanes: { host-a: 1 }
`;

let world: LyingWorld | undefined;
afterEach(async () => {
  await world?.close();
  world = undefined;
});

async function simRunners(w: LyingWorld, api = '/repos/acme/api'): Promise<SimRunner[]> {
  return (await w.simJson<{ runners: SimRunner[] }>('GET', `${api}/actions/runners`)).runners;
}

async function lanes(w: LyingWorld): Promise<Lane[]> {
  return (await w.cli(w.viewer, 'lanes', '--json')).json<{ lanes: Lane[] }>().lanes;
}

/**
 * Makes the host refuse every create with `message` (so the lane fails before GitHub names a
 * runner for it) and answer inspects of that lane as idle; returns the last create it refused.
 */
function refuseCreates(w: LyingWorld, message: string): () => LaneCreateCommand | undefined {
  let created: LaneCreateCommand | undefined;
  w.onCommand((cmd) => {
    if (cmd.type === 'lane.create') {
      created = cmd;
      return { ok: false, outcome: 'refused', error: { code: 'LP_BACKEND_FAILED', message } };
    }
    if (cmd.type === 'lane.inspect' && created !== undefined) return idleInspect(created);
    return undefined;
  });
  return () => created;
}

/** The requests the simulator served for an operation (every attempt). */
async function served(w: LyingWorld, op: string): Promise<number> {
  const counts = await w.simJson<Record<string, { total: number }>>('GET', '/_sim/requests');
  return counts[op]?.total ?? 0;
}

describe('a host that lies about runner ids', () => {
  it('cannot make the coordinator relabel or delete a hand-made runner: lane remove leaves it untouched', async () => {
    const w = (world = await startLyingWorld({ policy: POLICY }));
    // Runner 3, registered by hand in the lane's repository.
    for (const name of ['hand-made-1', 'hand-made-2', 'hand-made']) {
      await w.simJson('POST', '/_sim/runners', {
        repository: 'acme/api',
        name,
        labels: ['deploy-box'],
      });
    }
    const handMade = (await simRunners(w)).find((r) => r.name === 'hand-made')!;
    expect(handMade.id).toBe(3);

    // The host refuses the create: the lane fails before GitHub ever named a runner for it.
    const created = refuseCreates(w, 'Refused on purpose');
    const apply = await w.cli(w.operator, 'apply', '--wait');
    expect(apply.code).toBe(1);
    const [lane] = await lanes(w);
    expect(lane).toMatchObject({ state: 'failed' });
    expect(lane?.runnerId).toBeUndefined();
    expect(lane?.recovery).toContain(`launchplane lane remove ${lane!.laneId}`);

    // Now it claims runner 3 as that lane's, in its inventory and in a signed lane event.
    const claimed: LaneReport = reportOf(created()!, { state: 'failed', runnerId: handMade.id });
    w.inventory([claimed]);
    await w.event({ kind: 'lane', lane: claimed });
    expect((await lanes(w))[0]?.runnerId).toBeUndefined();
    const runners = (await w.cli(w.viewer, 'runners', '--json')).json<{
      runners: { runnerId: number; managed: boolean }[];
    }>().runners;
    expect(runners.find((r) => r.runnerId === handMade.id)).toMatchObject({ managed: false });

    // The command the hint tells operators to run.
    const removed = await w.cli(w.operator, 'lane', 'remove', lane!.laneId, '--wait');
    expect(removed.stderr).toBe('');
    expect(removed.code).toBe(0);
    expect((await w.harness.coordinator.store.getLane(lane!.laneId))?.state).toBe('removed');

    const after = (await simRunners(w)).find((r) => r.id === handMade.id);
    const relabels = await served(w, 'actions/set-custom-labels-for-self-hosted-runner-for-repo');
    const deletes = await served(w, 'actions/delete-self-hosted-runner-from-repo');
    const touched =
      relabels + deletes + (JSON.stringify(after) === JSON.stringify(handMade) ? 0 : 1);
    recordScenario({
      area: 'hostile-host',
      scenario: "claims a hand-made runner as its failed lane's, then the lane is removed",
      injected: '1 forged runner id, in an inventory and a signed lane event',
      survived: touched === 0,
      counts: { runnersTouchedWithoutProof: touched },
    });
    expect(after).toEqual(handMade);
    expect(relabels).toBe(0);
    expect(deletes).toBe(0);
  }, 60_000);
});

describe('a host that lies about its capabilities', () => {
  it('gets none of lp-pool-deploy, lp-draining or an ungranted capability on its lanes; the plan says why', async () => {
    const w = (world = await startLyingWorld({
      policy: POLICY,
      capabilities: ['gpu', 'lp-pool-deploy', 'lp-draining', 'fpga'],
    }));
    const plan = (await w.cli(w.viewer, 'plan', '--json')).json<{
      ignoredCapabilities: { hostId: string; capability: string; reason: string }[];
    }>();
    expect(plan.ignoredCapabilities.map((c) => [c.capability, c.reason])).toEqual([
      ['fpga', 'not-granted'],
      ['lp-draining', 'reserved'],
      ['lp-pool-deploy', 'reserved'],
    ]);
    const human = await w.cli(w.viewer, 'plan');
    expect(human.stdout).toContain('ignored host capabilities (never put on a lane)');
    expect(human.stdout).toMatch(
      /host-a\s+lp-pool-deploy\s+uses a prefix reserved for Launchplane/,
    );
    expect(human.stdout).toMatch(
      /host-a\s+fpga\s+not granted by the policy \(hosts\.host-a\.capabilities\)/,
    );

    // Its config.sh registers the runner with the labels it wants, not the ones it was given.
    w.onCommand(async (cmd) => {
      if (cmd.type === 'lane.create') {
        await startRunner(w.sim, cmd, [...cmd.labels, 'lp-pool-deploy', 'lp-draining', 'fpga']);
        return { lane: reportOf(cmd) };
      }
      return undefined;
    });
    const apply = await w.cli(w.operator, 'apply', '--wait');
    expect(apply.stderr).toBe('');
    expect(apply.code).toBe(0);
    const sent = w.commands.find((c): c is LaneCreateCommand => c.type === 'lane.create')!;
    const [lane] = await lanes(w);
    for (const labels of [sent.labels, lane!.labels]) {
      expect(labels).toContain('gpu');
      for (const bad of ['lp-pool-deploy', 'lp-draining', 'fpga'])
        expect(labels).not.toContain(bad);
    }
    // On GitHub the runner carries exactly the lane's canonical labels once it counts as made.
    const runner = (await simRunners(w)).find((r) => r.id === lane!.runnerId)!;
    expect(runner.labels.map((l) => l.name).sort()).toEqual([...lane!.labels].sort());
    const audit = await w.harness.api('GET', `/v1/audit?lane=${lane!.laneId}`);
    const create = (audit.body.records as { action: string; params: { steps: string[] } }[]).find(
      (r) => r.action === 'lane.create',
    );
    expect(create?.params.steps.join('\n')).toContain(
      'registered with labels it was not given (extra fpga,lp-draining,lp-pool-deploy; missing -)',
    );
  }, 60_000);
});

describe('a host that puts control characters in what it reports', () => {
  const HOSTILE = '\u001b]0;owned\u0007\u001b[2J\u009b31m\r\u202e';

  it('never reaches the terminal through a human view; JSON keeps the exact text, escaped', async () => {
    const version = `1.0${HOSTILE}`.slice(0, 64);
    const w = (world = await startLyingWorld({ policy: POLICY, agentVersion: version }));
    const created = refuseCreates(w, `Refused${HOSTILE}\nhint: forged`);
    const apply = await w.cli(w.operator, 'apply', '--wait');
    w.inventory([reportOf(created()!, { state: 'failed', recovery: `Recover${HOSTILE}` })]);
    const record = chainRecord(undefined, {
      seq: 1,
      at: w.harness.clock.now,
      actor: `agent${HOSTILE}`,
      hostId: w.hostId,
      action: 'lane.note',
      params: {},
      dryRun: false,
      outcome: 'ok' as const,
      message: `Note${HOSTILE}`,
    });
    await w.event({ kind: 'audit', record });
    await waitFor(
      async () => ((await lanes(w))[0]?.recovery?.startsWith('Recover') ? true : undefined),
      {
        timeoutMs: 5000,
        what: 'the reported recovery',
      },
    );

    // eslint-disable-next-line no-control-regex -- looking for control characters is the point
    const actionable = /[\u0000-\u0008\u000b-\u001f\u007f-\u009f\u202a-\u202e\u2066-\u2069]/;
    const views = [
      apply,
      await w.cli(w.viewer, 'hosts'),
      await w.cli(w.viewer, 'lanes'),
      await w.cli(w.viewer, 'plan'),
      await w.cli(w.viewer, 'audit'),
      await w.cli(w.operator, 'lane', 'remove', created()!.laneId, '--dry-run'),
    ];
    for (const v of views) {
      expect(v.stdout + v.stderr).not.toMatch(actionable);
    }
    expect(views[0]!.stderr).not.toMatch(/^hint: forged/m);
    expect(views[1]!.stdout).toContain('1.0]0;owned[2J31m');

    // JSON output stays exact: the value parses back byte for byte, escaped on the wire.
    const hosts = await w.cli(w.viewer, 'hosts', '--json');
    expect(hosts.stdout).not.toMatch(actionable);
    expect(hosts.stdout).toContain('\\u001b]0;owned\\u0007');
    expect(hosts.json<{ hosts: { agentVersion: string }[] }>().hosts[0]?.agentVersion).toBe(
      version,
    );
    const lanesJson = await w.cli(w.viewer, 'lanes', '--json');
    expect(lanesJson.stdout).not.toMatch(actionable);
    expect(lanesJson.json<{ lanes: Lane[] }>().lanes[0]?.recovery).toBe(`Recover${HOSTILE}`);
  }, 60_000);
});

describe("a host's audit records", () => {
  it('are stored under the authenticated host, whatever actor they claim', async () => {
    const w = (world = await startLyingWorld({ policy: POLICY }));
    const record = chainRecord(undefined, {
      seq: 1,
      at: w.harness.clock.now,
      actor: 'tok-admin',
      hostId: w.hostId,
      action: 'policy.apply',
      params: {},
      dryRun: false,
      outcome: 'ok' as const,
    });
    await w.event({ kind: 'audit', record });
    const audit = (await w.cli(w.viewer, 'audit', '--host', 'host-a', '--json')).json<{
      records: { actor: string; action: string; params: Record<string, unknown> }[];
    }>();
    const stored = audit.records.find((r) => r.action === 'policy.apply');
    expect(stored).toMatchObject({ actor: 'agent:host-a', params: { claimedActor: 'tok-admin' } });
    expect(audit.records.some((r) => r.actor === 'tok-admin')).toBe(false);
  }, 60_000);
});
