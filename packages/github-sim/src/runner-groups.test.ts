import { afterEach, describe, expect, it } from 'vitest';
import { type Harness, startHarness } from './harness.test-helper.js';

interface GroupBody {
  id: number;
  name: string;
  default: boolean;
  visibility: string;
  runners_url: string;
}

let h: Harness;
afterEach(async () => {
  await h.close();
});

/** Registers through `/_runner/register` as `config.sh [--runnergroup NAME]` would. */
async function register(
  url: string,
  name: string,
  runnerGroup?: string,
): Promise<{ status: number; body: Record<string, unknown> }> {
  const api = url.includes('/') ? `repos/${url}` : `orgs/${url}`;
  const tok = await h.json<{ token: string }>('POST', `/${api}/actions/runners/registration-token`);
  return h.runner('POST', '/_runner/register', {
    body: {
      url: `${h.gh.url}/${url}`,
      token: tok.body.token,
      name,
      labels: ['x'],
      ...(runnerGroup === undefined ? {} : { runnerGroup }),
    },
  });
}

async function groupOf(api: string, name: string): Promise<number | undefined> {
  const list = await h.json<{ runners: { name: string; runner_group_id: number }[] }>(
    'GET',
    `/${api}/actions/runners?name=${name}`,
  );
  return list.body.runners[0]?.runner_group_id;
}

describe('runner groups', () => {
  it('an organization has its default group and the groups made through /_sim/', async () => {
    h = await startHarness();
    const empty = await h.json<{ total_count: number; runner_groups: GroupBody[] }>(
      'GET',
      '/orgs/acme/actions/runner-groups',
    );
    expect(empty.body.runner_groups.map((g) => [g.id, g.name, g.default])).toEqual([
      [1, 'Default', true],
    ]);
    const made = await h.json<GroupBody>('POST', '/_sim/runner-groups', {
      organization: 'acme',
      name: 'deploy',
    });
    expect(made.status).toBe(201);
    expect(made.body).toMatchObject({ name: 'deploy', default: false, visibility: 'all' });
    await h.json('POST', '/_sim/runner-groups', { organization: 'other', name: 'gpu' });
    // Names are unique per organization, without regard to case.
    expect(
      (await h.json('POST', '/_sim/runner-groups', { organization: 'acme', name: 'DEPLOY' }))
        .status,
    ).toBe(409);
    expect((await h.json('POST', '/_sim/runner-groups', { organization: 'acme' })).status).toBe(
      422,
    );

    const list = await h.json<{ total_count: number; runner_groups: GroupBody[] }>(
      'GET',
      '/orgs/acme/actions/runner-groups?per_page=1&page=2',
    );
    expect(list.body.total_count).toBe(2);
    expect(list.body.runner_groups.map((g) => g.name)).toEqual(['deploy']);
    expect(list.res.headers.get('link')).toContain('rel="prev"');
    const one = await h.json<GroupBody>('GET', `/orgs/acme/actions/runner-groups/${made.body.id}`);
    expect(one.body.runners_url).toContain(`/orgs/acme/actions/runner-groups/${made.body.id}/`);
    // Another organization's group is not visible here.
    const others = await h.json<{ runnerGroups: GroupBody[] }>('GET', '/_sim/runner-groups');
    const gpu = others.body.runnerGroups.find((g) => g.name === 'gpu');
    expect((await h.api('GET', `/orgs/acme/actions/runner-groups/${gpu?.id}`)).status).toBe(404);
    expect((await h.api('GET', '/orgs/acme/actions/runner-groups/99')).status).toBe(404);
    expect((await h.api('GET', '/orgs/acme/actions/runner-groups', { token: null })).status).toBe(
      401,
    );
  });

  it('checks a JIT runner_group_id against the groups of the scope and records it on the runner', async () => {
    h = await startHarness();
    const deploy = await h.json<GroupBody>('POST', '/_sim/runner-groups', {
      organization: 'acme',
      name: 'deploy',
    });
    const jit = (api: string, name: string, group: number) =>
      h.json<{ runner: { runner_group_id: number } }>(
        'POST',
        `/${api}/actions/runners/generate-jitconfig`,
        { name, runner_group_id: group, labels: ['a'] },
      );
    const ok = await jit('orgs/acme', 'in-deploy', deploy.body.id);
    expect(ok.status).toBe(201);
    expect(ok.body.runner.runner_group_id).toBe(deploy.body.id);
    expect(await groupOf('orgs/acme', 'in-deploy')).toBe(deploy.body.id);
    expect((await jit('orgs/acme', 'unknown', 42)).status).toBe(404);
    // Another organization's group, and a repository's only group is the default.
    expect((await jit('orgs/other', 'elsewhere', deploy.body.id)).status).toBe(404);
    expect((await jit('repos/acme/api', 'repo-group', deploy.body.id)).status).toBe(404);
    expect((await jit('repos/acme/api', 'repo-default', 1)).status).toBe(201);
    // Nothing was made by a refused request.
    const all = await h.json<{ runners: { name: string }[] }>('GET', '/_sim/runners');
    expect(all.body.runners.map((r) => r.name).sort()).toEqual(['in-deploy', 'repo-default']);
  });

  it('registers into the group config.sh names, matched without regard to case; an unknown one fails like config.sh', async () => {
    h = await startHarness();
    const deploy = await h.json<GroupBody>('POST', '/_sim/runner-groups', {
      organization: 'acme',
      name: 'Deploy',
    });
    expect((await register('acme', 'grouped', 'deploy')).status).toBe(201);
    expect(await groupOf('orgs/acme', 'grouped')).toBe(deploy.body.id);
    expect((await register('acme', 'plain')).status).toBe(201);
    expect(await groupOf('orgs/acme', 'plain')).toBe(1);
    expect((await register('acme/api', 'repo-default', 'Default')).status).toBe(201);

    const missing = await register('acme', 'lost', 'nope');
    expect(missing.status).toBe(404);
    expect(missing.body.message).toBe('Could not find any self-hosted runner group named "nope".');
    const repo = await register('acme/api', 'repo-grouped', 'Deploy');
    expect(repo.status).toBe(404);
    expect((await register('acme', 'empty', '')).status).toBe(422);
    const names = await h.json<{ runners: { name: string }[] }>('GET', '/_sim/runners');
    expect(names.body.runners.map((r) => r.name).sort()).toEqual([
      'grouped',
      'plain',
      'repo-default',
    ]);
  });

  it('a --replace registration moves the runner into the named group, keeping its id', async () => {
    h = await startHarness();
    const deploy = await h.json<GroupBody>('POST', '/_sim/runner-groups', {
      organization: 'acme',
      name: 'deploy',
    });
    const first = await register('acme', 'moving');
    const tok = await h.json<{ token: string }>(
      'POST',
      '/orgs/acme/actions/runners/registration-token',
    );
    const again = await h.runner('POST', '/_runner/register', {
      body: {
        url: `${h.gh.url}/acme`,
        token: tok.body.token,
        name: 'moving',
        labels: [],
        replace: true,
        runnerGroup: 'deploy',
      },
    });
    expect(again.status).toBe(201);
    const id = (first.body['runner'] as { agentId: number }).agentId;
    expect((again.body['runner'] as { agentId: number }).agentId).toBe(id);
    expect(await groupOf('orgs/acme', 'moving')).toBe(deploy.body.id);
  });
});

describe('reported status', () => {
  it('reports any status string set through /_sim/, for any runner, until cleared', async () => {
    h = await startHarness();
    const made = await h.json<{ id: number }>('POST', '/_sim/runners', {
      repository: 'acme/api',
      name: 'odd',
      labels: [],
    });
    const set = await h.json('PUT', `/_sim/runners/${made.body.id}/status`, {
      status: 'maintenance',
    });
    expect(set.status).toBe(200);
    const get = () =>
      h.json<{ status: string }>('GET', `/repos/acme/api/actions/runners/${made.body.id}`);
    expect((await get()).body.status).toBe('maintenance');
    const list = await h.json<{ runners: { status: string }[] }>(
      'GET',
      '/repos/acme/api/actions/runners',
    );
    expect(list.body.runners[0]?.status).toBe('maintenance');
    await h.json('PUT', `/_sim/runners/${made.body.id}/status`, { status: null });
    expect((await get()).body.status).toBe('online');
    expect((await h.json('PUT', `/_sim/runners/${made.body.id}/status`, {})).status).toBe(422);
    expect((await h.json('PUT', '/_sim/runners/999/status', { status: 'x' })).status).toBe(404);
  });
});
