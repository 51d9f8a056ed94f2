import { spawn } from 'node:child_process';
import { access } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import Docker from 'dockerode';
import type { GitHubSim } from '@launchplane/github-sim';
import { exportPrivateKeyPem, exportPublicJwk } from '@launchplane/shared';
import { afterAll, beforeAll, expect, it } from 'vitest';

import { AgentCore } from '../../packages/agent/src/agent-core.js';
import { DbusUnitManager } from '../../packages/agent/src/adapters/systemd/dbus-unit-manager.js';
import { DockerContainerRuntime } from '../../packages/agent/src/adapters/docker/docker-container-runtime.js';
import type { UnitManager } from '../../packages/agent/src/ports/unit-manager.js';
import type { ContainerRuntime } from '../../packages/agent/src/ports/container-runtime.js';
import {
  buildScratchImage,
  describeWithDocker,
  describeWithSystemd,
  tempDir,
  testLaneUsers,
  type TempDir,
} from '../testbed/index.js';
import { OwnedLanes } from '../testbed/owned-lanes.js';
import {
  RUNNER_IMAGE,
  agentFixture,
  expectLedgerMatchesReality,
  jitCreate,
  persistentCreate,
  startSim,
  type AgentFixture,
} from './agent-fixture.js';

const CHILD = fileURLToPath(new URL('./crash-child.mjs', import.meta.url));
const CREATE_STEPS = [
  'create:record',
  'create:layout',
  'create:configure',
  'create:install',
  'create:start',
];
const REMOVE_STEPS = ['remove:record', 'remove:stop', 'remove:uninstall', 'remove:delete-dir'];
const TAG = RUNNER_IMAGE.tag;

interface Backends {
  kind: 'systemd' | 'docker';
  units?: UnitManager;
  containers?: ContainerRuntime;
  child: Record<string, string>;
  objects(): Promise<string[]>;
}

/** Runs the built core in a child that SIGKILLs itself after `crashAt`; resolves with its exit signal. */
function runChild(
  f: AgentFixture,
  b: Backends,
  commands: string[],
  crashAt: string,
): Promise<string | number | null> {
  const input = {
    config: f.config,
    hostKeyPem: exportPrivateKeyPem(f.keys.host.privateKey),
    coordinatorJwk: exportPublicJwk(f.keys.coordinator.publicKey),
    fingerprint: f.deps({}).coordinatorFingerprint,
    backend: b.kind,
    commands,
    ...b.child,
  };
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [CHILD], {
      env: {
        ...process.env,
        LP_CRASH_CHILD: JSON.stringify(input),
        LAUNCHPLANE_AGENT_CRASH_AT: crashAt,
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let err = '';
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    child.once('error', reject);
    child.once('exit', (code, signal) => {
      if (signal === null && code !== 0)
        reject(new Error(`crash child exited ${code}: ${err.slice(-2000)}`));
      else resolve(signal ?? code);
    });
  });
}

function sweep(
  b: () => Backends,
  work: () => TempDir,
  sim: () => GitHubSim,
  image: () => { image: string } | undefined,
): void {
  for (const step of CREATE_STEPS) {
    it(`SIGKILL after ${step}, then restart: no orphan, no duplicate, ledger matches reality`, async () => {
      const be = b();
      const f = agentFixture(join(work().path, `create-${step.replace(':', '-')}`));
      const cmd = await persistentCreate(sim(), be.kind, image());
      expect(await runChild(f, be, [f.sign(cmd)], step)).toBe('SIGKILL');
      const core = await AgentCore.create(
        f.deps({
          ...(be.units ? { units: be.units } : {}),
          ...(be.containers ? { containers: be.containers } : {}),
        }),
      );
      try {
        expect(core.recovered.map((r) => r.laneId)).toEqual([cmd.laneId]);
        expect(core.ledger.lanes.all().map((l) => l.laneId)).toEqual([cmd.laneId]);
        const lane = core.ledger.lanes.get(cmd.laneId);
        expect(lane?.state).toBe(
          step === 'create:record' ? 'removed' : step === 'create:start' ? 'starting' : 'failed',
        );
        await expectLedgerMatchesReality(core, await be.objects(), f.config.dataDir);
        if (lane?.state !== 'removed') {
          expect(
            (
              await f.send(core, {
                type: 'lane.remove',
                laneId: cmd.laneId,
                dryRun: false,
                force: true,
              })
            ).ok,
          ).toBe(true);
        }
        await expectLedgerMatchesReality(core, await be.objects(), f.config.dataDir);
        expect(await be.objects()).toEqual([]);
        // Whatever step the crash hit, the lane's user did not outlive the lane.
        expect((await testLaneUsers()).map((u) => u.name)).not.toContain(`lp-${cmd.laneId}`);
      } finally {
        await core.stop();
      }
    });
  }
  for (const step of REMOVE_STEPS) {
    it(`SIGKILL after ${step}, then restart: the remove is finished`, async () => {
      const be = b();
      const f = agentFixture(join(work().path, `remove-${step.replace(':', '-')}`));
      const deps = f.deps({
        ...(be.units ? { units: be.units } : {}),
        ...(be.containers ? { containers: be.containers } : {}),
      });
      const cmd = await jitCreate(sim(), be.kind, image());
      let core = await AgentCore.create(deps);
      expect((await f.send(core, cmd)).ok).toBe(true);
      await core.stop();
      expect(
        await runChild(
          f,
          be,
          [f.sign({ type: 'lane.remove', laneId: cmd.laneId, dryRun: false, force: true })],
          step,
        ),
      ).toBe('SIGKILL');
      core = await AgentCore.create(deps);
      try {
        expect(core.recovered).toEqual([
          { laneId: cmd.laneId, action: 'finish-remove', from: 'stopping', to: 'removed' },
        ]);
        expect(core.ledger.lanes.get(cmd.laneId)?.state).toBe('removed');
        await expect(access(join(f.config.dataDir, 'lanes', cmd.laneId))).rejects.toThrow();
        expect(await be.objects()).toEqual([]);
        await expectLedgerMatchesReality(core, await be.objects(), f.config.dataDir);
        expect((await testLaneUsers()).map((u) => u.name)).not.toContain(`lp-${cmd.laneId}`);
      } finally {
        await core.stop();
      }
    });
  }
}

let sim: GitHubSim;
beforeAll(async () => {
  sim = await startSim();
});
afterAll(async () => {
  await sim?.close();
});

describeWithSystemd(
  'crash sweep on systemd: the agent process is SIGKILLed after each step',
  (systemd) => {
    let units: DbusUnitManager;
    let work: TempDir;
    // The systemd manager is shared by every suite of the run, some running at the same time:
    // only units whose lane dir is under this suite's dir are its to judge or to clean up.
    let owned: OwnedLanes | undefined;
    const ours = async (): Promise<string[]> => (await owned?.names()) ?? [];
    beforeAll(async () => {
      const sd = systemd();
      units = await DbusUnitManager.create({
        bus: 'user',
        unitDir: sd.unitDir,
        busAddress: sd.env.DBUS_SESSION_BUS_ADDRESS,
      });
      work = await tempDir({ base: sd.laneRoot, prefix: 'crash-', laneUsers: true });
      owned = new OwnedLanes(work.path, { kind: 'systemd', systemd: sd });
    });
    afterAll(async () => {
      if (units !== undefined) {
        for (const name of await ours().catch(() => []))
          await units.removeUnit(name).catch(() => undefined);
        await units.close();
      }
      await work?.cleanup();
    });
    sweep(
      () => ({
        kind: 'systemd',
        units,
        child: { unitDir: systemd().unitDir, busAddress: systemd().env.DBUS_SESSION_BUS_ADDRESS },
        objects: ours,
      }),
      () => work,
      () => sim,
      () => undefined,
    );
  },
);

describeWithDocker(
  'crash sweep on Docker: the agent process is SIGKILLed after each step',
  (dockerInfo) => {
    let runtime: DockerContainerRuntime;
    let work: TempDir;
    // The dockerd is shared by every suite of the run (see the systemd sweep above).
    let owned: OwnedLanes | undefined;
    const ours = async (): Promise<string[]> => (await owned?.names()) ?? [];
    beforeAll(async () => {
      runtime = new DockerContainerRuntime({
        socketPath: dockerInfo().socketPath,
        stopTimeoutSec: 10,
      });
      await buildScratchImage(new Docker({ socketPath: dockerInfo().socketPath }), RUNNER_IMAGE);
      work = await tempDir({ prefix: 'lp-crash-docker-', laneUsers: true });
      owned = new OwnedLanes(work.path, {
        kind: 'docker',
        docker: new Docker({ socketPath: dockerInfo().socketPath }),
      });
    });
    afterAll(async () => {
      if (runtime !== undefined) {
        for (const name of await ours().catch(() => []))
          await runtime.remove(name, { force: true }).catch(() => undefined);
      }
      await work?.cleanup();
    });
    sweep(
      () => ({
        kind: 'docker',
        containers: runtime,
        child: { socketPath: dockerInfo().socketPath },
        objects: ours,
      }),
      () => work,
      () => sim,
      () => ({ image: TAG }),
    );
  },
);
