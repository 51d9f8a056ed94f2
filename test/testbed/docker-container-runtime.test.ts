import { mkdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';

import Docker from 'dockerode';
import { LaunchplaneError, newLaneId } from '@launchplane/shared';
import { afterAll, beforeAll, expect, it } from 'vitest';

import { DockerContainerRuntime } from '../../packages/agent/src/adapters/docker/docker-container-runtime.js';
import type { ContainerSpec } from '../../packages/agent/src/ports/container-runtime.js';
import { buildScratchImage, describeWithDocker, startDockerd, tempDir, waitFor } from './index.js';
import type { ScratchImage, TempDir } from './index.js';

const SUITE_LABEL = 'dev.launchplane.test.docker-container-runtime';
let seq = 0;
function laneId(): string {
  seq += 1;
  return newLaneId(Date.now() + seq);
}

async function rejection(promise: Promise<unknown>): Promise<LaunchplaneError> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(LaunchplaneError);
  return error as LaunchplaneError;
}

describeWithDocker('DockerContainerRuntime on a private dockerd', (dockerInfo) => {
  const tag = 'launchplane-test/lane:latest';
  let docker: Docker;
  let runtime: DockerContainerRuntime;
  let image: ScratchImage;
  let work: TempDir;

  /** A lane whose "runner" starts a child named Runner.Worker, like a runner with a job. */
  function busySpec(id: string, overrides: Partial<ContainerSpec> = {}): ContainerSpec {
    return {
      laneId: id,
      hostId: 'host-a',
      image: tag,
      cmd: [
        '/bin/sh',
        '-c',
        'Runner.Worker -e "setInterval(() => {}, 1e6)" & echo "$GREETING" > /lane/greeting; exec sleep 1000',
      ],
      env: { GREETING: 'hello lane 100% "quoted"', RUNNER_TOKEN: 'AAAA-secret-token-value' },
      labels: { 'dev.launchplane.pool': 'linux', [SUITE_LABEL]: '1' },
      stopTimeoutSec: 5,
      ...overrides,
    };
  }

  beforeAll(async () => {
    docker = new Docker({ socketPath: dockerInfo().socketPath });
    runtime = new DockerContainerRuntime({ socketPath: dockerInfo().socketPath });
    work = await tempDir({ prefix: 'lp-docker-' });
    image = await buildScratchImage(docker, {
      tag,
      files: [
        { path: '/usr/local/bin/Runner.Worker', symlink: process.execPath },
        { path: '/lane' },
      ],
    });
  });

  afterAll(async () => {
    // The daemon is shared with other suites: remove only what this one made.
    const mine = { label: [`${SUITE_LABEL}=1`] };
    for (const c of (await docker?.listContainers({ all: true, filters: mine })) ?? []) {
      await docker
        .getContainer(c.Id)
        .remove({ force: true })
        .catch(() => undefined);
    }
    await work?.cleanup();
  });

  it('create/start/inspect/processes/stop/remove a lane container that runs Runner.Worker', async () => {
    const id = laneId();
    const laneDir = join(work.path, id);
    await mkdir(laneDir);
    const name = await runtime.create(
      busySpec(id, { mounts: [{ source: laneDir, target: '/lane' }], workingDir: '/lane' }),
    );
    expect(name).toBe(`launchplane-lane-${id}`);

    const created = await runtime.inspect(name);
    expect(created).toMatchObject({
      name,
      image: tag,
      labels: {
        'dev.launchplane.lane': id,
        'dev.launchplane.host': 'host-a',
        'dev.launchplane.pool': 'linux',
      },
      state: { status: 'created', running: false },
    });
    const raw = await docker.getContainer(name).inspect();
    // Confined by default: the bridge network, no capability, no new privileges.
    expect(raw.HostConfig.NetworkMode).toBe('bridge');
    expect(raw.HostConfig.CapDrop).toEqual(['ALL']);
    expect(raw.HostConfig.CapAdd ?? []).toEqual([]);
    expect(raw.HostConfig.SecurityOpt).toEqual(['no-new-privileges:true']);
    expect(raw.HostConfig.RestartPolicy?.Name).toBe('no');
    expect(raw.HostConfig.Init).toBe(true);
    expect((raw.Config as { StopTimeout?: number }).StopTimeout).toBe(5);

    await runtime.start(name);
    await runtime.start(name); // starting a running container succeeds
    expect((await runtime.inspect(name))?.state).toMatchObject({
      status: 'running',
      running: true,
      restartCount: 0,
    });

    const procs = await waitFor(
      async () => {
        const list = await runtime.processes(name);
        return list.some((p) => p.comm === 'Runner.Worker') ? list : undefined;
      },
      { what: 'Runner.Worker in the container' },
    );
    const worker = procs.find((p) => p.comm === 'Runner.Worker');
    expect(worker?.pid).toBeGreaterThan(0);
    expect(worker?.args).toContain('setInterval');
    expect(await readFile(join(laneDir, 'greeting'), 'utf8')).toBe('hello lane 100% "quoted"\n');

    await runtime.stop(name, { timeoutSec: 2 });
    await runtime.stop(name); // stopping a stopped container succeeds
    const stopped = await runtime.inspect(name);
    expect(stopped?.state.running).toBe(false);
    expect(stopped?.state.status).toBe('exited');
    expect(await runtime.processes(name)).toEqual([]);

    await runtime.remove(name);
    expect(await runtime.inspect(name)).toBeUndefined();
    await expect(runtime.remove(name)).resolves.toBeUndefined();
    // This daemon does not remap user namespaces; a local image built here has no repo digest.
    expect(await runtime.userNamespace()).toBeUndefined();
    expect(await runtime.imageDigests(tag)).toEqual([]);
    expect(await runtime.imageDigests('launchplane-test/no-such-image:latest')).toBeUndefined();
  });

  it('remove() refuses a running container unless forced', async () => {
    const name = await runtime.create(busySpec(laneId()));
    await runtime.start(name);
    const error = await rejection(runtime.remove(name));
    expect(error.code).toBe('LP_BACKEND_FAILED');
    expect((await runtime.inspect(name))?.state.running).toBe(true);
    await runtime.remove(name, { force: true });
    expect(await runtime.inspect(name)).toBeUndefined();
  });

  it('list() shows lane-named and lane-labelled containers, hand-made ones included, and nothing else', async () => {
    const ours = await runtime.create(busySpec(laneId()));
    const handmadeLabelled = await docker.createContainer({
      name: 'someone-elses-runner',
      Image: tag,
      Labels: { 'dev.launchplane.lane': 'not-a-ulid' },
      HostConfig: { NetworkMode: 'none' },
    });
    const handmadeNamed = await docker.createContainer({
      name: 'launchplane-lane-handmade',
      Image: tag,
      HostConfig: { NetworkMode: 'none' },
    });
    const unrelated = await docker.createContainer({
      name: 'unrelated',
      Image: tag,
      HostConfig: { NetworkMode: 'none' },
    });
    try {
      const listed = await runtime.list();
      const names = listed.map((c) => c.name);
      expect(names).toContain(ours);
      expect(names).toContain('someone-elses-runner');
      expect(names).toContain('launchplane-lane-handmade');
      expect(names).not.toContain('unrelated');
      expect(
        listed.find((c) => c.name === 'someone-elses-runner')?.labels['dev.launchplane.lane'],
      ).toBe('not-a-ulid');
      expect(
        listed.find((c) => c.name === 'launchplane-lane-handmade')?.labels['dev.launchplane.lane'],
      ).toBeUndefined();
      expect(listed.find((c) => c.name === ours)?.status).toBe('created');
      // Read-only calls work on a label-only container; mutating ones refuse non-lane names.
      expect((await runtime.inspect('someone-elses-runner'))?.labels['dev.launchplane.lane']).toBe(
        'not-a-ulid',
      );
      expect(await runtime.processes('someone-elses-runner')).toEqual([]);
      await expect(runtime.remove('someone-elses-runner', { force: true })).rejects.toMatchObject({
        code: 'LP_INVALID_MESSAGE',
      });
    } finally {
      await runtime.remove(ours, { force: true });
      for (const c of [handmadeLabelled, handmadeNamed, unrelated]) await c.remove({ force: true });
    }
  });

  it('create() failures are LP_BACKEND_FAILED and never echo environment values', async () => {
    const error = await rejection(
      runtime.create(busySpec(laneId(), { image: 'launchplane-test/no-such-image:latest' })),
    );
    expect(error.code).toBe('LP_BACKEND_FAILED');
    expect(error.recovery).toContain('image');
    expect(
      JSON.stringify({ message: error.message, details: error.details, recovery: error.recovery }),
    ).not.toContain('secret-token');
    expect(error.cause).toBeUndefined();

    const id = laneId();
    const name = await runtime.create(busySpec(id));
    try {
      const duplicate = await rejection(runtime.create(busySpec(id)));
      expect(duplicate.code).toBe('LP_BACKEND_FAILED');
      expect(duplicate.message).not.toContain('secret-token');
    } finally {
      await runtime.remove(name, { force: true });
    }
  });

  it('refuses lane ids and names that are not canonical', async () => {
    for (const bad of ['../x', 'UPPERCASE0000000000000000A', '', 'a b']) {
      expect((await rejection(runtime.create(busySpec(bad)))).code).toBe('LP_INVALID_MESSAGE');
    }
    expect((await rejection(runtime.create(busySpec(laneId(), { hostId: 'Bad Host' })))).code).toBe(
      'LP_INVALID_MESSAGE',
    );
    expect(
      (await rejection(runtime.create(busySpec(laneId(), { env: { 'BAD NAME': 'x' } })))).code,
    ).toBe('LP_INVALID_MESSAGE');
    for (const bad of ['unrelated', '../launchplane-lane-x', 'launchplane-lane-a/b']) {
      expect((await rejection(runtime.stop(bad))).code).toBe('LP_INVALID_MESSAGE');
      expect((await rejection(runtime.remove(bad, { force: true }))).code).toBe(
        'LP_INVALID_MESSAGE',
      );
    }
    for (const bad of ['../x', 'a/b', '', '-x']) {
      expect((await rejection(runtime.inspect(bad))).code).toBe('LP_INVALID_MESSAGE');
      expect((await rejection(runtime.processes(bad))).code).toBe('LP_INVALID_MESSAGE');
    }
  });

  it('a daemon that is down is LP_BACKEND_UNAVAILABLE with a recovery hint', async () => {
    const doomed = await startDockerd();
    const gone = new DockerContainerRuntime({ socketPath: doomed.socketPath });
    await expect(gone.ping()).resolves.toBeUndefined();
    await doomed.stop();
    for (const call of [
      gone.ping(),
      gone.list(),
      gone.create(busySpec(laneId())),
      gone.inspect('launchplane-lane-x'),
      gone.start('launchplane-lane-x'),
    ]) {
      const error = await rejection(call);
      expect(error.code).toBe('LP_BACKEND_UNAVAILABLE');
      expect(error.recovery).toContain('dockerd');
      expect(error.message).not.toContain('secret-token');
    }
  });

  it('the image is the cached one on a second build', async () => {
    const again = await buildScratchImage(docker, {
      tag,
      files: [
        { path: '/usr/local/bin/Runner.Worker', symlink: process.execPath },
        { path: '/lane' },
      ],
    });
    expect(again).toMatchObject({ built: false, hash: image.hash });
  });
});
