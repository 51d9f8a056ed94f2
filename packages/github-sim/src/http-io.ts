import type { IncomingMessage, ServerResponse } from 'node:http';
import { SimError } from './errors.js';

/** Largest request body the sim accepts; GitHub's runner bodies are tiny. */
export const MAX_BODY_BYTES = 1024 * 1024;

/** Reads and parses a JSON request body; an empty body reads as `undefined`. */
export async function readJson(req: IncomingMessage): Promise<unknown> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    const b = chunk as Buffer;
    size += b.length;
    if (size > MAX_BODY_BYTES) throw new SimError('SIM_BAD_REQUEST', 'Request body too large');
    chunks.push(b);
  }
  const text = Buffer.concat(chunks).toString('utf8');
  if (text.trim() === '') return undefined;
  try {
    return JSON.parse(text) as unknown;
  } catch {
    throw new SimError('SIM_BAD_REQUEST', 'Problems parsing JSON');
  }
}

/** Sends a JSON body (or none for 204/304) with the given status and headers. */
export function send(
  res: ServerResponse,
  status: number,
  body: unknown,
  headers: Record<string, string> = {},
): void {
  const noBody = status === 204 || status === 304 || body === undefined;
  const text = noBody ? '' : JSON.stringify(body);
  res.writeHead(status, {
    ...(noBody ? {} : { 'content-type': 'application/json; charset=utf-8' }),
    ...headers,
    'content-length': String(Buffer.byteLength(text)),
  });
  res.end(text);
}

/** Reads a string field of a parsed JSON object, or `undefined`. */
export function field(body: unknown, name: string): unknown {
  return typeof body === 'object' && body !== null
    ? (body as Record<string, unknown>)[name]
    : undefined;
}

/** Reads a string field of a parsed JSON object; anything else reads as `''`. */
export function textField(body: unknown, name: string): string {
  const v = field(body, name);
  return typeof v === 'string' ? v : '';
}
