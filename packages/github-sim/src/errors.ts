/** Stable codes of the errors the simulator answers with. */
export type SimErrorCode =
  | 'SIM_BAD_REQUEST'
  | 'SIM_UNAUTHENTICATED'
  | 'SIM_FORBIDDEN'
  | 'SIM_NOT_FOUND'
  | 'SIM_CONFLICT'
  | 'SIM_INVALID'
  | 'SIM_RUNNER_BUSY';

const STATUS: Record<SimErrorCode, number> = {
  SIM_BAD_REQUEST: 400,
  SIM_UNAUTHENTICATED: 401,
  SIM_FORBIDDEN: 403,
  SIM_NOT_FOUND: 404,
  SIM_CONFLICT: 409,
  SIM_INVALID: 422,
  SIM_RUNNER_BUSY: 422,
};

/** GitHub's documentation root, used in `documentation_url` like github.com does. */
export const DOCS = 'https://docs.github.com/rest';

/**
 * An error the simulator turns into a GitHub-shaped response
 * (`{message, documentation_url, status}`). Messages never carry tokens.
 */
export class SimError extends Error {
  readonly code: SimErrorCode;
  readonly documentationUrl: string;
  readonly errors: string[] | undefined;

  constructor(
    code: SimErrorCode,
    message: string,
    opts: { documentationUrl?: string; errors?: string[] } = {},
  ) {
    super(message);
    this.name = 'SimError';
    this.code = code;
    this.documentationUrl = opts.documentationUrl ?? DOCS;
    this.errors = opts.errors;
  }

  /** The HTTP status GitHub uses for this kind of failure. */
  get status(): number {
    return STATUS[this.code];
  }

  /** The response body, in GitHub's "Basic Error" / "Validation Error Simple" shape. */
  body(): Record<string, unknown> {
    const b: Record<string, unknown> = {
      message: this.message,
      documentation_url: this.documentationUrl,
      status: String(this.status),
    };
    if (this.errors !== undefined) b['errors'] = this.errors;
    return b;
  }
}
