import { LaunchplaneError } from '@launchplane/shared';
import { describe, expect, it } from 'vitest';
import type { ApiClient } from '../api-client/api-client.js';
import { applyCommand } from './apply.js';
import type { ActionReport, ControlPlan } from './control-views.js';
import { laneActionCommand } from './lane-action.js';
import { planCommand } from './plan.js';
import { smokeCommand } from './smoke.js';
import type { SmokeReport } from '../control/smoke.js';
import type { CliIo } from './output.js';

const LANE = '01hzzzzzzzzzzzzzzzzzzz0001';

/** Answers the CLI's calls from a script of responses, and records them. */
class FakeApi {
  readonly calls: { method: string; path: string; body?: unknown }[] = [];
  constructor(readonly answer: (method: string, path: string, body: unknown) => unknown) {}
  get(path: string): Promise<unknown> {
    this.calls.push({ method: 'GET', path });
    return Promise.resolve().then(() => this.answer('GET', path, undefined));
  }
  post(path: string, body: unknown = {}): Promise<unknown> {
    this.calls.push({ method: 'POST', path, body });
    return Promise.resolve().then(() => this.answer('POST', path, body));
  }
  client(): ApiClient {
    return this as unknown as ApiClient;
  }
}

function io(): CliIo & { out: string; err: string } {
  const o = { out: '', err: '' } as CliIo & { out: string; err: string };
  o.stdout = (t) => (o.out += t);
  o.stderr = (t) => (o.err += t);
  return o;
}

const PLAN: ControlPlan = {
  version: 1,
  generatedAt: 1,
  policyDigest: 'sha256:abc',
  actions: [
    {
      kind: 'create',
      id: 'create:host-a:build:1',
      hostId: 'host-a',
      pool: 'build',
      scope: { repository: 'acme/api' },
      backend: 'systemd',
      ephemeral: false,
      reason: 'pool "build" wants 1 lane(s) on host "host-a", 0 exist',
    },
  ],
  blocked: [
    {
      hostId: 'host-b',
      pool: 'build',
      count: 2,
      guardrail: 'host-offline',
      message: 'Host "host-b" has no live agent session',
    },
  ],
  unmanaged: [
    {
      runnerId: 9,
      name: 'ci-box',
      scope: 'acme/api',
      status: 'online',
      labels: [],
      reason: 'no-launchplane-label: x',
    },
  ],
  ignoredCapabilities: [
    {
      hostId: 'host-a',
      capability: 'lp-pool-deploy',
      reason: 'reserved',
      message: 'Host "host-a" reported capability "lp-pool-deploy", reserved: ignored',
    },
  ],
  degraded: ['Host "host-c" is offline: its lanes cannot be changed'],
  summary: {
    desired: 3,
    observed: 0,
    creates: 1,
    reclaims: 0,
    removes: 0,
    restarts: 0,
    repairs: 0,
    blocked: 2,
    unmanaged: 1,
  },
};

function report(over: Partial<ActionReport>): ActionReport {
  return {
    kind: 'remove',
    hostId: 'host-a',
    laneId: LANE,
    dryRun: false,
    forced: false,
    ok: true,
    outcome: 'removed',
    steps: ['quarantined runner 5 (lp-draining)'],
    commands: [],
    ...over,
  };
}

describe('launchplane plan', () => {
  it('shows actions with reasons, blocked lanes with guardrails, unmanaged runners and warnings', async () => {
    const o = io();
    const api = new FakeApi(() => PLAN);
    expect(await planCommand(o, api.client(), { json: false })).toBe(0);
    expect(o.out).toContain('create:host-a:build:1');
    expect(o.out).toMatch(/host-b\s+build\s+2\s+host-offline/);
    expect(o.out).toContain('unmanaged runners (never touched)');
    expect(o.out).toMatch(/9\s+ci-box/);
    expect(o.out).toContain('Host "host-c" is offline');
    expect(o.out).toContain('ignored host capabilities (never put on a lane)');
    expect(o.out).toMatch(/host-a\s+lp-pool-deploy\s+uses a prefix reserved for Launchplane/);
    const j = io();
    await planCommand(j, api.client(), { json: true });
    expect(JSON.parse(j.out)).toEqual(PLAN);
  });
});

describe('launchplane lane', () => {
  it('sends the timeout in seconds, follows the job and prints progress on a terminal', async () => {
    let polls = 0;
    const api = new FakeApi((method) => {
      if (method === 'POST') return { job: { laneId: LANE, mode: 'remove', running: true } };
      polls++;
      return polls < 3
        ? { job: { running: true, progress: `lane ${LANE}: host busy, GitHub idle, idle 0/3` } }
        : { job: { running: false, report: report({}) } };
    });
    const o = io();
    const status = await laneActionCommand(o, api.client(), 'remove', LANE, {
      dryRun: false,
      force: false,
      timeout: '15m',
      wait: true,
      json: false,
      progress: true,
      pollMs: 1,
    });
    expect(status).toBe(0);
    expect(api.calls[0]).toEqual({
      method: 'POST',
      path: `/v1/lanes/${LANE}/remove`,
      body: { dryRun: false, force: false, timeoutSec: 900, wait: false },
    });
    expect(o.err).toBe(`lane ${LANE}: host busy, GitHub idle, idle 0/3\n`);
    expect(o.out).toContain(`removed: lane ${LANE} on host host-a`);
  });

  it('exits 1 with the error line and hint when the saga failed', async () => {
    const failed = report({
      ok: false,
      outcome: 'timeout',
      error: {
        code: 'LP_TIMEOUT',
        message: `Lane "${LANE}" was still busy`,
        recovery: 'pass --force',
      },
    });
    const api = new FakeApi((method) =>
      method === 'POST' ? { job: { running: true } } : { job: { running: false, report: failed } },
    );
    const o = io();
    const status = await laneActionCommand(o, api.client(), 'drain', LANE, {
      dryRun: false,
      force: false,
      wait: true,
      json: true,
      progress: false,
      pollMs: 1,
    });
    expect(status).toBe(1);
    expect(o.err).toBe(`error LP_TIMEOUT: Lane "${LANE}" was still busy\nhint: pass --force\n`);
    expect(JSON.parse(o.out)).toMatchObject({ outcome: 'timeout' });
  });

  it('dry-run shows the commands that would be sent; without --wait it only starts', async () => {
    const api = new FakeApi((_method, _path, body) =>
      (body as { dryRun: boolean }).dryRun
        ? {
            report: report({
              dryRun: true,
              outcome: 'would-remove',
              commands: [{ type: 'lane.remove', laneId: LANE, dryRun: true, force: false }],
            }),
          }
        : { job: { running: true } },
    );
    const dry = io();
    expect(
      await laneActionCommand(dry, api.client(), 'remove', LANE, {
        dryRun: true,
        force: false,
        wait: false,
        json: false,
        progress: false,
      }),
    ).toBe(0);
    expect(dry.out).toContain('commands that would be sent');
    expect(dry.out).toContain('"type":"lane.remove"');
    const start = io();
    expect(
      await laneActionCommand(start, api.client(), 'remove', LANE, {
        dryRun: false,
        force: true,
        wait: false,
        json: false,
        progress: false,
      }),
    ).toBe(0);
    expect(start.out).toContain('started');
    expect(api.calls.filter((c) => c.method === 'GET')).toEqual([]);
  });

  it('refuses a bad --timeout as usage', async () => {
    const api = new FakeApi(() => ({}));
    await expect(
      laneActionCommand(io(), api.client(), 'drain', LANE, {
        dryRun: false,
        force: false,
        timeout: 'soon',
        wait: false,
        json: false,
        progress: false,
      }),
    ).rejects.toSatisfy((e: unknown) => e instanceof LaunchplaneError && e.code === 'LP_USAGE');
    expect(api.calls).toEqual([]);
  });
});

describe('launchplane apply', () => {
  it('--wait follows the apply and exits 1 with an error line per failed action', async () => {
    let polls = 0;
    const reports = [
      report({ kind: 'create', actionId: 'create:host-a:build:1', outcome: 'created' }),
      report({
        kind: 'create',
        actionId: 'create:host-a:build:2',
        ok: false,
        outcome: 'failed',
        error: { code: 'LP_TIMEOUT', message: 'did not come online', recovery: 'run lane remove' },
      }),
    ];
    const api = new FakeApi((method) => {
      if (method === 'POST') return { plan: PLAN };
      polls++;
      return {
        job: {
          running: polls < 2,
          plan: PLAN,
          total: 2,
          reports: polls < 2 ? reports.slice(0, 1) : reports,
        },
      };
    });
    const o = io();
    const status = await applyCommand(o, api.client(), {
      dryRun: false,
      wait: true,
      json: false,
      progress: true,
      pollMs: 1,
    });
    expect(status).toBe(1);
    expect(o.err).toContain('apply: 1/2 action(s) done');
    expect(o.err).toContain(
      'error LP_TIMEOUT: create:host-a:build:2: did not come online\nhint: run lane remove\n',
    );
    expect(o.out).toMatch(/create:host-a:build:1\s+created/);
  });

  it('--wait stops with LP_CONFLICT when another apply replaced the one it follows', async () => {
    const api = new FakeApi((method) =>
      method === 'POST'
        ? { plan: PLAN, jobId: 4 }
        : { job: { id: 5, running: true, plan: PLAN, total: 1, reports: [] } },
    );
    await expect(
      applyCommand(io(), api.client(), {
        dryRun: false,
        wait: true,
        json: false,
        progress: false,
        pollMs: 1,
      }),
    ).rejects.toSatisfy((e: unknown) => e instanceof LaunchplaneError && e.code === 'LP_CONFLICT');
  });

  it('--dry-run asks for a dry run and says nothing was changed', async () => {
    const api = new FakeApi(() => ({
      plan: PLAN,
      dryRun: true,
      ok: true,
      reports: [
        report({ dryRun: true, outcome: 'would-create', actionId: 'create:host-a:build:1' }),
      ],
    }));
    const o = io();
    expect(
      await applyCommand(o, api.client(), {
        dryRun: true,
        wait: false,
        json: false,
        progress: false,
      }),
    ).toBe(0);
    expect(api.calls).toEqual([{ method: 'POST', path: '/v1/apply', body: { dryRun: true } }]);
    expect(o.out).toContain('dry run: nothing was sent or changed');
  });
});

describe('launchplane smoke', () => {
  const REPORT: SmokeReport = {
    smokeId: '01hzzzzzzzzzzzzzzzzzzz0900',
    dryRun: false,
    ok: false,
    outcome: 'failed',
    hostId: 'host-a',
    repository: 'acme/api',
    backend: 'systemd',
    laneId: LANE,
    label: `lp-smoke-${LANE}`,
    workflow: {
      workflow: 'launchplane-smoke.yml',
      ref: 'main',
      runId: 7,
      jobId: 8,
      status: 'completed',
      conclusion: 'failure',
      runnerName: 'lp-host-a-lp-smoke-zzzz0001',
    },
    steps: [
      {
        name: 'guardrails',
        ok: true,
        startedAt: 0,
        durationMs: 100,
        detail: ['policy allows host "host-a"'],
      },
      {
        name: 'workflow',
        ok: false,
        startedAt: 0,
        durationMs: 9000,
        detail: ['job 8 \u001b[2Jcompleted'],
      },
    ],
    startedAt: 0,
    durationMs: 12_000,
    error: {
      code: 'LP_SMOKE_FAILED',
      message: 'Job 8 ended "failure" on the smoke lane',
      recovery: `Smoke failed at "workflow"; clean up with "launchplane lane remove ${LANE}"`,
    },
    cleanup: `launchplane lane remove ${LANE}`,
  };

  it('starts the smoke, follows it with progress, and exits 1 with the clean-up command', async () => {
    let polls = 0;
    const api = new FakeApi((method) => {
      if (method === 'POST') return { job: { smokeId: REPORT.smokeId, running: true } };
      polls++;
      return polls < 2
        ? { job: { smokeId: REPORT.smokeId, running: true, progress: 'smoke x: workflow' } }
        : { job: { smokeId: REPORT.smokeId, running: false, report: REPORT } };
    });
    const out = io();
    const code = await smokeCommand(out, api.client(), {
      host: 'host-a',
      repository: 'acme/api',
      workflow: 'launchplane-smoke.yml',
      ref: 'main',
      timeout: '10m',
      dryRun: false,
      json: false,
      progress: true,
      pollMs: 1,
    });
    expect(code).toBe(1);
    expect(api.calls[0]).toEqual({
      method: 'POST',
      path: '/v1/smoke',
      body: {
        hostId: 'host-a',
        repository: 'acme/api',
        workflow: 'launchplane-smoke.yml',
        ref: 'main',
        workflowTimeoutSec: 600,
        dryRun: false,
      },
    });
    expect(api.calls[1]).toEqual({ method: 'GET', path: `/v1/smoke/${REPORT.smokeId}` });
    expect(out.err).toContain('smoke x: workflow\n');
    expect(out.out).toContain(`cleanup: launchplane lane remove ${LANE}\n`);
    expect(out.out).toContain('FAILED workflow');
    expect(out.out).not.toContain('\u001b');
    expect(out.err).toContain('error LP_SMOKE_FAILED: Job 8 ended "failure" on the smoke lane\n');
    expect(out.err).toContain(
      `hint: Smoke failed at "workflow"; clean up with "launchplane lane remove ${LANE}"\n`,
    );
  });

  it('--dry-run --json prints the one report; a passed smoke exits 0', async () => {
    const passed = {
      ...REPORT,
      ok: true,
      outcome: 'would-run',
      dryRun: true,
      error: undefined,
      cleanup: undefined,
    };
    const api = new FakeApi(() => ({ report: passed }));
    const out = io();
    const code = await smokeCommand(out, api.client(), {
      host: 'host-a',
      repository: 'acme/api',
      dryRun: true,
      json: true,
      progress: false,
    });
    expect(code).toBe(0);
    expect(api.calls).toHaveLength(1);
    expect(JSON.parse(out.out)).toMatchObject({ outcome: 'would-run', smokeId: REPORT.smokeId });
    expect(out.err).toBe('');
  });

  it('exits 2 when the coordinator refused the request as usage (two backends, no --backend)', async () => {
    const refused = {
      ...REPORT,
      outcome: 'refused',
      steps: [REPORT.steps[0]!],
      cleanup: undefined,
      error: {
        code: 'LP_USAGE',
        message: 'Host "host-a" opts in to "systemd" and "docker": say which to smoke',
        recovery: 'Pass --backend systemd or --backend docker',
      },
    };
    const api = new FakeApi(() => ({ report: refused }));
    const out = io();
    const code = await smokeCommand(out, api.client(), {
      host: 'host-a',
      repository: 'acme/api',
      dryRun: true,
      json: false,
      progress: false,
    });
    expect(code).toBe(2);
    expect(out.err).toBe(
      'error LP_USAGE: Host "host-a" opts in to "systemd" and "docker": say which to smoke\nhint: Pass --backend systemd or --backend docker\n',
    );
  });

  it('refuses --workflow without --ref, and an unknown backend, as usage', async () => {
    const api = new FakeApi(() => ({}));
    const base = {
      host: 'host-a',
      repository: 'acme/api',
      dryRun: false,
      json: false,
      progress: false,
    };
    await expect(
      smokeCommand(io(), api.client(), { ...base, workflow: 'launchplane-smoke.yml' }),
    ).rejects.toMatchObject({ code: 'LP_USAGE' });
    await expect(
      smokeCommand(io(), api.client(), { ...base, backend: 'podman' }),
    ).rejects.toMatchObject({ code: 'LP_USAGE' });
    expect(api.calls).toEqual([]);
  });
});
