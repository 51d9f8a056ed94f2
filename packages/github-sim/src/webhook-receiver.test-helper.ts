import { readFileSync } from 'node:fs';
import { type IncomingHttpHeaders, type Server, createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createRequire } from 'node:module';
import { Ajv2020 } from 'ajv/dist/2020.js';
import addFormatsModule from 'ajv-formats';

/** One request a {@link Receiver} got. */
export interface Received {
  headers: IncomingHttpHeaders;
  /** The raw body, exactly as sent (what the signature covers). */
  body: string;
}

/** A webhook receiver on loopback that records every request and answers `status`. */
export interface Receiver {
  url: string;
  received: Received[];
  /** What it answers; `'hang'` never answers (a receiver that times out). */
  answer: number | 'hang';
  /** Resolves once `n` requests in all have arrived. */
  count(n: number): Promise<Received[]>;
  close(): Promise<void>;
}

export async function startReceiver(): Promise<Receiver> {
  const received: Received[] = [];
  const waiters: { n: number; resolve: (r: Received[]) => void }[] = [];
  const r: Receiver = {
    url: '',
    received,
    answer: 200,
    count: (n) =>
      received.length >= n
        ? Promise.resolve(received.slice(0, n))
        : new Promise((resolve) => waiters.push({ n, resolve })),
    close: () =>
      new Promise((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      received.push({ headers: req.headers, body: Buffer.concat(chunks).toString('utf8') });
      for (const w of waiters.filter((x) => received.length >= x.n)) {
        waiters.splice(waiters.indexOf(w), 1);
        w.resolve(received.slice(0, w.n));
      }
      if (r.answer === 'hang') return;
      res.writeHead(r.answer, { 'content-type': 'text/plain' });
      res.end(r.answer < 300 ? 'thanks' : 'no');
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  r.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/hook`;
  return r;
}

/** The parsed JSON body of a request. */
export function json(r: Received): Record<string, unknown> {
  return JSON.parse(r.body) as Record<string, unknown>;
}

// GitHub's published webhook schemas (OpenAPI 3.1, JSON Schema 2020-12).
const addFormats = addFormatsModule as unknown as (ajv: Ajv2020) => Ajv2020;
const ajv = addFormats(new Ajv2020({ strict: false, allErrors: true }));
ajv.addSchema(
  JSON.parse(
    readFileSync(
      createRequire(import.meta.url).resolve(
        '@octokit/openapi-webhooks/generated/api.github.com.json',
      ),
      'utf8',
    ),
  ) as object,
  'webhooks',
);

/**
 * Validates a payload against `#/components/schemas/<schema>` of `@octokit/openapi-webhooks`
 * (e.g. `webhook-workflow-job-queued`); the errors, or an empty string.
 */
export function webhookSchemaErrors(schema: string, payload: unknown): string {
  const v = ajv.getSchema(`webhooks#/components/schemas/${schema}`);
  if (v === undefined) return `no schema "${schema}"`;
  return v(payload) ? '' : ajv.errorsText(v.errors);
}
