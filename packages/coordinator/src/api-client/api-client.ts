/**
 * The HTTP client the `launchplane` CLI uses to talk to a coordinator's admin API. Error answers
 * come back as `LaunchplaneError`s with the server's code, message and recovery hint.
 */
import { request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { LaunchplaneError, isErrorCode } from '@launchplane/shared';

/** Options of {@link ApiClient}. */
export interface ApiClientOptions {
  /** The coordinator's base URL, e.g. `https://coord.example:7443`. */
  url: string;
  /** An operator token (`lpt_…`); undefined for unauthenticated calls. */
  token?: string | undefined;
  /** PEM CA bundle to trust for a self-signed coordinator certificate. */
  ca?: string | undefined;
  /** Per-request timeout. Default 60 000 ms. */
  timeoutMs?: number;
}

/** A small JSON client for `/v1/`. */
export class ApiClient {
  readonly #base: URL;
  readonly #opts: ApiClientOptions;

  constructor(opts: ApiClientOptions) {
    let base: URL;
    try {
      base = new URL(opts.url);
    } catch {
      throw new LaunchplaneError('LP_USAGE', `Coordinator URL "${opts.url}" is not a URL`);
    }
    if (base.protocol !== 'http:' && base.protocol !== 'https:') {
      throw new LaunchplaneError('LP_USAGE', `Coordinator URL "${opts.url}" must be http(s)`);
    }
    this.#base = base;
    this.#opts = opts;
  }

  get(path: string, query?: Record<string, string | number | undefined>): Promise<unknown> {
    const u = new URL(path, this.#base);
    for (const [k, v] of Object.entries(query ?? {})) {
      if (v !== undefined) u.searchParams.set(k, String(v));
    }
    return this.#send('GET', u, undefined);
  }

  post(path: string, body: unknown = {}): Promise<unknown> {
    return this.#send('POST', new URL(path, this.#base), body);
  }

  #send(method: string, url: URL, body: unknown): Promise<unknown> {
    const payload = body === undefined ? undefined : JSON.stringify(body);
    const headers: Record<string, string> = { accept: 'application/json' };
    if (this.#opts.token !== undefined) headers.authorization = `Bearer ${this.#opts.token}`;
    if (payload !== undefined) {
      headers['content-type'] = 'application/json';
      headers['content-length'] = String(Buffer.byteLength(payload));
    }
    const request = url.protocol === 'https:' ? httpsRequest : httpRequest;
    return new Promise((resolve, reject) => {
      const req = request(
        url,
        {
          method,
          headers,
          timeout: this.#opts.timeoutMs ?? 60_000,
          ...(this.#opts.ca === undefined ? {} : { ca: this.#opts.ca }),
        },
        (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('error', reject);
          res.on('end', () => {
            const text = Buffer.concat(chunks).toString('utf8');
            let parsed: unknown;
            try {
              parsed = text === '' ? {} : JSON.parse(text);
            } catch {
              reject(
                new LaunchplaneError(
                  'LP_INTERNAL',
                  `Coordinator answered ${res.statusCode ?? '?'} with a body that is not JSON`,
                ),
              );
              return;
            }
            const status = res.statusCode ?? 0;
            if (status >= 200 && status < 300) return resolve(parsed);
            reject(errorFromBody(status, parsed));
          });
        },
      );
      req.on('timeout', () => {
        req.destroy(
          new LaunchplaneError(
            'LP_TIMEOUT',
            `The coordinator did not answer ${method} ${url.pathname}`,
          ),
        );
      });
      req.on('error', (cause) => {
        if (cause instanceof LaunchplaneError) return reject(cause);
        reject(
          new LaunchplaneError(
            'LP_BACKEND_UNAVAILABLE',
            `Cannot reach the coordinator at "${this.#base.origin}": ${cause.message}`,
            { cause, recovery: 'Check --url / LAUNCHPLANE_URL and that the coordinator runs' },
          ),
        );
      });
      if (payload !== undefined) req.write(payload);
      req.end();
    });
  }
}

function errorFromBody(status: number, body: unknown): LaunchplaneError {
  const e = (body as { error?: { code?: unknown; message?: unknown; recovery?: unknown } }).error;
  if (e !== undefined && isErrorCode(e.code) && typeof e.message === 'string') {
    return new LaunchplaneError(e.code, e.message, {
      ...(typeof e.recovery === 'string' ? { recovery: e.recovery } : {}),
      details: { httpStatus: status },
    });
  }
  return new LaunchplaneError('LP_INTERNAL', `Coordinator answered HTTP ${status}`);
}
