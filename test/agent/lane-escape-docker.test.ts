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
import { containerName } from '@launchplane/shared';
import { afterAll, beforeAll, expect, it } from 'vitest';

import { recordJobAttack } from '../reliability/bad-input/record.js';
import { describeWithDocker } from '../testbed/index.js';
import { jitCreate, RUNNER_IMAGE } from './agent-fixture.js';
import { attackScript, dockerLaneWorld, runAttackJob, statusLines } from './lane-world.js';

/** The attack, as the job's hook runs it: one `name=blocked|escaped` line per attempt. */
function attack(o: { data: string; loopbackPort: number; gateway: string }): string {
  return attackScript(
    [
      `read-host-key cat "${o.data}/private/host.key"`,
      `read-ledger cat "${o.data}/private/ledger.db"`,
      'docker-socket test -e /var/run/docker.sock',
      `host-loopback timeout 5 bash -c 'exec 3<>/dev/tcp/127.0.0.1/${o.loopbackPort}'`,
      `bridge-gateway timeout 5 bash -c 'exec 3<>/dev/tcp/${o.gateway}'`,
    ],
    [statusLines(['CapBnd', 'CapEff', 'CapPrm', 'CapAmb', 'NoNewPrivs'])],
  );
}

describeWithDocker(
  'a job on a docker lane stays in its container (real container, real job)',
  (dockerInfo) => {
    const world = dockerLaneWorld('lp-escape-docker-', () => {
      const info = dockerInfo();
      if (info.bridge === undefined) throw new Error('the testbed dockerd has no bridge');
      return Promise.resolve({ socketPath: info.socketPath, gateway: info.bridge.gateway });
    });
    let loopback: Server | undefined;
    let port = 0;
    const touched: string[] = [];

    beforeAll(async () => {
      // A service on the host's loopback, which a job on the host network could reach.
      loopback = createServer((s) => {
        touched.push('connected');
        s.destroy();
      });
      await new Promise<void>((resolve) => loopback!.listen(0, '127.0.0.1', resolve));
      port = (loopback.address() as { port: number }).port;
    });

    afterAll(async () => {
      await new Promise((resolve) => loopback?.close(resolve) ?? resolve(undefined));
    });

    it('every attempt of the job fails, and the job holds no capability', async () => {
      const w = world();
      const { sim, f, core, docker } = w;
      const cmd = await jitCreate(sim, 'docker', { image: RUNNER_IMAGE.tag, network: 'bridge' });
      expect((await f.send(core, cmd)).error).toBeUndefined();
      const container = await docker.getContainer(containerName(cmd.laneId)).inspect();
      expect(container.HostConfig.NetworkMode).toBe('bridge');
      expect(container.HostConfig.CapDrop).toEqual(['ALL']);
      expect(container.HostConfig.SecurityOpt).toEqual(['no-new-privileges:true']);

      // The job's code: what a workflow step would run (the hook is a step of the job).
      const simUrl = new URL(sim.url);
      const gateway = `${simUrl.hostname}/${simUrl.port}`;
      const script = attack({ data: f.config.dataDir, loopbackPort: port, gateway });
      const result = await runAttackJob(w, cmd, script, 'lane-escape-docker');
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
