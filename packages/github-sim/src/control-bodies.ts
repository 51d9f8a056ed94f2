/**
 * Checks of the JSON bodies the control API takes, shared by its endpoints: each refuses bad
 * input with a `SIM_INVALID` (422) naming the field, before anything is made.
 */
import { labelProblem } from './domain/labels.js';
import { SimError } from './errors.js';
import { field } from './http-io.js';
import type { Scope } from './scope.js';
import type { JobInput } from './simulator.js';

/** `{repository: "owner/repo"}` or `{organization: "org"}` (whose jobs run in `org/.github`). */
export function scopeOf(body: unknown): { scope: Scope; repository: string } {
  const repository = field(body, 'repository');
  const organization = field(body, 'organization');
  if (typeof repository === 'string' && /^[^/\s]+\/[^/\s]+$/.test(repository)) {
    const [owner = '', repo = ''] = repository.split('/');
    return { scope: { kind: 'repo', owner, repo }, repository };
  }
  if (typeof organization === 'string' && /^[^/\s]+$/.test(organization)) {
    return { scope: { kind: 'org', org: organization }, repository: `${organization}/.github` };
  }
  throw new SimError('SIM_INVALID', 'Give "repository" ("owner/repo") or "organization"');
}

export function stringArray(v: unknown, name: string): string[] {
  if (!Array.isArray(v) || !v.every((x) => typeof x === 'string')) {
    throw new SimError('SIM_INVALID', `"${name}" must be an array of strings`);
  }
  return v;
}

export function nonNegInt(v: unknown, name: string): number {
  if (typeof v !== 'number' || !Number.isInteger(v) || v < 0) {
    throw new SimError('SIM_INVALID', `"${name}" must be a non-negative integer`);
  }
  return v;
}

/** The body of `POST /_sim/jobs`, checked field by field. */
export function jobInput(body: unknown): JobInput {
  const { scope, repository } = scopeOf(body);
  const labels = stringArray(field(body, 'labels'), 'labels');
  for (const l of labels) {
    const problem = labelProblem(l);
    if (problem !== null) throw new SimError('SIM_INVALID', problem);
  }
  const durationMs = nonNegInt(field(body, 'durationMs') ?? 0, 'durationMs');
  const bool = (name: string): boolean => {
    const v = field(body, name) ?? false;
    if (typeof v !== 'boolean') throw new SimError('SIM_INVALID', `"${name}" must be a boolean`);
    return v;
  };
  const conclusion = field(body, 'conclusion') ?? 'success';
  if (conclusion !== 'success' && conclusion !== 'failure') {
    throw new SimError('SIM_INVALID', '"conclusion" must be success or failure');
  }
  const runnerGroup = field(body, 'runnerGroup');
  if (runnerGroup !== undefined && (typeof runnerGroup !== 'string' || runnerGroup.trim() === '')) {
    throw new SimError('SIM_INVALID', '"runnerGroup" must be a runner group name');
  }
  return {
    scope,
    repository,
    labels,
    durationMs,
    failSetup: bool('failSetup'),
    failSteps: conclusion === 'failure',
    waiting: bool('waiting'),
    ...(runnerGroup === undefined ? {} : { runnerGroup }),
  };
}
