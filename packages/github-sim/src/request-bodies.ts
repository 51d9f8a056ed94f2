import { labelProblem } from './domain/labels.js';
import { SimError } from './errors.js';

const RUNNER_DOCS = 'https://docs.github.com/rest/actions/self-hosted-runners';

/** The validated body of `POST …/generate-jitconfig`. */
export interface JitRequest {
  name: string;
  runnerGroupId: number;
  labels: string[];
  workFolder: string;
}

/** Validates a JIT config request like GitHub (422 listing every problem). */
export function parseJitBody(body: unknown): JitRequest {
  const problems: string[] = [];
  const b = (typeof body === 'object' && body !== null ? body : {}) as Record<string, unknown>;
  const { name, runner_group_id: group, labels, work_folder: work } = b;
  if (typeof name !== 'string' || name.trim() === '' || name.length > 64) {
    problems.push('"name" must be a string of 1 to 64 characters');
  }
  if (typeof group !== 'number' || !Number.isInteger(group))
    problems.push('"runner_group_id" must be an integer');
  if (
    !Array.isArray(labels) ||
    labels.length < 1 ||
    labels.length > 100 ||
    !labels.every((l) => typeof l === 'string')
  ) {
    problems.push('"labels" must be an array of 1 to 100 strings');
  } else {
    for (const l of labels) {
      const p = labelProblem(l);
      if (p !== null) problems.push(p);
    }
  }
  if (work !== undefined && typeof work !== 'string')
    problems.push('"work_folder" must be a string');
  if (problems.length > 0) {
    throw new SimError('SIM_INVALID', 'Invalid request.', {
      errors: problems,
      documentationUrl: `${RUNNER_DOCS}#create-configuration-for-a-just-in-time-runner-for-a-repository`,
    });
  }
  return {
    name: name as string,
    runnerGroupId: group as number,
    labels: labels as string[],
    workFolder: typeof work === 'string' ? work : '_work',
  };
}

/** Validates `{labels: [...]}` of the label endpoints (422 on bad input). */
export function parseLabelBody(body: unknown, minItems: number): string[] {
  const labels =
    typeof body === 'object' && body !== null
      ? (body as Record<string, unknown>)['labels']
      : undefined;
  if (
    !Array.isArray(labels) ||
    labels.length < minItems ||
    labels.length > 100 ||
    !labels.every((l) => typeof l === 'string')
  ) {
    throw new SimError('SIM_INVALID', 'Invalid request.', {
      errors: [`"labels" must be an array of ${minItems} to 100 strings`],
      documentationUrl: RUNNER_DOCS,
    });
  }
  const problems = labels.map(labelProblem).filter((p): p is string => p !== null);
  if (problems.length > 0)
    throw new SimError('SIM_INVALID', 'Invalid request.', {
      errors: problems,
      documentationUrl: RUNNER_DOCS,
    });
  return labels;
}

const DISPATCH_DOCS =
  'https://docs.github.com/rest/actions/workflows#create-a-workflow-dispatch-event';

/** The validated body of `POST …/actions/workflows/{id}/dispatches`. */
export interface DispatchRequest {
  ref: string;
  /** Input values as the workflow sees them: strings (GitHub passes numbers and booleans as text). */
  inputs: Record<string, string>;
  returnRunDetails: boolean;
}

/** Validates a workflow dispatch like GitHub: `ref` required, at most 25 inputs (422 otherwise). */
export function parseDispatchBody(body: unknown): DispatchRequest {
  const b = (typeof body === 'object' && body !== null ? body : {}) as Record<string, unknown>;
  const { ref, inputs, return_run_details: details } = b;
  if (typeof ref !== 'string' || ref.trim() === '') {
    throw new SimError('SIM_INVALID', 'Invalid request.\n\n"ref" wasn\'t supplied.', {
      documentationUrl: DISPATCH_DOCS,
    });
  }
  const out: Record<string, string> = {};
  if (inputs !== undefined && inputs !== null) {
    if (typeof inputs !== 'object' || Array.isArray(inputs)) {
      throw new SimError(
        'SIM_INVALID',
        "Invalid request.\n\nFor 'properties/inputs', must be an object.",
        {
          documentationUrl: DISPATCH_DOCS,
        },
      );
    }
    const entries = Object.entries(inputs as Record<string, unknown>);
    if (entries.length > 25) {
      throw new SimError(
        'SIM_INVALID',
        'Invalid request.\n\nNo more than 25 properties are allowed; ' +
          `${entries.length} were supplied.`,
        {
          documentationUrl: DISPATCH_DOCS,
        },
      );
    }
    for (const [k, v] of entries) {
      if (typeof v !== 'string' && typeof v !== 'number' && typeof v !== 'boolean') {
        throw new SimError(
          'SIM_INVALID',
          `Invalid request.\n\nInput "${k}" must be a string, a number or a boolean.`,
          {
            documentationUrl: DISPATCH_DOCS,
          },
        );
      }
      out[k] = String(v);
    }
  }
  if (details !== undefined && typeof details !== 'boolean') {
    throw new SimError(
      'SIM_INVALID',
      'Invalid request.\n\n"return_run_details" must be a boolean.',
      {
        documentationUrl: DISPATCH_DOCS,
      },
    );
  }
  return { ref, inputs: out, returnRunDetails: details === true };
}
