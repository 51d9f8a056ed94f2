/**
 * `POST /v1/github/webhook` against a real coordinator on loopback: each forged or unwanted
 * delivery (no signature, a bad one, the wrong secret, a tampered body, a replayed delivery id,
 * another event) is refused or ignored as docs/webhooks.md says, audited as one record per source
 * and minute, and leaves the job store as it was. A genuine delivery needs no bearer token.
 */
import { createHmac, randomUUID } from 'node:crypto';
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { startHarness, type Harness } from './harness.js';

const SECRET = 'correct-horse-battery-staple-0123456789';

let h: Harness | undefined;
const dirs: string[] = [];
afterEach(async () => {
  await h?.close();
  h = undefined;
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

function secretFile(secret: string, mode = 0o600): string {
  const dir = mkdtempSync(join(tmpdir(), 'lp-hook-'));
  dirs.push(dir);
  const file = join(dir, 'webhook.secret');
  writeFileSync(file, `${secret}\n`);
  chmodSync(file, mode);
  return file;
}

async function harness(extra = ''): Promise<Harness> {
  h = await startHarness({
    yaml: `github: { webhook: { secretFile: ${secretFile(SECRET)}, maxBodyBytes: 4096 } }\n${extra}`,
  });
  return h;
}

/** A `workflow_job` body as GitHub sends it. */
function workflowJob(action: string, over: Record<string, unknown> = {}): string {
  return JSON.stringify({
    action,
    workflow_job: {
      id: 9001,
      run_id: 900,
      run_attempt: 1,
      name: 'build',
      workflow_name: 'CI',
      status: action,
      conclusion: null,
      labels: ['lp-pool-build'],
      runner_id: null,
      runner_name: null,
      runner_group_id: null,
      runner_group_name: null,
      created_at: '2026-01-01T00:00:00Z',
      started_at: '2026-01-01T00:00:00Z',
      completed_at: null,
      html_url: 'https://github.com/acme/api/actions/runs/900/job/9001',
      ...over,
    },
    repository: { full_name: 'acme/api' },
    sender: { login: 'octocat' },
  });
}

function sign(body: string, secret = SECRET): string {
  return `sha256=${createHmac('sha256', secret).update(body).digest('hex')}`;
}

interface Delivery {
  body: string;
  event?: string;
  id?: string;
  signature?: string | null;
  token?: string | undefined;
}

async function deliver(
  d: Delivery,
): Promise<{ status: number; body: Record<string, unknown>; code: unknown }> {
  const headers: Record<string, string> = {
    'x-github-event': d.event ?? 'workflow_job',
    'x-github-delivery': d.id ?? randomUUID(),
    'user-agent': 'GitHub-Hookshot/test',
  };
  const signature = d.signature === undefined ? sign(d.body) : d.signature;
  if (signature !== null) headers['x-hub-signature-256'] = signature;
  const r = await h!.api('POST', '/v1/github/webhook', { raw: d.body, headers, token: d.token });
  return { ...r, code: (r.body.error as { code?: unknown } | undefined)?.code };
}

async function auditOf(action: string) {
  await h!.coordinator.server.guard.tally.flush();
  return (await h!.coordinator.store.listAudit({ limit: 1000 })).filter((r) => r.action === action);
}

describe('GitHub webhook deliveries', () => {
  it('takes a signed workflow_job delivery without a bearer token, and moves the job forward', async () => {
    await harness();
    const queued = await deliver({ body: workflowJob('queued'), token: undefined });
    expect(queued).toMatchObject({ status: 200, body: { outcome: 'new', jobId: 9001 } });
    const started = await deliver({
      body: workflowJob('in_progress', {
        runner_id: 4,
        runner_name: 'someone-elses-runner',
        started_at: '2026-01-01T00:00:30Z',
      }),
    });
    expect(started.body.outcome).toBe('advanced');
    expect(await h!.coordinator.store.getJob(9001)).toMatchObject({
      status: 'in_progress',
      runnerName: 'someone-elses-runner',
      waitSec: 30,
    });
    // A queued word arriving late never moves it back.
    expect((await deliver({ body: workflowJob('queued') })).body.outcome).toBe('stale');
    expect((await h!.coordinator.store.getJob(9001))?.status).toBe('in_progress');
  });

  it('refuses a delivery with no signature, a malformed one, the wrong secret or a tampered body, and audits them per source and minute', async () => {
    await harness();
    const body = workflowJob('queued');
    const attempts: [Delivery, string][] = [
      [{ body, signature: null }, 'LP_UNAUTHENTICATED'],
      [{ body, signature: '' }, 'LP_UNAUTHENTICATED'],
      [{ body, signature: 'sha1=0123' }, 'LP_SIGNATURE_INVALID'],
      [{ body, signature: sign(body).toUpperCase() }, 'LP_SIGNATURE_INVALID'],
      [{ body, signature: `sha256=${'0'.repeat(64)}` }, 'LP_SIGNATURE_INVALID'],
      [{ body, signature: sign(body, 'the-wrong-secret-0123456789') }, 'LP_SIGNATURE_INVALID'],
      [
        { body: body.replace('lp-pool-build', 'lp-pool-other'), signature: sign(body) },
        'LP_SIGNATURE_INVALID',
      ],
      // A bearer token is no way around the signature, even an admin's.
      [{ body, signature: null, token: h!.adminToken }, 'LP_UNAUTHENTICATED'],
    ];
    for (const [d, code] of attempts) {
      const r = await deliver(d);
      expect({ status: r.status, code }).toEqual({ status: 401, code: r.code });
    }
    expect(await h!.coordinator.store.getJob(9001)).toBeUndefined();
    const [record, ...more] = await auditOf('auth.refused');
    expect(more).toEqual([]);
    expect(record).toMatchObject({
      actor: 'anonymous',
      outcome: 'refused',
      params: {
        source: '127.0.0.1',
        count: attempts.length,
        kinds: { 'github-webhook': attempts.length },
        codes: { LP_UNAUTHENTICATED: 3, LP_SIGNATURE_INVALID: 5 },
      },
    });
    // Nothing of the secret or the body reaches the audit trail.
    expect(JSON.stringify(record)).not.toContain(SECRET);
    expect(JSON.stringify(record)).not.toContain('lp-pool');
  });

  it('ignores a replayed delivery id, even with another signed body, and audits the replays', async () => {
    await harness();
    const id = randomUUID();
    const done = workflowJob('completed', {
      conclusion: 'success',
      runner_id: 4,
      runner_name: 'r',
    });
    expect((await deliver({ id, body: done })).body.outcome).toBe('new');
    for (const body of [done, done, workflowJob('queued')]) {
      expect(await deliver({ id, body })).toMatchObject({
        status: 200,
        body: { outcome: 'duplicate' },
      });
    }
    expect((await h!.coordinator.store.getJob(9001))?.status).toBe('completed');
    const [record] = await auditOf('github.webhook.replayed');
    expect(record).toMatchObject({
      outcome: 'refused',
      code: 'LP_REPLAYED',
      params: { count: 3, kinds: { 'github-webhook': 3 } },
    });
    expect(record?.message).toMatch(/^Ignored 3 webhook deliveries whose delivery ids/);
  });

  it('answers a ping, ignores other events with 202, and counts them', async () => {
    await harness();
    const ping = await deliver({ event: 'ping', body: JSON.stringify({ zen: 'Keep it simple.' }) });
    expect(ping).toMatchObject({ status: 200, body: { outcome: 'ping' } });
    for (const event of ['push', 'push', 'workflow_run']) {
      const r = await deliver({ event, body: workflowJob('queued') });
      expect(r).toMatchObject({ status: 202, body: { outcome: 'ignored' } });
    }
    expect(await h!.coordinator.store.getJob(9001)).toBeUndefined();
    expect(h!.coordinator.jobs.webhookStats()).toMatchObject({
      deliveries: 4,
      ignoredEvents: { push: 2, workflow_run: 1 },
    });
    const [record] = await auditOf('github.webhook.ignored');
    expect(record).toMatchObject({
      outcome: 'ok',
      params: { count: 3, kinds: { 'event:push': 2, 'event:workflow_run': 1 } },
    });
  });

  it('refuses a signed delivery that is not a workflow_job payload, without taking its id', async () => {
    await harness();
    const id = randomUUID();
    const bad = workflowJob('queued').replace('"labels":["lp-pool-build"]', '"labels":"x"');
    expect(await deliver({ id, body: bad })).toMatchObject({ status: 400, code: 'LP_USAGE' });
    expect(await deliver({ id: 'not a guid!', body: workflowJob('queued') })).toMatchObject({
      status: 400,
      code: 'LP_USAGE',
    });
    // The same delivery, fixed and redelivered by GitHub, is taken.
    expect((await deliver({ id, body: workflowJob('queued') })).body.outcome).toBe('new');
  });

  it('refuses a body past the cap before reading more, and a source past its refusal budget', async () => {
    await harness('limits: { refusalsPerMinute: 3 }\n');
    const big = workflowJob('queued', { steps: 'x'.repeat(5000) });
    expect(await deliver({ body: big })).toMatchObject({ status: 413, code: 'LP_USAGE' });
    for (let i = 0; i < 2; i++) {
      expect((await deliver({ body: 'x', signature: `sha256=${'1'.repeat(64)}` })).status).toBe(
        401,
      );
    }
    // Past its budget the source gets 429 even for a genuine delivery, until its minute is over.
    expect(await deliver({ body: workflowJob('queued') })).toMatchObject({
      status: 429,
      code: 'LP_RATE_LIMITED',
    });
  });

  it('answers 404 when no webhook secret is configured, counted like any refusal', async () => {
    h = await startHarness();
    expect(await deliver({ body: workflowJob('queued') })).toMatchObject({
      status: 404,
      code: 'LP_NOT_FOUND',
    });
    const [record] = await auditOf('auth.refused');
    expect(record?.params).toMatchObject({ kinds: { 'github-webhook': 1 } });
  });

  it('refuses to start with a secret file others can read, or a secret too short to resist guessing', async () => {
    await expect(
      startHarness({
        yaml: `github: { webhook: { secretFile: ${secretFile(SECRET, 0o644)} } }\n`,
      }),
    ).rejects.toMatchObject({ code: 'LP_CONFIG_INVALID', message: /other users can access it/ });
    await expect(
      startHarness({ yaml: `github: { webhook: { secretFile: ${secretFile('short')} } }\n` }),
    ).rejects.toMatchObject({ code: 'LP_CONFIG_INVALID', message: /shorter than 16/ });
  });
});
