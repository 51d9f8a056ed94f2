import { afterEach, describe, expect, it } from 'vitest';
import { type Harness, connectRunner, startHarness } from './harness.test-helper.js';
import { NO_RUNNER_FAULTS, mergeRunnerFaults, versionBelow } from './runner-faults.js';

describe('runner faults', () => {
  it('compares dotted versions part by part', () => {
    expect(versionBelow('2.330.0', '2.331.0')).toBe(true);
    expect(versionBelow('2.330.0', '2.330')).toBe(false);
    expect(versionBelow('2.99.0', '2.330.0')).toBe(true);
    expect(versionBelow('3.0.0', '2.330.0')).toBe(false);
    expect(versionBelow('unknown', '2.330.0')).toBe(true);
  });

  it('refuses bad values and unknown names', () => {
    expect(mergeRunnerFaults(NO_RUNNER_FAULTS, { minRunnerVersion: 'latest' })).toMatch(
      /minRunnerVersion/,
    );
    expect(mergeRunnerFaults(NO_RUNNER_FAULTS, { pollUnauthorizedNext: -1 })).toMatch(
      /non-negative/,
    );
    expect(mergeRunnerFaults(NO_RUNNER_FAULTS, { nope: 1 })).toBe('unknown runner fault "nope"');
    expect(mergeRunnerFaults(NO_RUNNER_FAULTS, { minRunnerVersion: '2.331.0' })).toEqual({
      ...NO_RUNNER_FAULTS,
      minRunnerVersion: '2.331.0',
    });
  });
});

describe('runner-facing control API and protocol', () => {
  let h: Harness;
  afterEach(async () => {
    await h.close();
  });

  /** Registers runner `name` at acme/api through the runner protocol, with `extra` in the body. */
  async function register(name: string, extra: Record<string, unknown>) {
    const tok = await h.json<{ token: string }>(
      'POST',
      '/repos/acme/api/actions/runners/registration-token',
    );
    return h.runner('POST', '/_runner/register', {
      body: { url: `${h.gh.url}/acme/api`, token: tok.body.token, name, labels: [], ...extra },
    });
  }

  it('sets, merges, refuses and resets runner faults', async () => {
    h = await startHarness();
    expect((await h.json('PATCH', '/_sim/runner-faults', { pollServerErrorNext: 2 })).body).toEqual(
      { ...NO_RUNNER_FAULTS, pollServerErrorNext: 2 },
    );
    const bad = await h.json<{ message: string }>('PUT', '/_sim/runner-faults', {
      minRunnerVersion: 7,
    });
    expect(bad.status).toBe(422);
    expect((await h.json('GET', '/_sim/runner-faults')).body).toMatchObject({
      pollServerErrorNext: 2,
    });
    await h.json('POST', '/_sim/reset');
    expect((await h.json('GET', '/_sim/runner-faults')).body).toEqual(NO_RUNNER_FAULTS);
  });

  it('shows when each runner registered and first started a session, in ms', async () => {
    h = await startHarness();
    const t0 = h.clock.now;
    const reg = await register('r1', {});
    const secret = (reg.body['credentials'] as { data: { secret: string } }).data.secret;
    const view = async (): Promise<Record<string, unknown>> =>
      (await h.json<{ runners: Record<string, unknown>[] }>('GET', '/_sim/runners')).body
        .runners[0]!;
    expect(await view()).toMatchObject({ registeredAt: t0, firstSessionAt: null });
    h.clock.now = t0 + 1_250;
    const s = await h.runner('POST', '/_runner/sessions', { secret, body: { version: '2.330.0' } });
    expect(s.status).toBe(201);
    expect(await view()).toMatchObject({ registeredAt: t0, firstSessionAt: t0 + 1_250 });
    // A later session (the runner restarted) keeps the first one's time.
    await h.runner('DELETE', `/_runner/sessions/${String(s.body['sessionId'])}`, { secret });
    h.clock.now = t0 + 9_000;
    await h.runner('POST', '/_runner/sessions', { secret, body: { version: '2.330.0' } });
    expect(await view()).toMatchObject({ firstSessionAt: t0 + 1_250 });
  });

  it('answers with error kinds the stub acts on: deleted registration, session conflict, version too old', async () => {
    h = await startHarness();
    const r = await connectRunner(h, { url: 'acme/api', name: 'r1', labels: [] });
    const conflict = await h.runner('POST', '/_runner/sessions', {
      secret: r.secret,
      body: { version: '2.330.0' },
    });
    expect(conflict).toMatchObject({ status: 409, body: { errorKind: 'SessionConflict' } });
    await h.json('PUT', '/_sim/runner-faults', { minRunnerVersion: '9.0.0' });
    const old = await h.runner('POST', `/_runner/sessions/${r.sessionId}/poll`, {
      secret: r.secret,
    });
    expect(old).toMatchObject({ status: 403, body: { errorKind: 'RunnerVersionTooOld' } });
    await h.json('PUT', '/_sim/runner-faults', {});
    expect((await h.api('DELETE', `/repos/acme/api/actions/runners/${r.id}`)).status).toBe(204);
    const gone = await h.runner('POST', `/_runner/sessions/${r.sessionId}/poll`, {
      secret: r.secret,
    });
    expect(gone).toMatchObject({ status: 404, body: { errorKind: 'RunnerNotFound' } });
  });

  it('queues an update for a runner’s next poll, once; refuses unknown and unmanaged runners and a --disableupdate session', async () => {
    h = await startHarness();
    const r = await connectRunner(h, { url: 'acme/api', name: 'r1', labels: [] });
    expect(
      (await h.json('POST', `/_sim/runners/${r.id}/update`, { targetVersion: 'x' })).status,
    ).toBe(422);
    expect(
      (await h.json('POST', `/_sim/runners/${r.id}/update`, { targetVersion: '2.331.0' })).status,
    ).toBe(202);
    const poll = () =>
      h.runner('POST', `/_runner/sessions/${r.sessionId}/poll`, { secret: r.secret });
    expect(await poll()).toMatchObject({
      status: 200,
      body: { update: { targetVersion: '2.331.0' } },
    });
    expect((await poll()).status).toBe(204);
    expect((await h.json('POST', '/_sim/runners/999/update', {})).status).toBe(404);
    const unmanaged = await h.json<{ id: number }>('POST', '/_sim/runners', {
      repository: 'acme/api',
      name: 'by-hand',
      labels: [],
    });
    expect((await h.json('POST', `/_sim/runners/${unmanaged.body.id}/update`, {})).status).toBe(
      404,
    );

    const reg = await register('r2', { disableUpdate: true });
    expect(reg.body['runner']).toMatchObject({ disableUpdate: true });
    const secret = (reg.body['credentials'] as { data: { secret: string } }).data.secret;
    await h.runner('POST', '/_runner/sessions', {
      secret,
      body: { version: '2.330.0', disableUpdate: true },
    });
    const id = (reg.body['runner'] as { agentId: number }).agentId;
    expect((await h.json('POST', `/_sim/runners/${id}/update`, {})).status).toBe(409);
  });

  it('accepts --runnergroup as runnerGroup on register, and failSetup on jobs (a boolean only)', async () => {
    h = await startHarness();
    expect((await register('g', { runnerGroup: 'Default' })).status).toBe(201);
    expect(
      (await h.json('POST', '/_sim/jobs', { repository: 'acme/api', labels: [], failSetup: 'yes' }))
        .status,
    ).toBe(422);
    const job = await h.json('POST', '/_sim/jobs', {
      repository: 'acme/api',
      labels: [],
      failSetup: true,
    });
    expect(job.body).toMatchObject({ failSetup: true });
  });
});
