/**
 * Docker lanes are confined by the host's own opt-in: only the images (by repository or digest)
 * and network modes it lists, a bridge network by default, no capability, no new privileges, and
 * a lane dir owned by the remapped uid when the daemon remaps user namespaces. Each attack is a
 * signed `lane.create` the coordinator could send; each is refused with a code, and nothing is
 * left behind.
 */
import { lstat, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { agentConfigSchema, containerName } from '@launchplane/shared';
import { afterEach, describe, expect, it } from 'vitest';
import { createHarness, HARNESS_IMAGES, type Harness } from '../core-harness.test-helper.js';
import { SUDO_CAPABILITIES } from './lane-backend.js';

let h: Harness | undefined;
afterEach(async () => {
  await h?.cleanup();
  h = undefined;
});

const DIGEST = `sha256:${'ab'.repeat(32)}`;

async function harness(docker: Record<string, unknown> = {}, optInDocker?: unknown) {
  h = await createHarness({
    config: {
      optIn: {
        repositories: ['acme/api'],
        organizations: [],
        backends: ['systemd', 'docker'],
        maxLanes: 3,
        docker: (optInDocker ?? { images: HARNESS_IMAGES }) as never,
      },
      docker: { socketPath: '/var/run/docker.sock', noNewPrivileges: true, ...docker },
    },
  });
  return h;
}

async function expectNothingLeft(x: Harness, laneId: string): Promise<void> {
  expect(x.core.ledger.lanes.get(laneId)).toBeUndefined();
  expect(x.containers.containers.size).toBe(0);
  expect(await readdir(join(x.dataDir, 'lanes'))).toEqual([]);
}

describe('docker lane confinement', () => {
  it("refuses another container's network namespace, always, with nothing left behind", async () => {
    const x = await harness({}, { images: HARNESS_IMAGES, networks: ['bridge', 'host'] });
    const cmd = x.createCmd({
      backend: 'docker',
      docker: { image: 'x', network: 'container:launchplane-lane-other' },
    });
    const r = await x.send(cmd);
    expect(r).toMatchObject({ ok: false, error: { code: 'LP_NOT_OPTED_IN' } });
    expect(r.error?.message).toMatch(/never allowed/);
    await expectNothingLeft(x, cmd.laneId);
  });

  it('refuses host networking unless the host lists it, and then uses it', async () => {
    const x = await harness();
    const cmd = x.createCmd({ backend: 'docker', docker: { image: 'x', network: 'host' } });
    const refused = await x.send(cmd);
    expect(refused).toMatchObject({ ok: false, error: { code: 'LP_NOT_OPTED_IN' } });
    expect(refused.error?.message).toBe(
      `Cannot create lane "${cmd.laneId}": network "host" is not allowed on this host (allowed: bridge)`,
    );
    expect(refused.error?.recovery).toMatch(/optIn\.docker\.networks/);
    await expectNothingLeft(x, cmd.laneId);
    await x.cleanup();
    const y = await harness({}, { images: HARNESS_IMAGES, networks: ['bridge', 'host'] });
    const ok = y.createCmd({ backend: 'docker', docker: { image: 'x', network: 'host' } });
    expect((await y.send(ok)).ok).toBe(true);
    expect(y.containers.containers.get(containerName(ok.laneId))?.spec?.networkMode).toBe('host');
  });

  it('runs only listed images: by repository (any tag) or by digest, never another', async () => {
    const x = await harness(
      {},
      { images: ['ghcr.io/acme/runner', `ghcr.io/acme/pinned@${DIGEST}`] },
    );
    const other = x.createCmd({ backend: 'docker', docker: { image: 'ghcr.io/evil/miner:1' } });
    const r = await x.send(other);
    expect(r).toMatchObject({ ok: false, error: { code: 'LP_NOT_OPTED_IN' } });
    expect(r.error?.message).toContain('image "ghcr.io/evil/miner:1" is not allowed on this host');
    await expectNothingLeft(x, other.laneId);
    // A tag of a digest-pinned repository is refused unless the local image is that digest.
    const moved = x.createCmd({ backend: 'docker', docker: { image: 'ghcr.io/acme/pinned:2' } });
    expect((await x.send(moved)).error?.code).toBe('LP_NOT_OPTED_IN');
    x.containers.imageRepoDigests.set('ghcr.io/acme/pinned:3', [`ghcr.io/acme/pinned@${DIGEST}`]);
    const pinned = x.createCmd({ backend: 'docker', docker: { image: 'ghcr.io/acme/pinned:3' } });
    expect((await x.send(pinned)).ok).toBe(true);
    const anyTag = x.createCmd({ backend: 'docker', docker: { image: 'ghcr.io/acme/runner:9' } });
    expect((await x.send(anyTag)).ok).toBe(true);
  });

  it('allows no image at all when the host lists none', async () => {
    const x = await harness({}, {});
    const cmd = x.createCmd({ backend: 'docker', docker: { image: 'x' } });
    const r = await x.send(cmd);
    expect(r.error?.message).toMatch(/allows no Docker image \(optIn\.docker\.images is empty\)/);
    await expectNothingLeft(x, cmd.laneId);
  });

  it('refuses a tag in the allowlist: it can be moved to other content', () => {
    const parsed = agentConfigSchema.safeParse({
      hostId: 'h',
      optIn: { docker: { images: ['ghcr.io/acme/runner:latest'] } },
    });
    expect(parsed.success).toBe(false);
    expect(JSON.stringify(parsed.error?.issues)).toMatch(/can be moved to other content/);
  });

  it('gives back only what sudo needs when the host turns no-new-privileges off', async () => {
    const x = await harness({ noNewPrivileges: false });
    const cmd = x.createCmd({ backend: 'docker', docker: { image: 'x' } });
    expect((await x.send(cmd)).ok).toBe(true);
    const spec = x.containers.containers.get(containerName(cmd.laneId))?.spec;
    expect(spec).toMatchObject({ noNewPrivileges: false, capAdd: SUDO_CAPABILITIES });
    for (const cap of ['SYS_ADMIN', 'NET_RAW', 'MKNOD', 'SYS_CHROOT', 'SETFCAP']) {
      expect(spec?.capAdd).not.toContain(cap);
    }
  });

  it('hands the lane dir to the remapped uid when the daemon remaps user namespaces', async (ctx) => {
    if (process.getuid?.() !== 0) ctx.skip('chown needs root');
    const x = await harness();
    x.containers.userns = { uid: 420000, gid: 420000, size: 65536 };
    const cmd = x.createCmd({ backend: 'docker', docker: { image: 'x' } });
    expect((await x.send(cmd)).ok).toBe(true);
    const st = await lstat(join(x.dataDir, 'lanes', cmd.laneId));
    // The image runs as uid 1001 (gid 0: it names no group): on the host, 420000 + each.
    expect([st.uid, st.gid]).toEqual([421001, 420000]);
    // An image user outside the remapped range cannot be mapped: refused, nothing left.
    x.containers.userns = { uid: 420000, gid: 420000, size: 1000 };
    const outside = x.createCmd({ backend: 'docker', docker: { image: 'x' } });
    expect((await x.send(outside)).ok).toBe(false);
    expect(x.core.ledger.lanes.get(outside.laneId)?.state).toBe('failed');
    expect(x.containers.containers.has(containerName(outside.laneId))).toBe(false);
  });
});
