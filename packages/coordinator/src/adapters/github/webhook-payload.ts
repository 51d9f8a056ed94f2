/**
 * GitHub's `workflow_job` webhook payload, read strictly enough to trust: the `workflow_job`
 * object has the REST API's job shape, and `repository.full_name` names its repository.
 * Unknown members are ignored (GitHub adds fields), a missing or mistyped one is refused.
 */
import { z } from 'zod';
import { LaunchplaneError, parseStrictJson, repositorySchema } from '@launchplane/shared';
import type { WorkflowJob } from '../../ports/github-workflows.js';
import { githubJobSchema, toJob } from './octokit-github-runners.js';

const workflowJobEventSchema = z.object({
  /** `queued`, `waiting`, `in_progress`, `completed`. */
  action: z.string().max(64),
  workflow_job: githubJobSchema,
  repository: z.object({ full_name: repositorySchema }),
});

/** One `workflow_job` delivery. */
export interface WorkflowJobEvent {
  action: string;
  /** `owner/name`, lowercased. */
  repository: string;
  job: WorkflowJob;
}

/** Parses a `workflow_job` delivery's body; `LP_USAGE` names the first member that is wrong. */
export function parseWorkflowJobEvent(body: string): WorkflowJobEvent {
  let raw: unknown;
  try {
    raw = parseStrictJson(body, { maxDepth: 64 });
  } catch (cause) {
    throw new LaunchplaneError('LP_USAGE', 'Webhook delivery body is not strict JSON', { cause });
  }
  const parsed = workflowJobEventSchema.safeParse(raw);
  if (!parsed.success) {
    const first = parsed.error.issues[0];
    const path = first === undefined ? '' : first.path.map(String).join('.');
    throw new LaunchplaneError(
      'LP_USAGE',
      `Webhook delivery is not a workflow_job payload${path === '' ? '' : `: "${path}" ${first?.message ?? 'is invalid'}`}`,
    );
  }
  const { action, workflow_job: job, repository } = parsed.data;
  return { action, repository: repository.full_name, job: toJob(job) };
}
