/**
 * A job on a Docker lane stays in its container: a real lane (stub runner, the stand-in for the
 * official image, user 1001, the container exactly as the agent makes it: the default bridge
 * network, no capability, `no-new-privileges`) runs a job whose job-started hook (a step of the
 * job, run by the runner's worker in the container) attacks: read the agent's host key and
 * ledger, reach the Docker socket, and reach a service listening on the host's loopback. Each
 * attempt must fail (the same probe reaches the bridge's gateway, where the simulator listens,
 * as a control), and the job must hold no capability, not even in its bounding set (so
 * neither root nor a setuid binary in the image would get one).
 */
import { createServer, type Server } from 'node:net';
import { lchown, lstat, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import Docker from 'dockerode';
import type { GitHubSim } from '@launchplane/github-sim';
import { containerName } from '@launchplane/shared';
import { afterAll, beforeAll, expect, it } from 'vitest';

import { AgentCore } from '../../packages/agent/src/agent-core.js';
import { DockerContainerRuntime } from '../../packages/agent/src/adapters/docker/docker-container-runtime.js';
import { LANE_FILES } from '../../packages/agent/src/lanes/lane-layout.js';
import { recordJobAttack } from '../reliability/bad-input/record.js';
import {
  buildScratchImage,
  describeWithDocker,
  tempDir,
  waitFor,
  type TempDir,
} from '../testbed/index.js';
import {
  agentFixture,
  enqueueJob,
  jitCreate,
  removeLane,
  startSim,
  waitForJob,
  waitForRunner,
  RUNNER_IMAGE,
  type AgentFixture,
} from './agent-fixture.js';

/** The attack, as the job's hook runs it: one `name=blocked|escaped` line per attempt. */
function attackScript(o: { data: string; loopbackPort: number; gateway: string }): string {
  return `#!/bin/sh
out="\${0%/*}/../state/attack.out"
try() {
  name=$1; shift
  if "$@" >/dev/null 2>&1; then echo "$name=escaped" >> "$out"; else echo "$name=blocked" >> "$out"; fi
}
try read-host-key cat "${o.data}/private/host.key"
try read-ledger cat "${o.data}/private/ledger.db"
try docker-socket test -e /var/run/docker.sock
try host-loopback timeout 5 bash -c 'exec 3<>/dev/tcp/127.0.0.1/${o.loopbackPort}'
try bridge-gateway timeout 5 bash -c 'exec 3<>/dev/tcp/${o.gateway}'
grep -E '^(CapBnd|CapEff|CapPrm|CapAmb|NoNewPrivs):' /proc/self/status >> "$out"
echo "uid=$(id -u)" >> "$out"
echo done >> "$out"
`;
}

describeWithDocker(
  'a job on a docker lane stays in its container (real container, real job)',
  (dockerInfo) => {
    let sim: GitHubSim | undefined;
    let work: TempDir | undefined;
    let f: AgentFixture;
    let core: AgentCore | undefined;
    let loopback: Server | undefined;
    let port = 0;
    const touched: string[] = [];

    beforeAll(async () => {
      const info = dockerInfo();
      if (info.bridge === undefined) throw new Error('the testbed dockerd has no bridge');
      sim = await startSim({ host: info.bridge.gateway });
      const docker = new Docker({ socketPath: info.socketPath });
      await buildScratchImage(docker, RUNNER_IMAGE);
      work = await tempDir({ prefix: 'lp-escape-docker-', laneUsers: true });
      f = agentFixture(join(work.path, 'data'));
      core = await AgentCore.create(
        f.deps({
          containers: new DockerContainerRuntime({
            socketPath: info.socketPath,
            stopTimeoutSec: 30,
          }),
        }),
      );
      // A service on the host's loopback, which a job on the host network could reach.
      loopback = createServer((s) => {
        touched.push('connected');
        s.destroy();
      });
      await new Promise<void>((resolve) => loopback!.listen(0, '127.0.0.1', resolve));
      port = (loopback.address() as { port: number }).port;
    }, 240_000);

    afterAll(async () => {
      for (const lane of core?.listLanes() ?? []) await removeLane(f, core!, lane.laneId, true);
      await core?.stop();
      await new Promise((resolve) => loopback?.close(resolve) ?? resolve(undefined));
      await sim?.close();
      await work?.cleanup();
    }, 120_000);

    it('every attempt of the job fails, and the job holds no capability', async () => {
      const cmd = await jitCreate(sim!, 'docker', { image: RUNNER_IMAGE.tag, network: 'bridge' });
      expect((await f.send(core!, cmd)).error).toBeUndefined();
      const container = await new Docker({ socketPath: dockerInfo().socketPath })
        .getContainer(containerName(cmd.laneId))
        .inspect();
      expect(container.HostConfig.NetworkMode).toBe('bridge');
      expect(container.HostConfig.CapDrop).toEqual(['ALL']);
      expect(container.HostConfig.SecurityOpt).toEqual(['no-new-privileges:true']);

      // The job's code: what a workflow step would run (the hook is a step of the job).
      const dir = join(f.config.dataDir, 'lanes', cmd.laneId);
      const hook = join(dir, LANE_FILES.jobStartedHook);
      const owner = await lstat(dir);
      const simUrl = new URL(sim!.url);
      const gateway = `${simUrl.hostname}/${simUrl.port}`;
      await writeFile(hook, attackScript({ data: f.config.dataDir, loopbackPort: port, gateway }), {
        mode: 0o755,
      });
      await lchown(hook, owner.uid, owner.gid);
      await waitForRunner(sim!, cmd.runnerId ?? 0, 'online');
      const job = await enqueueJob(sim!, 500, { labels: [`lp-lane-${cmd.laneId}`] });
      await waitForJob(sim!, job, 'completed');
      const out = await waitFor(
        async () => {
          const text = await readFile(
            join(dir, '_launchplane', 'state', 'attack.out'),
            'utf8',
          ).catch(() => '');
          return text.includes('done\n') ? text : undefined;
        },
        { timeoutMs: 30_000, intervalMs: 200, what: 'the attack to finish' },
      );
      process.stderr.write(`[lane-escape-docker] the job saw:\n${out}`);
      const result = Object.fromEntries(
        out
          .trim()
          .split('\n')
          .map((l) => l.split(/=|:\s*/) as [string, string]),
      );
      recordJobAttack('a job on a Docker lane attacks the host', result, {
        hostKeys: ['read-host-key', 'read-ledger'],
        acrossLanes: [],
        host: ['docker-socket', 'host-loopback'],
      });
      for (const attempt of ['read-host-key', 'read-ledger', 'docker-socket', 'host-loopback']) {
        expect(result[attempt], attempt).toBe('blocked');
      }
      expect(touched).toEqual([]);
      // The control: the same probe does connect where the bridge lets it (the simulator, on the
      // bridge's gateway; see docs/security.md: the network is not defended beyond this).
      expect(result['bridge-gateway']).toBe('escaped');
      expect(result['uid']).toBe('1001');
      for (const set of ['CapBnd', 'CapEff', 'CapPrm', 'CapAmb']) {
        expect(result[set], set).toBe('0000000000000000');
      }
      expect(result['NoNewPrivs']).toBe('1');
    }, 240_000);
  },
);
