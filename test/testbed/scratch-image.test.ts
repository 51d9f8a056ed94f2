import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';

import Docker from 'dockerode';
import { beforeAll, expect, it } from 'vitest';

import { buildScratchImage, describeWithDocker } from './index.js';

/** Runs a container to completion and returns its exit code and output. */
async function runToEnd(
  docker: Docker,
  options: Docker.ContainerCreateOptions,
): Promise<{ code: number; output: string }> {
  const container = await docker.createContainer(options);
  try {
    await container.start();
    const { StatusCode } = (await container.wait()) as { StatusCode: number };
    const logs = await container.logs({ stdout: true, stderr: true, follow: false });
    // Multiplexed stream frames: 8-byte header, then payload.
    let output = '';
    for (let i = 0; i + 8 <= logs.length;) {
      const size = logs.readUInt32BE(i + 4);
      output += logs.subarray(i + 8, i + 8 + size).toString('utf8');
      i += 8 + size;
    }
    return { code: StatusCode, output };
  } finally {
    await container.remove({ force: true });
  }
}

describeWithDocker('buildScratchImage() on a private dockerd', (dockerInfo) => {
  let docker: Docker;
  const tag = 'launchplane-test/scratch-check:latest';
  const changedTag = 'launchplane-test/scratch-check:changed';

  beforeAll(() => {
    docker = new Docker({ socketPath: dockerInfo().socketPath });
  });
  it('builds offline an image in which node and busybox run, and caches it by content', async () => {
    const files = [{ path: '/actions-runner/hello.txt', content: 'hello from the template\n' }];
    const first = await buildScratchImage(docker, { tag, files });
    const again = await buildScratchImage(docker, { tag, files });
    expect(again).toMatchObject({ tag, hash: first.hash, built: false });
    // Another tag, so both variants stay cached in the testbed's data root across runs.
    const changed = await buildScratchImage(docker, {
      tag: changedTag,
      files: [{ ...files[0]!, content: 'changed\n' }],
    });
    expect(changed.hash).not.toBe(first.hash);

    const result = await runToEnd(docker, {
      Image: changedTag,
      Cmd: [
        '/bin/sh',
        '-c',
        `${first.nodePath} -e 'console.log("node", process.version)' && cat /actions-runner/hello.txt && ls -d /tmp`,
      ],
      HostConfig: { NetworkMode: 'none' },
    });
    expect(result).toMatchObject({ code: 0 });
    expect(result.output).toContain(`node ${process.version}`);
    expect(result.output).toContain('changed');
    expect(result.output).toContain('/tmp');
  });

  it('holds a real bash and takes USER, users, groups and ENV: a stand-in for the official runner image', async () => {
    const userTag = 'launchplane-test/scratch-check:user';
    await buildScratchImage(docker, {
      tag: userTag,
      users: [{ name: 'runner', uid: 1001, gid: 1001 }],
      groups: [{ name: 'runner', gid: 1001 }],
      user: '1001',
      env: { LP_IMAGE_CHECK: 'with spaces "and quotes"' },
    });
    const result = await runToEnd(docker, {
      Image: userTag,
      Cmd: [
        '/bin/bash',
        '-c',
        'echo "uid=$(id -u) user=$(id -un) group=$(id -gn)"; echo "env=$LP_IMAGE_CHECK"; echo "bash=${BASH_VERSINFO[0]}"',
      ],
      HostConfig: { NetworkMode: 'none' },
    });
    expect(result.code).toBe(0);
    expect(result.output).toContain('uid=1001 user=runner group=runner');
    expect(result.output).toContain('env=with spaces "and quotes"');
    expect(result.output).toMatch(/bash=[45]/);
  });

  it('with --network host, a process in the image reaches a server on 127.0.0.1', async () => {
    const image = await buildScratchImage(docker, { tag });
    const server = createServer((_req, res) => res.end('pong from the host'));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    try {
      const { port } = server.address() as AddressInfo;
      const result = await runToEnd(docker, {
        Image: tag,
        Cmd: [
          image.nodePath,
          '-e',
          `fetch("http://127.0.0.1:${port}/").then(r => r.text()).then(t => console.log(t))`,
        ],
        HostConfig: { NetworkMode: 'host' },
      });
      expect(result).toEqual({ code: 0, output: 'pong from the host\n' });
    } finally {
      server.close();
    }
  });
  it('on the default bridge network, a process reaches the host at the bridge gateway, not at 127.0.0.1', async () => {
    const { bridge } = dockerInfo();
    if (bridge === undefined) throw new Error('the testbed dockerd has no bridge');
    const image = await buildScratchImage(docker, { tag });
    const server = createServer((_req, res) => res.end('pong over the bridge'));
    await new Promise<void>((resolve) => server.listen(0, bridge.gateway, resolve));
    try {
      const { port } = server.address() as AddressInfo;
      const fetchFrom = (host: string) =>
        runToEnd(docker, {
          Image: tag,
          Cmd: [
            image.nodePath,
            '-e',
            `fetch("http://${host}:${port}/", { signal: AbortSignal.timeout(3000) }).then(r => r.text()).then(t => console.log(t), e => { console.log("unreachable"); process.exit(3); })`,
          ],
          HostConfig: { NetworkMode: 'bridge' },
        });
      expect(await fetchFrom(bridge.gateway)).toEqual({
        code: 0,
        output: 'pong over the bridge\n',
      });
      expect(await fetchFrom('127.0.0.1')).toEqual({ code: 3, output: 'unreachable\n' });
    } finally {
      server.close();
    }
  });
});
