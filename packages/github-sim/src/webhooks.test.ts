import { createHmac } from 'node:crypto';
import { verify } from '@octokit/webhooks-methods';
import { afterEach, describe, expect, it } from 'vitest';
import { type Harness, connectRunner, startHarness } from './harness.test-helper.js';
import {
  type Received,
  type Receiver,
  json,
  startReceiver,
  webhookSchemaErrors,
} from './webhook-receiver.test-helper.js';

// The sim's webhooks, checked from the receiving end: signatures by an independent verifier
// (@octokit/webhooks-methods, and node:crypto for the legacy SHA-1 header), payloads against
// GitHub's published webhook schemas (@octokit/openapi-webhooks).

const SECRET = 'whsec-test-0123456789';

let h: Harness;
let rx: Receiver;
afterEach(async () => {
  await h.close();
  await rx.close();
});

async function start(opts: Parameters<typeof startHarness>[0] = {}): Promise<void> {
  h = await startHarness(opts);
  rx = await startReceiver();
}

/** A hook through the control API; returns its id once its ping arrived. */
async function hook(body: Record<string, unknown>): Promise<number> {
  const before = rx.received.length;
  const res = await h.json<{ id: number }>('POST', '/_sim/hooks', {
    url: rx.url,
    secret: SECRET,
    ...body,
  });
  expect(res.status).toBe(201);
  if (body['active'] !== false) {
    const [ping] = (await rx.count(before + 1)).slice(before);
    expect(ping?.headers['x-github-event']).toBe('ping');
  }
  return res.body.id;
}

/** The workflow_job deliveries received so far, as `action` strings. */
function actions(): string[] {
  return rx.received
    .filter((r) => r.headers['x-github-event'] === 'workflow_job')
    .map((r) => json(r)['action'] as string);
}

interface Delivery {
  id: number;
  guid: string;
  hookId: number;
  event: string;
  action: string | null;
  jobId: number | null;
  redelivery: boolean;
  duplicate: boolean;
  state: string;
  status: string;
  statusCode: number;
  delayedMs: number;
}

async function deliveries(query = ''): Promise<Delivery[]> {
  return (await h.json<{ deliveries: Delivery[] }>('GET', `/_sim/hooks/deliveries${query}`)).body
    .deliveries;
}

async function enqueue(body: Record<string, unknown> = {}): Promise<{ id: number }> {
  const res = await h.json<{ id: number }>('POST', '/_sim/jobs', {
    repository: 'acme/api',
    labels: ['lp-pool-a'],
    durationMs: 10,
    ...body,
  });
  expect(res.status).toBe(201);
  return res.body;
}

async function checkSignature(r: Received, secret = SECRET): Promise<boolean> {
  return verify(secret, r.body, String(r.headers['x-hub-signature-256']));
}

describe('workflow_job webhooks', () => {
  it('sends one signed delivery per action, queued to completed, in GitHub’s payload shape', async () => {
    await start();
    const hookId = await hook({ repository: 'acme/api', events: ['workflow_job'] });
    const runner = await connectRunner(h, {
      url: 'acme/api',
      name: 'lane-1',
      labels: ['lp-pool-a'],
    });

    const job = await enqueue({ waiting: true });
    await rx.count(2);
    await h.json('POST', `/_sim/jobs/${job.id}/approve`);
    await rx.count(3);
    const polled = await h.runner('POST', `/_runner/sessions/${runner.sessionId}/poll`, {
      secret: runner.secret,
    });
    expect(polled.body['job']).toMatchObject({ id: job.id });
    await rx.count(4);
    await h.runner('POST', `/_runner/jobs/${job.id}/complete`, {
      secret: runner.secret,
      body: { result: 'succeeded' },
    });
    const got = (await rx.count(5)).slice(1);
    expect(got.map((r) => json(r)['action'])).toEqual([
      'waiting',
      'queued',
      'in_progress',
      'completed',
    ]);

    const guids = new Set<string>();
    for (const r of got) {
      const payload = json(r);
      const action = payload['action'] as string;
      expect(r.headers).toMatchObject({
        'x-github-event': 'workflow_job',
        'x-github-hook-id': String(hookId),
        'x-github-hook-installation-target-type': 'repository',
        'content-type': 'application/json',
      });
      expect(r.headers['user-agent']).toMatch(/^GitHub-Hookshot\/[0-9a-f]{7}$/);
      expect(r.headers['x-github-delivery']).toMatch(
        /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/,
      );
      guids.add(String(r.headers['x-github-delivery']));
      expect(await checkSignature(r)).toBe(true);
      const sha1 = createHmac('sha1', SECRET).update(r.body).digest('hex');
      expect(r.headers['x-hub-signature']).toBe(`sha1=${sha1}`);
      expect(webhookSchemaErrors(`webhook-workflow-job-${action.replace('_', '-')}`, payload)).toBe(
        '',
      );
      expect(payload).toMatchObject({
        repository: { full_name: 'acme/api' },
        organization: { login: 'acme' },
        sender: { login: 'launchplane-sim', type: 'User' },
      });
    }
    expect(guids.size).toBe(4);

    const [waiting, queued, inProgress, completed] = got.map(
      (r) => json(r)['workflow_job'] as Record<string, unknown>,
    );
    const same = {
      id: job.id,
      run_attempt: 1,
      labels: ['lp-pool-a'],
      workflow_name: 'Simulated jobs',
    };
    expect(waiting).toMatchObject({ ...same, status: 'waiting', runner_id: null });
    expect(queued).toMatchObject({ ...same, status: 'queued', conclusion: null, runner_id: null });
    expect(inProgress).toMatchObject({
      ...same,
      status: 'in_progress',
      runner_id: runner.id,
      runner_name: 'lane-1',
      runner_group_id: 1,
      runner_group_name: 'Default',
    });
    expect(completed).toMatchObject({
      ...same,
      status: 'completed',
      conclusion: 'success',
      runner_id: runner.id,
    });
    expect(completed?.['completed_at']).not.toBeNull();
    expect(queued?.['run_id']).toBe(completed?.['run_id']);
  });

  it('the ping and a cancelled or lost job’s completion are valid payloads too', async () => {
    await start();
    await hook({ organization: 'acme' });
    const ping = json(rx.received[0] as Received);
    expect(webhookSchemaErrors('webhook-ping', ping)).toBe('');
    expect(ping).toMatchObject({ hook: { type: 'Organization', config: { secret: '********' } } });

    const queued = await enqueue();
    await h.json('POST', `/_sim/jobs/${queued.id}/cancel`);
    const runner = await connectRunner(h, { url: 'acme', name: 'lost', labels: ['lp-pool-a'] });
    const lost = await enqueue();
    await h.runner('POST', `/_runner/sessions/${runner.sessionId}/poll`, { secret: runner.secret });
    h.clock.now += 60_000; // the runner stops heartbeating: its job fails
    await h.json('GET', '/_sim/jobs');
    const got = await rx.count(6);
    const ends = got
      .slice(1)
      .map(json)
      .filter((p) => p['action'] === 'completed');
    expect(ends.map((p) => (p['workflow_job'] as { conclusion: string }).conclusion)).toEqual([
      'cancelled',
      'failure',
    ]);
    expect(ends.map((p) => (p['workflow_job'] as { id: number }).id)).toEqual([queued.id, lost.id]);
    for (const p of ends) expect(webhookSchemaErrors('webhook-workflow-job-completed', p)).toBe('');
  });

  it('goes to the repository’s hooks and its organization’s, only for subscribed events', async () => {
    await start();
    const orgHook = await hook({ organization: 'ACME', events: ['*'] });
    const repoHook = await hook({ repository: 'acme/api' });
    await hook({ repository: 'acme/web', url: `${rx.url}?web` });
    await hook({ repository: 'acme/api', url: `${rx.url}?push`, events: ['push'] });
    await hook({ organization: 'umbrella' });
    await hook({ repository: 'acme/api', url: `${rx.url}?off`, active: false });
    const pings = rx.received.length;
    expect(pings).toBe(5);

    const job = await enqueue();
    await rx.count(pings + 2);
    await h.gh.webhooks.settled();
    const got = rx.received.slice(pings);
    expect(got).toHaveLength(2);
    expect(got.map((r) => Number(r.headers['x-github-hook-id'])).sort()).toEqual(
      [orgHook, repoHook].sort(),
    );
    // One event: one GUID for every hook's delivery of it, one payload.
    expect(new Set(got.map((r) => r.headers['x-github-delivery'])).size).toBe(1);
    expect(got[0]?.body).toBe(got[1]?.body);
    expect(got.map((r) => r.headers['x-github-hook-installation-target-type']).sort()).toEqual([
      'organization',
      'repository',
    ]);
    const logged = await deliveries(`?jobId=${job.id}`);
    expect(logged.map((d) => d.hookId).sort()).toEqual([orgHook, repoHook].sort());
  });

  it('form hooks get `payload=` bodies, signed as sent', async () => {
    await start();
    await hook({ repository: 'acme/api', contentType: 'form' });
    await enqueue();
    const [, r] = await rx.count(2);
    expect(r?.headers['content-type']).toBe('application/x-www-form-urlencoded');
    expect(await checkSignature(r as Received)).toBe(true);
    const payload = JSON.parse(new URLSearchParams(r?.body).get('payload') ?? '') as object;
    expect(payload).toMatchObject({ action: 'queued' });
  });

  it('the schema check rejects a payload of the wrong shape', async () => {
    await start();
    await hook({ repository: 'acme/api' });
    await enqueue();
    const [, r] = await rx.count(2);
    const payload = json(r as Received);
    expect(webhookSchemaErrors('webhook-workflow-job-queued', payload)).toBe('');
    const job = { ...(payload['workflow_job'] as Record<string, unknown>) };
    delete job['run_id'];
    expect(
      webhookSchemaErrors('webhook-workflow-job-queued', { ...payload, workflow_job: job }),
    ).not.toBe('');
    expect(
      webhookSchemaErrors('webhook-workflow-job-queued', {
        ...payload,
        workflow_job: { ...job, run_id: 1, status: 'sleeping' },
      }),
    ).not.toBe('');
    expect(webhookSchemaErrors('webhook-workflow-job-completed', payload)).not.toBe('');
  });

  it('a hook without a secret sends no signature headers', async () => {
    await start();
    await hook({ repository: 'acme/api', secret: null });
    const [ping] = rx.received;
    expect(ping?.headers['x-hub-signature-256']).toBeUndefined();
    expect(ping?.headers['x-hub-signature']).toBeUndefined();
  });
});

describe('signatures and secrets', () => {
  it('a forged or altered delivery fails verification: signatures bind the body to the secret', async () => {
    await start();
    await hook({ repository: 'acme/api' });
    await enqueue();
    const [, real] = (await rx.count(2)) as [Received, Received];
    expect(await checkSignature(real)).toBe(true);
    // The attacker knows the format but not the secret.
    expect(await checkSignature(real, 'whsec-guess')).toBe(false);
    const altered = { ...real, body: real.body.replace('"queued"', '"completed"') };
    expect(altered.body).not.toBe(real.body);
    expect(await checkSignature(altered)).toBe(false);
    const forgedSig = createHmac('sha256', 'whsec-guess').update(altered.body).digest('hex');
    expect(await verify(SECRET, altered.body, `sha256=${forgedSig}`)).toBe(false);
  });

  it('the secret is never shown: not by the control API, the REST API or the delivery log', async () => {
    await start();
    const id = await hook({ repository: 'acme/api' });
    await enqueue();
    await rx.count(2);
    await h.gh.webhooks.settled();
    const seen = [
      await h.json('GET', '/_sim/hooks'),
      await h.json('GET', '/_sim/hooks/deliveries'),
      await h.json('GET', '/_sim/hooks/deliveries/2'),
      await h.json('GET', `/repos/acme/api/hooks/${id}`),
      await h.json('GET', '/repos/acme/api/hooks'),
      await h.json('GET', `/repos/acme/api/hooks/${id}/deliveries`),
      await h.json('GET', `/repos/acme/api/hooks/${id}/deliveries/2`),
    ];
    for (const res of seen) {
      expect(res.status).toBe(200);
      expect(JSON.stringify(res.body)).not.toContain(SECRET);
    }
    expect((seen[0]?.body as { hooks: unknown[] }).hooks[0]).toMatchObject({ secretSet: true });
  });

  it('refuses bad hooks with 422 and makes nothing', async () => {
    await start();
    const bad = [
      { repository: 'acme/api', url: 'ftp://example.invalid/x' },
      { repository: 'acme/api', url: 'not a url' },
      { repository: 'acme/api', url: rx.url, events: [] },
      { repository: 'acme/api', url: rx.url, events: ['Push Event'] },
      { repository: 'acme/api', url: rx.url, contentType: 'xml' },
      { repository: 'acme/api', url: rx.url, secret: 42 },
      { url: rx.url },
    ];
    for (const body of bad) {
      expect((await h.json('POST', '/_sim/hooks', body)).status).toBe(422);
    }
    expect((await h.json<{ hooks: unknown[] }>('GET', '/_sim/hooks')).body.hooks).toEqual([]);
    await hook({ repository: 'acme/api' });
    const again = await h.json<{ message: string }>('POST', '/_sim/hooks', {
      repository: 'acme/api',
      url: rx.url,
    });
    expect(again.status).toBe(422);
    expect(again.body.message).toContain('Hook already exists on this repository');
    expect(rx.received).toHaveLength(1);
  });
});

describe('failed deliveries and redelivery', () => {
  it('a redelivery is a new delivery with the same X-GitHub-Delivery, payload and valid signature', async () => {
    await start();
    await hook({ repository: 'acme/api' });
    const job = await enqueue();
    const [, first] = (await rx.count(2)) as [Received, Received];
    await h.gh.webhooks.settled();
    const [original] = await deliveries(`?jobId=${job.id}`);
    expect(original).toMatchObject({ state: 'delivered', status: 'OK', statusCode: 200 });

    const res = await h.json<Delivery>('POST', `/_sim/hooks/deliveries/${original?.id}/redeliver`);
    expect(res.status).toBe(202);
    expect(res.body).toMatchObject({ guid: original?.guid, redelivery: true });
    expect(res.body.id).not.toBe(original?.id);
    const [, , again] = await rx.count(3);
    expect(again?.headers['x-github-delivery']).toBe(first.headers['x-github-delivery']);
    expect(again?.body).toBe(first.body);
    expect(await checkSignature(again as Received)).toBe(true);
    expect((await h.json('POST', '/_sim/hooks/deliveries/999/redeliver')).status).toBe(404);
  });

  it('a failed delivery is recorded and not retried: 5xx, refused connection, timeout', async () => {
    await start({ webhookTimeoutMs: 200 });
    await hook({ repository: 'acme/api' });
    rx.answer = 500;
    const a = await enqueue();
    await rx.count(2);
    await h.gh.webhooks.settled();
    rx.answer = 'hang';
    const b = await enqueue();
    await rx.count(3);
    await h.gh.webhooks.settled();
    const [da] = await deliveries(`?jobId=${a.id}`);
    const [db] = await deliveries(`?jobId=${b.id}`);
    expect(da).toMatchObject({
      state: 'failed',
      status: 'Invalid HTTP Response: 500',
      statusCode: 500,
    });
    expect(db).toMatchObject({ state: 'failed', status: 'timed out', statusCode: 0 });
    // Nothing retried: still one request per delivery.
    expect(rx.received).toHaveLength(3);

    await rx.close();
    const c = await enqueue();
    await h.gh.webhooks.settled();
    const [dc] = await deliveries(`?jobId=${c.id}`);
    expect(dc).toMatchObject({ state: 'failed', status: 'failed to connect to host' });
    const hooks = await h.json<{ hooks: { lastResponse: { status: string } }[] }>(
      'GET',
      '/_sim/hooks',
    );
    expect(hooks.body.hooks[0]?.lastResponse.status).toBe('failed');

    // A receiver on another port: a new hook for it is delivered to.
    rx = await startReceiver();
    await h.json('DELETE', '/_sim/hooks/1');
    const hookId = await hook({ repository: 'acme/api' });
    const d = await enqueue();
    await rx.count(2);
    await h.gh.webhooks.settled();
    const [dd] = await deliveries(`?jobId=${d.id}&hookId=${hookId}`);
    expect(dd?.state).toBe('delivered');
    // A delivery of a deleted hook cannot be redelivered.
    expect((await h.json('POST', `/_sim/hooks/deliveries/${dc?.id}/redeliver`)).status).toBe(404);
  });
});

describe('delivery faults', () => {
  it('drops the next N deliveries: never sent, logged as dropped, redeliverable', async () => {
    await start();
    const hookId = await hook({ repository: 'acme/api' });
    const faults = await h.json('PATCH', '/_sim/hooks/faults', { dropNext: 2 });
    expect(faults.body).toMatchObject({ dropNext: 2 });
    const job = await enqueue(); // queued: dropped
    await h.json('POST', `/_sim/jobs/${job.id}/cancel`); // completed: dropped
    const kept = await enqueue(); // queued: sent
    await rx.count(2);
    await h.gh.webhooks.settled();
    expect(rx.received).toHaveLength(2);
    expect(json(rx.received[1] as Received)['workflow_job']).toMatchObject({ id: kept.id });
    expect((await h.json('GET', '/_sim/hooks/faults')).body).toMatchObject({ dropNext: 0 });

    const dropped = await deliveries(`?jobId=${job.id}`);
    expect(dropped.map((d) => [d.action, d.state])).toEqual([
      ['queued', 'dropped'],
      ['completed', 'dropped'],
    ]);
    // GitHub's delivery list shows what was attempted; a dropped delivery never was.
    const rest = await h.json<{ guid: string }[]>(
      'GET',
      `/repos/acme/api/hooks/${hookId}/deliveries`,
    );
    expect(rest.body.map((d) => d.guid)).not.toContain(dropped[0]?.guid);

    await h.json('POST', `/_sim/hooks/deliveries/${dropped[0]?.id}/redeliver`);
    const [, , late] = await rx.count(3);
    expect(late?.headers['x-github-delivery']).toBe(dropped[0]?.guid);
    expect(json(late as Received)).toMatchObject({
      action: 'queued',
      workflow_job: { id: job.id },
    });
  });

  it('drops a share of deliveries, by the sim’s random source', async () => {
    const draws = [0.1, 0.9, 0.4, 0.6];
    await start({ random: () => draws.shift() ?? 1 });
    await hook({ repository: 'acme/api' });
    await h.json('PUT', '/_sim/hooks/faults', { dropRate: 0.5 });
    const jobs = [await enqueue(), await enqueue(), await enqueue(), await enqueue()];
    await h.gh.webhooks.settled();
    const states = [];
    for (const j of jobs) states.push((await deliveries(`?jobId=${j.id}`))[0]?.state);
    expect(states).toEqual(['dropped', 'delivered', 'dropped', 'delivered']);
  });

  it('sends a delivery twice with the same X-GitHub-Delivery', async () => {
    await start();
    await hook({ repository: 'acme/api' });
    await h.json('PATCH', '/_sim/hooks/faults', { duplicateNext: 1 });
    const job = await enqueue();
    const [, one, two] = await rx.count(3);
    expect(one?.headers['x-github-delivery']).toBe(two?.headers['x-github-delivery']);
    expect(one?.body).toBe(two?.body);
    expect(await checkSignature(two as Received)).toBe(true);
    const logged = await deliveries(`?jobId=${job.id}`);
    expect(logged.map((d) => d.duplicate)).toEqual([false, true]);
    await enqueue();
    await rx.count(4);
    await h.gh.webhooks.settled();
    expect(rx.received).toHaveLength(4);
  });

  it('delivers out of order: a held delivery follows the next one', async () => {
    await start();
    await hook({ repository: 'acme/api' });
    const runner = await connectRunner(h, { url: 'acme/api', name: 'r', labels: ['lp-pool-a'] });
    await h.json('PATCH', '/_sim/hooks/faults', { reorderNext: 1, reorderHoldMs: 60_000 });
    const job = await enqueue();
    await h.runner('POST', `/_runner/sessions/${runner.sessionId}/poll`, { secret: runner.secret });
    await rx.count(3);
    expect(actions()).toEqual(['in_progress', 'queued']);
    const logged = await deliveries(`?jobId=${job.id}`);
    expect(logged.map((d) => d.action)).toEqual(['queued', 'in_progress']);
  });

  it('delays deliveries, and says so in the log', async () => {
    await start();
    await hook({ repository: 'acme/api' });
    await h.json('PATCH', '/_sim/hooks/faults', { delayMs: 30 });
    const job = await enqueue();
    await rx.count(2);
    await h.gh.webhooks.settled();
    expect((await deliveries(`?jobId=${job.id}`))[0]).toMatchObject({
      delayedMs: 30,
      state: 'delivered',
    });
  });

  it('refuses bad fault values, PUT replaces and reset forgets hooks and faults', async () => {
    await start();
    for (const bad of [{ dropRate: 2 }, { dropNext: -1 }, { delayMs: 1.5 }, { sometimes: 1 }]) {
      expect((await h.json('PATCH', '/_sim/hooks/faults', bad)).status).toBe(422);
    }
    await h.json('PATCH', '/_sim/hooks/faults', { dropNext: 3, delayMs: 5 });
    const put = await h.json('PUT', '/_sim/hooks/faults', { duplicateRate: 0.25 });
    expect(put.body).toMatchObject({ dropNext: 0, delayMs: 0, duplicateRate: 0.25 });
    await hook({ repository: 'acme/api' });
    await h.json('POST', '/_sim/reset');
    expect((await h.json<{ hooks: unknown[] }>('GET', '/_sim/hooks')).body.hooks).toEqual([]);
    expect(await deliveries()).toEqual([]);
    expect((await h.json('GET', '/_sim/hooks/faults')).body).toMatchObject({ duplicateRate: 0 });
  });
});

describe('REST webhooks', () => {
  it('gh api style: create a repository hook, list its deliveries, redeliver one', async () => {
    await start();
    const created = await h.json<{ id: number; config: Record<string, unknown>; events: string[] }>(
      'POST',
      '/repos/acme/api/hooks',
      {
        name: 'web',
        config: { url: rx.url, content_type: 'json', secret: SECRET },
        events: ['workflow_job'],
      },
    );
    expect(created.status).toBe(201);
    expect(created.body.config).toEqual({
      url: rx.url,
      content_type: 'json',
      insecure_ssl: '0',
      secret: '********',
    });
    await rx.count(1);
    const job = await enqueue();
    await rx.count(2);
    await h.gh.webhooks.settled();
    const base = `/repos/acme/api/hooks/${created.body.id}/deliveries`;
    const list = await h.json<{ id: number; guid: string; event: string; status: string }[]>(
      'GET',
      base,
    );
    expect(list.body.map((d) => d.event)).toEqual(['workflow_job', 'ping']);
    const first = list.body[0];
    const one = await h.json<{ request: { payload: unknown } }>('GET', `${base}/${first?.id}`);
    expect(one.body.request.payload).toMatchObject({
      action: 'queued',
      workflow_job: { id: job.id },
    });
    expect((await h.json('POST', `${base}/${first?.id}/attempts`)).status).toBe(202);
    const [, , again] = await rx.count(3);
    expect(again?.headers['x-github-delivery']).toBe(first?.guid);
    await h.gh.webhooks.settled();
    const after = await h.json<{ redelivery: boolean }[]>('GET', `${base}?per_page=1`);
    expect(after.body).toHaveLength(1);
    expect(after.body[0]?.redelivery).toBe(true);
    expect(after.res.headers.get('link')).toMatch(/cursor=\d+>; rel="next"/);
  });

  it('an organization hook defaults to form and push, as GitHub’s API does; 404 elsewhere', async () => {
    await start();
    const created = await h.json<{
      id: number;
      events: string[];
      config: { content_type: string };
    }>('POST', '/orgs/acme/hooks', { name: 'web', config: { url: rx.url } });
    expect(created.body).toMatchObject({ events: ['push'], config: { content_type: 'form' } });
    await enqueue();
    await h.gh.webhooks.settled();
    expect(rx.received.map((r) => r.headers['x-github-event'])).toEqual(['ping']);
    expect((await h.json('GET', `/repos/acme/api/hooks/${created.body.id}`)).status).toBe(404);
    expect((await h.json('GET', `/orgs/acme/hooks/${created.body.id}`)).status).toBe(200);
    expect((await h.json('DELETE', `/orgs/acme/hooks/${created.body.id}`)).status).toBe(204);
    expect((await h.json('GET', `/orgs/acme/hooks/${created.body.id}`)).status).toBe(404);
  });
});
