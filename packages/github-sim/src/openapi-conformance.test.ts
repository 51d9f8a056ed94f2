import { createSign, generateKeyPairSync } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { Ajv, type ValidateFunction } from 'ajv';
import addFormatsModule from 'ajv-formats';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { appFromPem } from './auth.js';
import { type Harness, connectRunner, startHarness } from './harness.test-helper.js';
import { startReceiver } from './webhook-receiver.test-helper.js';

// Every response of every public operation the sim serves is checked against GitHub's published
// OpenAPI description: status documented for the operation, body valid against its schema.

interface OpenApiOperation {
  operationId: string;
  responses: Record<string, { content?: { 'application/json'?: { schema: object } } }>;
}

const specPath = createRequire(import.meta.url).resolve(
  '@octokit/openapi/generated/api.github.com.deref.json',
);
const spec = JSON.parse(readFileSync(specPath, 'utf8')) as {
  paths: Record<string, Record<string, unknown>>;
};
const operations = new Map<string, { path: string; method: string; op: OpenApiOperation }>();
for (const [path, item] of Object.entries(spec.paths)) {
  for (const [method, op] of Object.entries(item)) {
    const o = op as Partial<OpenApiOperation>;
    if (typeof o === 'object' && typeof o.operationId === 'string') {
      operations.set(o.operationId, { path, method, op: o as OpenApiOperation });
    }
  }
}

// The workflow endpoints the sim serves: workflows, their dispatch, runs and jobs.
const WORKFLOW_OPERATIONS = new Set(
  [
    'get /actions/workflows',
    'get /actions/workflows/{workflow_id}',
    'post /actions/workflows/{workflow_id}/dispatches',
    'get /actions/workflows/{workflow_id}/runs',
    'get /actions/runs',
    'get /actions/runs/{run_id}',
    'get /actions/runs/{run_id}/jobs',
    'get /actions/jobs/{job_id}',
  ].map((s) => s.replace(' ', ' /repos/{owner}/{repo}')),
);

// The webhook endpoints the sim serves, of both scopes: all but changing a hook and test pushes.
const HOOK_OPERATIONS = new Set(
  [
    'get /hooks',
    'post /hooks',
    'get /hooks/{hook_id}',
    'delete /hooks/{hook_id}',
    'post /hooks/{hook_id}/pings',
    'get /hooks/{hook_id}/deliveries',
    'get /hooks/{hook_id}/deliveries/{delivery_id}',
    'post /hooks/{hook_id}/deliveries/{delivery_id}/attempts',
  ].flatMap((s) => ['/repos/{owner}/{repo}', '/orgs/{org}'].map((b) => s.replace(' ', ` ${b}`))),
);

// The operations the sim serves: the runner endpoints (both scopes) except the runner
// application downloads, listing and reading an organization's runner groups, the workflow
// and webhook endpoints above, and the installation token endpoint of the App flow.
const served = [...operations.entries()]
  .filter(
    ([, v]) =>
      WORKFLOW_OPERATIONS.has(`${v.method} ${v.path}`) ||
      HOOK_OPERATIONS.has(`${v.method} ${v.path}`) ||
      (/^\/(repos\/\{owner\}\/\{repo\}|orgs\/\{org\})\/actions\/runners/.test(v.path) &&
        !v.path.endsWith('/downloads')) ||
      (v.method === 'get' &&
        (v.path === '/orgs/{org}/actions/runner-groups' ||
          v.path === '/orgs/{org}/actions/runner-groups/{runner_group_id}')) ||
      v.path === '/app/installations/{installation_id}/access_tokens',
  )
  .map(([id]) => id)
  .sort();

// ajv-formats is CommonJS with a default export.
const addFormats = addFormatsModule as unknown as (ajv: Ajv) => Ajv;
const ajv = addFormats(new Ajv({ strict: false, allErrors: true }));
const validators = new Map<string, ValidateFunction>();
const checked = new Map<string, Set<string>>();

/**
 * OpenAPI 3.0's `nullable: true` admits null even beside an `enum` that does not list it (as
 * the spec clarified in 3.0.3: a job's `conclusion` is null while it runs); Ajv reads `enum`
 * strictly, so null is added to such enums before compiling.
 */
function nullableEnums(schema: object, seen = new WeakSet<object>()): object {
  if (seen.has(schema)) return schema;
  seen.add(schema);
  const s = schema as { nullable?: unknown; enum?: unknown[] };
  if (s.nullable === true && Array.isArray(s.enum) && !s.enum.includes(null)) s.enum.push(null);
  for (const v of Object.values(schema)) {
    if (typeof v === 'object' && v !== null) nullableEnums(v as object, seen);
  }
  return schema;
}

function validate(operationId: string, status: number, body: unknown): void {
  const entry = operations.get(operationId);
  expect(entry, `operation ${operationId} exists in the OpenAPI description`).toBeDefined();
  const response = entry?.op.responses[String(status)];
  expect(response, `${operationId} documents status ${status}`).toBeDefined();
  const schema = response?.content?.['application/json']?.schema;
  if (schema === undefined) {
    expect(body, `${operationId} ${status} has no body`).toBeUndefined();
  } else {
    const key = `${operationId} ${status}`;
    let v = validators.get(key);
    if (v === undefined) {
      v = ajv.compile(nullableEnums(schema));
      validators.set(key, v);
    }
    const ok = v(body);
    expect(ok, `${key}: ${ajv.errorsText(v.errors)}`).toBe(true);
  }
  const statuses = checked.get(operationId) ?? new Set<string>();
  statuses.add(String(status));
  checked.set(operationId, statuses);
}

let h: Harness;
const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });

beforeAll(async () => {
  h = await startHarness({
    apps: [appFromPem('77', publicKey.export({ type: 'spki', format: 'pem' }).toString())],
  });
});
afterAll(async () => {
  await h.close();
});

async function call(
  operationId: string,
  method: string,
  path: string,
  body?: unknown,
): Promise<unknown> {
  const res = await h.api(method, path, { body });
  const text = await res.text();
  const parsed: unknown = text === '' ? undefined : JSON.parse(text);
  validate(operationId, res.status, parsed);
  return parsed;
}

describe.each([
  { kind: 'repo', base: '/repos/acme/api/actions/runners', url: 'acme/api' },
  { kind: 'org', base: '/orgs/acme/actions/runners', url: 'acme' },
])('OpenAPI conformance, $kind scope', ({ kind, base, url }) => {
  const k = kind;
  it('registration and remove tokens', async () => {
    await call(`actions/create-registration-token-for-${k}`, 'POST', `${base}/registration-token`);
    await call(`actions/create-remove-token-for-${k}`, 'POST', `${base}/remove-token`);
  });

  it('JIT config: 201, 409, 422, 404', async () => {
    const id = `actions/generate-runner-jitconfig-for-${k}`;
    await call(id, 'POST', `${base}/generate-jitconfig`, {
      name: `jit-${k}`,
      runner_group_id: 1,
      labels: ['a'],
    });
    await call(id, 'POST', `${base}/generate-jitconfig`, {
      name: `jit-${k}`,
      runner_group_id: 1,
      labels: ['a'],
    });
    await call(id, 'POST', `${base}/generate-jitconfig`, {
      name: '',
      runner_group_id: 1,
      labels: [],
    });
    await call(id, 'POST', `${base}/generate-jitconfig`, {
      name: 'other',
      runner_group_id: 5,
      labels: ['a'],
    });
  });

  it('list, get, labels and delete, with success and error responses', async () => {
    const r = await connectRunner(h, { url, name: `conn-${k}`, labels: ['x'] });
    await h.json('POST', '/_sim/runners', {
      ...(k === 'repo' ? { repository: url } : { organization: url }),
      name: `busy-${k}`,
      labels: [],
      busy: true,
    });
    const list = (await call(
      `actions/list-self-hosted-runners-for-${k}`,
      'GET',
      `${base}?per_page=1&page=2`,
    )) as {
      runners: { id: number; name: string }[];
    };
    expect(list.runners).toHaveLength(1);
    await call(`actions/list-self-hosted-runners-for-${k}`, 'GET', `${base}?name=conn-${k}`);
    // A runner with a job in progress and its lagging busy flag.
    await h.json('POST', '/_sim/jobs', {
      ...(k === 'repo' ? { repository: url } : { organization: url }),
      labels: ['x'],
      durationMs: 1,
    });
    await h.runner('POST', `/_runner/sessions/${r.sessionId}/poll`, { secret: r.secret });
    await call(`actions/get-self-hosted-runner-for-${k}`, 'GET', `${base}/${r.id}`);

    const labels = `${base}/${r.id}/labels`;
    await call(`actions/list-labels-for-self-hosted-runner-for-${k}`, 'GET', labels);
    await call(
      `actions/list-labels-for-self-hosted-runner-for-${k}`,
      'GET',
      `${base}/99999/labels`,
    );
    await call(`actions/add-custom-labels-to-self-hosted-runner-for-${k}`, 'POST', labels, {
      labels: ['y', 'z'],
    });
    await call(`actions/add-custom-labels-to-self-hosted-runner-for-${k}`, 'POST', labels, {
      labels: [],
    });
    await call(
      `actions/add-custom-labels-to-self-hosted-runner-for-${k}`,
      'POST',
      `${base}/99999/labels`,
      { labels: ['a'] },
    );
    await call(`actions/set-custom-labels-for-self-hosted-runner-for-${k}`, 'PUT', labels, {
      labels: ['x', 'w'],
    });
    await call(`actions/set-custom-labels-for-self-hosted-runner-for-${k}`, 'PUT', labels, {
      labels: 'nope',
    });
    await call(
      `actions/set-custom-labels-for-self-hosted-runner-for-${k}`,
      'PUT',
      `${base}/99999/labels`,
      { labels: [] },
    );
    await call(
      `actions/remove-custom-label-from-self-hosted-runner-for-${k}`,
      'DELETE',
      `${labels}/w`,
    );
    await call(
      `actions/remove-custom-label-from-self-hosted-runner-for-${k}`,
      'DELETE',
      `${labels}/w`,
    );
    await call(
      `actions/remove-custom-label-from-self-hosted-runner-for-${k}`,
      'DELETE',
      `${labels}/X64`,
    );
    await call(
      `actions/remove-all-custom-labels-from-self-hosted-runner-for-${k}`,
      'DELETE',
      labels,
    );
    await call(
      `actions/remove-all-custom-labels-from-self-hosted-runner-for-${k}`,
      'DELETE',
      `${base}/99999/labels`,
    );

    await call(`actions/delete-self-hosted-runner-from-${k}`, 'DELETE', `${base}/${r.id}`);
    const busy = await h.json<{ runners: { id: number }[] }>('GET', `${base}?name=busy-${k}`);
    await call(
      `actions/delete-self-hosted-runner-from-${k}`,
      'DELETE',
      `${base}/${busy.body.runners[0]?.id ?? 0}`,
    );
    const unbusy = await h.json<{ runners: { id: number }[] }>('GET', `${base}?name=jit-${k}`);
    await call(
      `actions/delete-self-hosted-runner-from-${k}`,
      'DELETE',
      `${base}/${unbusy.body.runners[0]?.id ?? 0}`,
    );
  });
});

describe('OpenAPI conformance, runner groups', () => {
  it('lists and reads the default group and groups of every visibility', async () => {
    for (const visibility of ['all', 'selected', 'private']) {
      await h.json('POST', '/_sim/runner-groups', {
        organization: 'groups',
        name: `g-${visibility}`,
        visibility,
      });
    }
    const list = (await call(
      'actions/list-self-hosted-runner-groups-for-org',
      'GET',
      '/orgs/groups/actions/runner-groups?per_page=2',
    )) as { runner_groups: { id: number }[] };
    expect(list.runner_groups).toHaveLength(2);
    for (const id of [1, 2, 3, 4]) {
      await call(
        'actions/get-self-hosted-runner-group-for-org',
        'GET',
        `/orgs/groups/actions/runner-groups/${id}`,
      );
    }
  });

  it('a runner in a group conforms, and reports any status string GitHub may send', async () => {
    const r = await h.json<{ id: number }>('POST', '/_sim/runners', {
      organization: 'groups',
      name: 'odd-status',
      labels: [],
    });
    await h.json('PUT', `/_sim/runners/${r.body.id}/status`, { status: 'maintenance' });
    const got = (await call(
      'actions/get-self-hosted-runner-for-org',
      'GET',
      `/orgs/groups/actions/runners/${r.body.id}`,
    )) as { status: string };
    expect(got.status).toBe('maintenance');
  });
});

describe('OpenAPI conformance, workflows, runs and jobs', () => {
  it('every run and job state: queued, in progress, succeeded, failed, cancelled', async () => {
    await h.json('POST', '/_sim/workflows', {
      repository: 'wf/app',
      path: '.github/workflows/launchplane-smoke.yml',
      runsOnInput: 'runner-label',
    });
    await h.json('POST', '/_sim/workflows', {
      repository: 'wf/app',
      path: '.github/workflows/fails.yml',
      name: 'Fails',
      labels: ['f'],
      conclusion: 'failure',
    });
    const base = '/repos/wf/app/actions';
    await call('actions/list-repo-workflows', 'GET', `${base}/workflows?per_page=1`);
    await call('actions/get-workflow', 'GET', `${base}/workflows/launchplane-smoke.yml`);
    const dispatch = 'actions/create-workflow-dispatch';
    const smoke = `${base}/workflows/launchplane-smoke.yml/dispatches`;
    await call(dispatch, 'POST', smoke, { ref: 'main', inputs: { 'runner-label': 'ok' } });
    await call(dispatch, 'POST', smoke, {
      ref: 'main',
      inputs: { 'runner-label': 'busy' },
      return_run_details: true,
    });
    await call(dispatch, 'POST', `${base}/workflows/fails.yml/dispatches`, { ref: 'main' });
    const cancelled = await h.json<{ id: number; runId: number }>('POST', '/_sim/jobs', {
      repository: 'wf/app',
      labels: ['nobody'],
    });
    await h.json('POST', `/_sim/jobs/${cancelled.body.id}/cancel`);
    await h.json('POST', '/_sim/jobs', { repository: 'wf/app', labels: ['nobody'] });

    const ok = await connectRunner(h, { url: 'wf/app', name: 'wf-ok', labels: ['ok', 'f'] });
    const busy = await connectRunner(h, { url: 'wf/app', name: 'wf-busy', labels: ['busy'] });
    for (const r of [ok, ok]) {
      const p = await h.runner('POST', `/_runner/sessions/${r.sessionId}/poll`, {
        secret: r.secret,
      });
      const job = p.body['job'] as { id: number; failSetup: boolean };
      await h.runner('POST', `/_runner/jobs/${job.id}/complete`, {
        secret: r.secret,
        body: { result: job.failSetup ? 'failed' : 'succeeded' },
      });
    }
    await h.runner('POST', `/_runner/sessions/${busy.sessionId}/poll`, { secret: busy.secret });

    const runs = (await call(
      'actions/list-workflow-runs-for-repo',
      'GET',
      `${base}/runs?per_page=100`,
    )) as { workflow_runs: { id: number; status: string; conclusion: string | null }[] };
    expect(runs.workflow_runs.map((r) => `${r.status}/${r.conclusion ?? '-'}`).sort()).toEqual([
      'completed/cancelled',
      'completed/failure',
      'completed/success',
      'in_progress/-',
      'queued/-',
    ]);
    await call(
      'actions/list-workflow-runs',
      'GET',
      `${base}/workflows/launchplane-smoke.yml/runs?status=completed&event=workflow_dispatch`,
    );
    for (const r of runs.workflow_runs) {
      await call('actions/get-workflow-run', 'GET', `${base}/runs/${r.id}`);
      const jobs = (await call(
        'actions/list-jobs-for-workflow-run',
        'GET',
        `${base}/runs/${r.id}/jobs?filter=latest`,
      )) as { jobs: { id: number }[] };
      for (const j of jobs.jobs) {
        await call('actions/get-job-for-workflow-run', 'GET', `${base}/jobs/${j.id}`);
      }
    }
  });
});

describe('OpenAPI conformance, App installation token', () => {
  it('201 with a valid JWT, 401 without, 404 for an unknown app installation', async () => {
    const now = Math.floor(h.clock.now / 1000);
    const enc = (o: object): string => Buffer.from(JSON.stringify(o)).toString('base64url');
    const input = `${enc({ alg: 'RS256', typ: 'JWT' })}.${enc({ iss: '77', iat: now - 30, exp: now + 500 })}`;
    const jwt = `${input}.${createSign('RSA-SHA256').update(input).sign(privateKey).toString('base64url')}`;
    const id = 'apps/create-installation-access-token';
    for (const [token, want] of [
      [jwt, 201],
      ['not-a-jwt', 401],
    ] as const) {
      const res = await h.api('POST', '/app/installations/5/access_tokens', { token });
      expect(res.status).toBe(want);
      validate(id, res.status, await res.json());
    }
  });
});

describe.each([
  { ns: 'repos', base: '/repos/acme/api/hooks' },
  { ns: 'orgs', base: '/orgs/acme/hooks' },
])('OpenAPI conformance, webhooks of $ns', ({ ns, base }) => {
  it('create, list, get, ping, deliveries, redeliver and delete, with their refusals', async () => {
    const rx = await startReceiver();
    try {
      const hook = (await call(`${ns}/create-webhook`, 'POST', base, {
        name: 'web',
        config: { url: rx.url, content_type: 'json', secret: 'conformance-secret' },
        events: ['workflow_job'],
      })) as { id: number };
      await call(`${ns}/create-webhook`, 'POST', base, { config: { url: 'ftp://x.invalid/' } });
      await call(`${ns}/list-webhooks`, 'GET', `${base}?per_page=1`);
      await call(`${ns}/get-webhook`, 'GET', `${base}/${hook.id}`);
      await call(`${ns}/get-webhook`, 'GET', `${base}/99999`);
      await call(`${ns}/ping-webhook`, 'POST', `${base}/${hook.id}/pings`);
      await call(`${ns}/ping-webhook`, 'POST', `${base}/99999/pings`);
      await h.json('POST', '/_sim/jobs', { repository: 'acme/api', labels: ['x'], durationMs: 1 });
      await rx.count(3);
      await h.gh.webhooks.settled();
      const deliveries = `${base}/${hook.id}/deliveries`;
      const list = (await call(
        `${ns}/list-webhook-deliveries`,
        'GET',
        `${deliveries}?per_page=2`,
      )) as { id: number; event: string }[];
      expect(list.map((d) => d.event)).toEqual(['workflow_job', 'ping']);
      await call(`${ns}/list-webhook-deliveries`, 'GET', `${deliveries}?status=sometimes`);
      await call(`${ns}/list-webhook-deliveries`, 'GET', `${deliveries}?cursor=nope`);
      for (const d of list) {
        await call(`${ns}/get-webhook-delivery`, 'GET', `${deliveries}/${d.id}`);
      }
      await call(
        `${ns}/redeliver-webhook-delivery`,
        'POST',
        `${deliveries}/${list[0]?.id}/attempts`,
      );
      await rx.count(4);
      await call(`${ns}/delete-webhook`, 'DELETE', `${base}/${hook.id}`);
      await call(`${ns}/delete-webhook`, 'DELETE', `${base}/${hook.id}`);
    } finally {
      await h.gh.webhooks.settled();
      await rx.close();
    }
  });
});

describe('coverage', () => {
  it('the schema check rejects a runner of the wrong shape', () => {
    const v = ajv.compile(
      operations.get('actions/get-self-hosted-runner-for-repo')?.op.responses['200']?.content?.[
        'application/json'
      ]?.schema ?? {},
    );
    expect(v({ id: 1, name: 'r', os: 'Linux', status: 'online', busy: 'yes', labels: [] })).toBe(
      false,
    );
    expect(v({ id: 1, name: 'r', os: 'Linux', status: 'online', labels: [] })).toBe(false);
    expect(
      v({
        id: 1,
        name: 'r',
        os: 'Linux',
        status: 'online',
        busy: false,
        labels: [{ name: 'a', type: 'x' }],
      }),
    ).toBe(false);
  });

  it('validated every operation the sim serves', () => {
    expect(served).toHaveLength(49);
    expect([...checked.keys()].sort()).toEqual(served);
    expect([...h.gh.rest.counts.keys()].sort()).toEqual(served);
  });
});
