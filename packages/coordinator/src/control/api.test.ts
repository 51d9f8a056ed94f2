import { LaunchplaneError } from '@launchplane/shared';
import { describe, expect, it } from 'vitest';
import type { Route, RouteContext } from '../http/route.js';
import { controlRoutes } from './api.js';
import { makeWorld, seedLane } from './control-fakes.test-helper.js';
import { ControlService } from './control-service.js';

const LANE = '01hzzzzzzzzzzzzzzzzzzz0001';

function ctx(over: Partial<RouteContext> = {}): RouteContext {
  return {
    actor: 'tok-op',
    role: 'operator',
    params: { id: LANE },
    query: new URLSearchParams(),
    body: undefined,
    signal: new AbortController().signal,
    ...over,
  };
}

async function setup(): Promise<{ route: (m: string, p: string) => Route }> {
  const w = await makeWorld();
  await seedLane(w, { laneId: LANE });
  const routes = controlRoutes(new ControlService(w.deps));
  return {
    route: (method, path) => {
      const r = routes.find((x) => x.method === method && x.path === path);
      if (r === undefined) throw new Error(`no route ${method} ${path}`);
      return r;
    },
  };
}

const code = (c: string) => (e: unknown) => e instanceof LaunchplaneError && e.code === c;

describe('controlRoutes()', () => {
  it('declares the least role of every route', async () => {
    const w = await makeWorld();
    const routes = controlRoutes(new ControlService(w.deps));
    expect(routes.map((r) => `${r.method} ${r.path} ${r.role}`).sort()).toEqual([
      'GET /v1/apply viewer',
      'GET /v1/capacity viewer',
      'GET /v1/jobs viewer',
      'GET /v1/jobs/:id/why viewer',
      'GET /v1/lanes viewer',
      'GET /v1/lanes/:id/job viewer',
      'GET /v1/plan viewer',
      'GET /v1/runners viewer',
      'GET /v1/smoke/:id viewer',
      'POST /v1/apply operator',
      'POST /v1/lanes/:id/drain operator',
      'POST /v1/lanes/:id/remove operator',
      'POST /v1/lanes/:id/restart operator',
      'POST /v1/smoke operator',
    ]);
  });

  it('starts a lane action in the background and reports it through its job', async () => {
    const { route } = await setup();
    const started = await route('POST', '/v1/lanes/:id/drain').handler(
      ctx({ body: { wait: false } }),
    );
    expect(started.status).toBe(202);
    expect(started.body).toMatchObject({ job: { laneId: LANE, mode: 'drain', running: true } });
    const job = await route('GET', '/v1/lanes/:id/job').handler(ctx({ role: 'viewer' }));
    expect(job.body).toMatchObject({ job: { laneId: LANE, mode: 'drain' } });
  });

  it('answers a waited action with its report, and a failed one with its error code', async () => {
    const { route } = await setup();
    const dry = await route('POST', '/v1/lanes/:id/remove').handler(
      ctx({ body: { dryRun: true } }),
    );
    expect(dry).toMatchObject({ status: 200, body: { report: { outcome: 'would-remove' } } });
    await expect(
      route('POST', '/v1/lanes/:id/remove').handler(
        ctx({ params: { id: '01hzzzzzzzzzzzzzzzzzzz9999' }, body: { wait: true } }),
      ),
    ).rejects.toSatisfy(code('LP_NOT_FOUND'));
    await expect(
      route('POST', '/v1/lanes/:id/remove').handler(ctx({ params: { id: '../etc' }, body: {} })),
    ).rejects.toSatisfy(code('LP_USAGE'));
    await expect(
      route('POST', '/v1/lanes/:id/remove').handler(ctx({ body: { force: 'yes' } })),
    ).rejects.toSatisfy(code('LP_USAGE'));
  });

  it('dry-run apply answers at once; the apply job is unknown until one ran', async () => {
    const { route } = await setup();
    await expect(route('GET', '/v1/apply').handler(ctx())).rejects.toSatisfy(code('LP_NOT_FOUND'));
    const r = await route('POST', '/v1/apply').handler(ctx({ body: { dryRun: true } }));
    expect(r.status).toBe(200);
    expect(r.body).toMatchObject({ dryRun: true, ok: true });
    const bg = await route('POST', '/v1/apply').handler(ctx({ body: {} }));
    expect(bg.status).toBe(202);
    const job = await route('GET', '/v1/apply').handler(ctx());
    expect(job.body).toMatchObject({ job: { actor: 'tok-op' } });
  });

  it('smoke: a dry run answers its report; a smoke starts and is followed by its id; bad input is usage', async () => {
    const { route } = await setup();
    const smoke = route('POST', '/v1/smoke');
    const body = { hostId: 'host-a', repository: 'ACME/api' };
    const dry = await smoke.handler(ctx({ body: { ...body, dryRun: true } }));
    expect(dry).toMatchObject({
      status: 200,
      body: { report: { dryRun: true, repository: 'acme/api', hostId: 'host-a' } },
    });
    const started = await smoke.handler(ctx({ body }));
    expect(started.status).toBe(202);
    const id = (started.body as { job: { smokeId: string } }).job.smokeId;
    const job = await route('GET', '/v1/smoke/:id').handler(
      ctx({ role: 'viewer', params: { id } }),
    );
    expect(job.body).toMatchObject({ job: { smokeId: id, hostId: 'host-a' } });
    for (const bad of [
      { ...body, workflow: 'launchplane-smoke.yml' },
      { ...body, ref: 'main' },
      { ...body, workflow: '.github/workflows/x.yml', ref: 'main' },
      { ...body, workflow: 'x.yml', ref: 'ma in' },
      { ...body, backend: 'podman' },
      { ...body, repository: 'not a repo' },
      { ...body, extra: true },
    ]) {
      await expect(smoke.handler(ctx({ body: bad })), JSON.stringify(bad)).rejects.toSatisfy(
        code('LP_USAGE'),
      );
    }
    await expect(
      route('GET', '/v1/smoke/:id').handler(ctx({ params: { id: 'nope' } })),
    ).rejects.toSatisfy(code('LP_NOT_FOUND'));
  });
});
