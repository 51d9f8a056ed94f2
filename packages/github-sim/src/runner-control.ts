import { SimError } from './errors.js';
import { field } from './http-io.js';
import { NO_RUNNER_FAULTS, mergeRunnerFaults } from './runner-faults.js';
import type { GitHubSimulator } from './simulator.js';

/**
 * The runner-facing part of the control API (see the package README):
 *
 * - `GET/PUT/PATCH /_sim/runner-faults`: situations of the runner-facing service
 *   (`minRunnerVersion`, `pollUnauthorizedNext`, `pollServerErrorNext`, `sessionServerErrorNext`);
 *   `PUT` replaces, `PATCH` merges.
 * - `POST /_sim/runners/{id}/update` `{targetVersion?}`: the runner's next poll answers with a
 *   self-update (its listener exits 3, or 4 when ephemeral). 409 for a `--disableupdate` runner.
 *
 * Answers `undefined` for any other path, so the caller routes on.
 */
export function routeRunnerControl(
  sim: GitHubSimulator,
  method: string,
  path: string,
  body: unknown,
): { status: number; body?: unknown } | undefined {
  if (path === '/_sim/runner-faults') {
    if (method === 'GET') return { status: 200, body: sim.runnerFaults };
    if (method === 'PUT' || method === 'PATCH') {
      const base = method === 'PUT' ? NO_RUNNER_FAULTS : sim.runnerFaults;
      const merged = mergeRunnerFaults(base, (body ?? {}) as Record<string, unknown>);
      if (typeof merged === 'string') throw new SimError('SIM_INVALID', merged);
      sim.runnerFaults = merged;
      return { status: 200, body: merged };
    }
    return undefined;
  }
  const m = /^\/_sim\/runners\/(\d+)\/update$/.exec(path);
  if (m !== null && method === 'POST') {
    const target = field(body, 'targetVersion') ?? '9.999.0';
    if (typeof target !== 'string' || !/^\d+(\.\d+){0,3}$/.test(target))
      throw new SimError('SIM_INVALID', '"targetVersion" must be a version such as "2.331.0"');
    const r = sim.requestUpdate(Number(m[1]), target);
    return { status: 202, body: { runnerId: r.id, targetVersion: target } };
  }
  return undefined;
}
