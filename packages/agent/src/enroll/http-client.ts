/**
 * The enrollment's HTTP client: one JSON `POST` with a deadline, a capped answer, no redirects
 * and, when a TLS pin is given, a connection handed over only after the server's key matched it.
 * `node:http(s)` rather than `fetch`, whose connections cannot be checked before they are used.
 */
import { request as httpRequest, type IncomingMessage } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { LaunchplaneError } from '@launchplane/shared';
import { pinnedConnect } from '../session/pinned-tls.js';

/** Options of {@link postJson}. */
export interface PostJsonOptions {
  /** `sha256//…`: the only TLS key accepted (https only). */
  tlsPin?: string | undefined;
  /** Extra CA certificates for https without a pin. */
  ca?: string | Buffer | undefined;
  timeoutMs: number;
  maxResponseBytes: number;
}

/** An answer: status and body text. */
export interface PostJsonAnswer {
  status: number;
  body: string;
}

/**
 * POSTs `body` as JSON to `url`. Throws LP_TIMEOUT, LP_BACKEND_UNAVAILABLE (cannot connect),
 * LP_TLS_PIN_MISMATCH, or LP_INVALID_MESSAGE (answer too large or unreadable).
 */
export function postJson(url: URL, body: unknown, opts: PostJsonOptions): Promise<PostJsonAnswer> {
  const text = JSON.stringify(body);
  const secure = url.protocol === 'https:';
  const request = secure ? httpsRequest : httpRequest;
  return new Promise((resolve, reject) => {
    let settled = false;
    const fail = (err: LaunchplaneError): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      req.destroy();
      reject(err);
    };
    const req = request(url, {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        accept: 'application/json',
        'content-length': Buffer.byteLength(text),
        connection: 'close',
      },
      // With createConnection and no agent, the request waits for the pin check's callback; an
      // agent (even `false`, which makes a fresh one) would dial by itself.
      ...(secure && opts.tlsPin !== undefined
        ? { createConnection: pinnedConnect(opts.tlsPin, { timeoutMs: opts.timeoutMs }) }
        : { agent: false }),
      ...(secure && opts.tlsPin === undefined && opts.ca !== undefined ? { ca: opts.ca } : {}),
    });
    const timer = setTimeout(
      () =>
        fail(
          new LaunchplaneError(
            'LP_TIMEOUT',
            `Coordinator "${url.origin}" did not answer within ${opts.timeoutMs} ms`,
            { recovery: 'Check the URL, that the coordinator runs, and the network between' },
          ),
        ),
      opts.timeoutMs,
    );
    req.on('error', (cause: Error) => {
      if (cause instanceof LaunchplaneError) return fail(cause);
      fail(
        new LaunchplaneError(
          'LP_BACKEND_UNAVAILABLE',
          `Cannot reach coordinator "${url.origin}": ${describeNetworkError(cause)}`,
          {
            cause,
            recovery:
              'Check the URL, that the coordinator runs, and that its TLS certificate is trusted (or pass its --tls-pin)',
          },
        ),
      );
    });
    req.on('response', (res: IncomingMessage) => {
      const chunks: Buffer[] = [];
      let size = 0;
      res.on('data', (chunk: Buffer) => {
        size += chunk.length;
        if (size > opts.maxResponseBytes) {
          fail(
            new LaunchplaneError(
              'LP_INVALID_MESSAGE',
              `Coordinator answer is larger than ${opts.maxResponseBytes} bytes`,
            ),
          );
          return;
        }
        chunks.push(chunk);
      });
      res.on('error', (cause: Error) =>
        fail(
          new LaunchplaneError('LP_INVALID_MESSAGE', 'Coordinator answer is unreadable', {
            cause,
          }),
        ),
      );
      res.on('end', () => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8') });
      });
    });
    req.end(text);
  });
}

function describeNetworkError(cause: Error): string {
  const code = (cause as NodeJS.ErrnoException).code;
  return code === undefined ? cause.message : `${code} ${cause.message}`;
}
