import type { IncomingMessage, ServerResponse } from 'node:http';
import { SimError } from './errors.js';
import { field, readJson, send, textField } from './http-io.js';
import { RunnerServiceError } from './runner-errors.js';
import { runnerFiles } from './runner-files.js';
import { parseRunnerUrl } from './scope.js';
import type { GitHubSimulator } from './simulator.js';

/**
 * The private protocol between the stub runner and the sim, under `/_runner/`. It stands in for
 * the Actions service and broker that the real runner talks to; its shapes are ours, not
 * GitHub's, but its refusals carry the `errorKind` the real listener acts on
 * (docs/runner-contract.md).
 *
 * - `POST /_runner/register` `{url, token, name, labels, noDefaultLabels, ephemeral, replace,
 *   disableUpdate, runnerGroup, workFolder}` → 201 `{runner, credentials, rsaParams}` (contents
 *   of `.runner`, `.credentials`, `.credentials_rsaparams`)
 * - `POST /_runner/deregister` `{token, runnerId}` → 204
 * - `POST /_runner/sessions` `{version, disableUpdate}` → 201 `{sessionId, runnerId, name,
 *   ephemeral}`; 409 `SessionConflict`; 404 `RunnerNotFound`; 401 `Unauthorized` (a used JIT
 *   config); 503 (fault `sessionServerErrorNext`)
 * - `POST /_runner/sessions/{sid}/heartbeat` → 200 `{cancelJob}`
 * - `POST /_runner/sessions/{sid}/poll` → 200 `{job}` or `{update: {targetVersion}}`, or 204
 *   after the poll wait; 404 `RunnerNotFound` or `SessionInvalid`; 403 `RunnerVersionTooOld`;
 *   401 `Unauthorized` / 503 (faults `pollUnauthorizedNext` / `pollServerErrorNext`)
 * - `POST /_runner/jobs/{id}/complete` `{result}` → 204
 * - `DELETE /_runner/sessions/{sid}` → 204
 *
 * Calls other than register/deregister carry `Authorization: RunnerSecret <secret>`. Error bodies
 * are `{message, code, errorKind?}`.
 */
export async function handleRunnerApi(
  sim: GitHubSimulator,
  req: IncomingMessage,
  res: ServerResponse,
  url: URL,
): Promise<void> {
  try {
    const out = await route(sim, req, url);
    send(res, out.status, out.body);
  } catch (err) {
    if (!(err instanceof SimError)) throw err;
    send(res, err.status, {
      message: err.message,
      code: err.code,
      ...(err instanceof RunnerServiceError ? { errorKind: err.errorKind } : {}),
    });
  }
}

const SERVER_ERROR = { status: 503, body: { message: 'Service Unavailable (injected fault)' } };

/** Spends one of the injected faults named `key`, if any is left. */
function takeFault(
  sim: GitHubSimulator,
  key: 'pollUnauthorizedNext' | 'pollServerErrorNext' | 'sessionServerErrorNext',
): boolean {
  if (sim.runnerFaults[key] <= 0) return false;
  sim.runnerFaults = { ...sim.runnerFaults, [key]: sim.runnerFaults[key] - 1 };
  return true;
}

async function route(
  sim: GitHubSimulator,
  req: IncomingMessage,
  url: URL,
): Promise<{ status: number; body?: unknown }> {
  const method = req.method ?? 'GET';
  const path = url.pathname;
  const body = method === 'POST' ? await readJson(req) : undefined;
  if (path === '/_runner/register' && method === 'POST') {
    const target = parseRunnerUrl(textField(body, 'url'));
    if (target === null)
      throw new SimError('SIM_INVALID', 'The --url must name a repository or an organization');
    const labels = field(body, 'labels');
    const runnerGroup = field(body, 'runnerGroup');
    const disableUpdate = field(body, 'disableUpdate') === true;
    const { runner, secret } = sim.register({
      token: textField(body, 'token'),
      scope: target.scope,
      name: textField(body, 'name'),
      labels: Array.isArray(labels) ? labels.map(String) : [],
      noDefaultLabels: field(body, 'noDefaultLabels') === true,
      ephemeral: field(body, 'ephemeral') === true,
      replace: field(body, 'replace') === true,
      disableUpdate,
      ...(typeof runnerGroup === 'string' && runnerGroup !== '' ? { runnerGroup } : {}),
    });
    const workFolder = field(body, 'workFolder');
    const files = runnerFiles({
      origin: target.origin,
      scope: target.scope,
      runner,
      workFolder: typeof workFolder === 'string' ? workFolder : '_work',
      secret,
      disableUpdate,
    });
    return { status: 201, body: files };
  }
  if (path === '/_runner/deregister' && method === 'POST') {
    sim.deregister(textField(body, 'token'), Number(field(body, 'runnerId')));
    return { status: 204 };
  }
  const m = /^RunnerSecret\s+(\S+)$/.exec(req.headers.authorization ?? '');
  if (m?.[1] === undefined)
    throw new RunnerServiceError('Unauthorized', 'Runner credentials required');
  const runner = sim.authenticateRunner(m[1]);
  if (path === '/_runner/sessions' && method === 'POST') {
    if (takeFault(sim, 'sessionServerErrorNext')) return SERVER_ERROR;
    const version = field(body, 'version');
    const sessionId = sim.openSession(runner, typeof version === 'string' ? version : 'unknown', {
      disableUpdate: field(body, 'disableUpdate') === true,
    });
    return {
      status: 201,
      body: { sessionId, runnerId: runner.id, name: runner.name, ephemeral: runner.ephemeral },
    };
  }
  const s = /^\/_runner\/sessions\/([^/]+)(\/heartbeat|\/poll)?$/.exec(path);
  if (s?.[1] !== undefined) {
    const sid = s[1];
    if (method === 'DELETE' && s[2] === undefined) {
      sim.closeSession(runner, sid);
      return { status: 204 };
    }
    if (method === 'POST' && s[2] === '/heartbeat')
      return { status: 200, body: sim.heartbeat(runner, sid) };
    if (method === 'POST' && s[2] === '/poll') {
      if (takeFault(sim, 'pollServerErrorNext')) return SERVER_ERROR;
      if (takeFault(sim, 'pollUnauthorizedNext'))
        throw new RunnerServiceError(
          'Unauthorized',
          'The runner credential was refused (injected fault)',
        );
      const message = await sim.poll(runner, sid);
      return message === null ? { status: 204 } : { status: 200, body: message };
    }
  }
  const j = /^\/_runner\/jobs\/(\d+)\/complete$/.exec(path);
  if (j !== null && method === 'POST') {
    const result = field(body, 'result');
    if (result !== 'succeeded' && result !== 'failed' && result !== 'cancelled') {
      throw new SimError('SIM_INVALID', 'result must be succeeded, failed or cancelled');
    }
    sim.completeJob(runner, Number(j[1]), result);
    return { status: 204 };
  }
  throw new SimError('SIM_NOT_FOUND', 'Not Found');
}
