/**
 * A host whose health loop is wedged still answers heartbeats; the coordinator must not take it
 * for healthy. Here the agent's Docker daemon (a dockerd of this test's own) is frozen with
 * SIGSTOP, so the agent's next health pass hangs in a Docker call. Through the real binaries:
 *
 * - first, a lane runs on Docker's default bridge network, reaching the simulator at the bridge's
 *   gateway address (the bridge default, end to end);
 * - once no pass has finished for a few intervals, `launchplane hosts` shows the host degraded,
 *   with why, and the plan makes no lane on it (guardrail `host-degraded`);
 * - SIGTERM still stops the agent, within its `shutdownTimeoutSec` (it exits 1 and says so);
 * - with the daemon thawed and the agent started again, the host is healthy and planned again.
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';

import { startDockerd, type PrivateDockerd } from '../testbed/dockerd.js';
import { recordScenario } from '../reliability/bad-input/record.js';
import { describeWithDocker } from '../testbed/require.js';
import { waitFor } from '../testbed/wait-for.js';
import { REPO, startWorld, type AgentHandle, type World } from './world.js';

interface HostRow {
  hostId: string;
  connected: boolean;
  health: { lastPassAt: number | null; degraded: boolean; message: string | null } | null;
}

describeWithDocker('a wedged health loop shows as a degraded host', () => {
  let own: PrivateDockerd | undefined;
  let world: World | undefined;
  let agent: AgentHandle;
  let frozen = false;

  beforeAll(async () => {
    // A dockerd of this test's own: freezing the shared one would stall every other suite.
    own = await startDockerd();
    world = await startWorld({ backend: 'docker', docker: own });
    agent = await world.addAgent({
      hostId: 'host-w',
      optIn: { repositories: [REPO], backends: ['docker'], maxLanes: 2 },
      shutdownTimeoutSec: 5,
    });
  }, 240_000);

  afterAll(async () => {
    if (frozen && own !== undefined) process.kill(own.pid, 'SIGCONT');
    await world?.close();
    await own?.stop();
  }, 120_000);

  /** host-w as `launchplane hosts --json` shows it; polled over HTTP, as plumbing. */
  const hostW = async (): Promise<HostRow | undefined> =>
    (await world!.api<{ hosts: HostRow[] }>('/v1/hosts')).hosts.find((h) => h.hostId === 'host-w');

  it('runs a lane on the bridge, then shows the host degraded, blocks creates, and still stops on SIGTERM', async () => {
    const w = world!;
    expect(own?.bridge).toBeDefined();
    expect(w.sim.url).toContain(own!.bridge!.gateway);
    await w.applyPolicy({
      allowedHosts: ['host-w'],
      allowedRepositories: [REPO],
      pools: { dk: { lanes: { 'host-w': 1 } } },
    });
    const apply = await w.cli(w.operator, 'apply', '--wait', '--json');
    expect(apply.code, apply.stderr).toBe(0);
    const [lane] = await w.lanes('--host', 'host-w');
    expect(lane?.state).toBe('online');
    const container = await w.docker().getContainer(`launchplane-lane-${lane!.laneId}`).inspect();
    expect(container.HostConfig.NetworkMode).toBe('bridge');
    expect(container.HostConfig.CapDrop).toEqual(['ALL']);
    const healthy = await hostW();
    expect(healthy?.health).toMatchObject({ degraded: false });

    // Freeze the agent's Docker daemon: the next health pass hangs in a Docker call.
    process.kill(own!.pid, 'SIGSTOP');
    frozen = true;
    const degraded = await waitFor(
      async () => {
        const h = await hostW();
        return h?.connected === true && h.health?.degraded === true ? h : undefined;
      },
      { timeoutMs: 90_000, intervalMs: 250, what: 'host-w to show degraded' },
    );
    expect(degraded.health?.message).toMatch(
      /^Host "host-w" has finished no health pass for \d+s \(interval 2s\): its agent may be wedged$/,
    );
    const table = await w.cli(w.viewer, 'hosts');
    expect(table.stdout).toMatch(/^host-w\s+degraded\s/m);
    expect(table.stdout).toContain('degraded host-w: Host "host-w" has finished no health pass');

    // The plan makes no lane on it while it is degraded, and says why.
    await w.applyPolicy({
      allowedHosts: ['host-w'],
      allowedRepositories: [REPO],
      pools: { dk: { lanes: { 'host-w': 2 } } },
    });
    const plan = await w.query(w.viewer, 'plan', '--json');
    expect(plan.code, plan.stderr).toBe(0);
    const doc = plan.json<{
      actions: { kind: string; hostId?: string }[];
      blocked: { hostId: string; guardrail: string; message: string }[];
    }>();
    expect(doc.actions.filter((a) => a.kind === 'create')).toEqual([]);
    expect(doc.blocked).toContainEqual(
      expect.objectContaining({ hostId: 'host-w', guardrail: 'host-degraded' }),
    );

    // SIGTERM still stops it: its stop hangs on the same pass, and it exits after shutdownTimeoutSec.
    const daemon = agent.daemon();
    process.kill(daemon.pid, 'SIGTERM');
    const exited = await daemon.exited;
    const createsOnWedged = doc.actions.filter((a) => a.kind === 'create').length;
    recordScenario({
      area: 'hostile-host',
      scenario: "its agent wedges in a frozen Docker daemon's call mid health pass",
      injected: '1 agent wedged by SIGSTOP of its dockerd',
      survived: exited === 1 && createsOnWedged === 0,
      // Wedged for good: shown degraded (else the waitFor above failed), yet not stoppable.
      counts: { agentsWedged: exited === 1 ? 0 : 1, lanesCreatedOnWedgedHost: createsOnWedged },
    });
    expect(exited).toBe(1);
    const log = await readFile(join(agent.dataDir, '..', 'agent.log'), 'utf8');
    expect(log).toContain('The agent did not stop within shutdownTimeoutSec; exiting anyway');

    // Thawed and started again: healthy, and planned again.
    process.kill(own!.pid, 'SIGCONT');
    frozen = false;
    await agent.start();
    await waitFor(
      async () => {
        const h = await hostW();
        return h?.health?.lastPassAt !== null && h?.health?.degraded === false;
      },
      { timeoutMs: 60_000, intervalMs: 250, what: 'host-w healthy again' },
    );
    const again = (await w.query(w.viewer, 'plan', '--json')).json<{
      actions: { kind: string; hostId?: string }[];
    }>();
    expect(again.actions).toContainEqual(
      expect.objectContaining({ kind: 'create', hostId: 'host-w' }),
    );
  }, 300_000);
});
