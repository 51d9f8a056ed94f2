/**
 * HTTP edge helpers: capped body reading with strict JSON, JSON answers, and the one mapping
 * from a LaunchplaneError to `{error:{code,message,recovery}}` with its HTTP status.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { LaunchplaneError, httpStatusFor, parseStrictJson } from '@launchplane/shared';

/** Reads at most `maxBytes` of body, as it came; `LP_USAGE` (413) past the cap. */
export async function readRawBody(req: IncomingMessage, maxBytes: number): Promise<Buffer> {
  const declared = req.headers['content-length'];
  if (declared !== undefined && Number(declared) > maxBytes) {
    throw tooLarge(maxBytes);
  }
  const chunks: Buffer[] = [];
  let total = 0;
  for await (const chunk of req) {
    const buf = chunk as Buffer;
    total += buf.length;
    if (total > maxBytes) throw tooLarge(maxBytes);
    chunks.push(buf);
  }
  return Buffer.concat(chunks);
}

/** Reads at most `maxBytes` of body and parses it as strict JSON; undefined when empty. */
export async function readJsonBody(req: IncomingMessage, maxBytes: number): Promise<unknown> {
  const body = await readRawBody(req, maxBytes);
  if (body.length === 0) return undefined;
  const type = req.headers['content-type'] ?? '';
  if (!/^application\/json\s*(;|$)/i.test(type)) {
    throw new LaunchplaneError('LP_USAGE', 'Request body must be application/json');
  }
  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(body);
  } catch (cause) {
    throw new LaunchplaneError('LP_USAGE', 'Request body is not UTF-8', { cause });
  }
  try {
    return parseStrictJson(text);
  } catch (cause) {
    throw new LaunchplaneError('LP_USAGE', 'Request body is not strict JSON', { cause });
  }
}

function tooLarge(maxBytes: number): LaunchplaneError {
  return new LaunchplaneError('LP_USAGE', `Request body is larger than ${maxBytes} bytes`, {
    details: { httpStatus: 413 },
  });
}

/** Writes a JSON answer. */
export function sendJson(res: ServerResponse, status: number, body: unknown): void {
  if (res.headersSent) return;
  const text = JSON.stringify(body);
  res.writeHead(status, {
    'content-type': 'application/json; charset=utf-8',
    'content-length': Buffer.byteLength(text),
    'cache-control': 'no-store',
  });
  res.end(text);
}

/** Status for an error: the code's mapping, or an explicit `details.httpStatus`. */
export function statusOf(err: LaunchplaneError): number {
  const explicit = err.details.httpStatus;
  return typeof explicit === 'number' ? explicit : httpStatusFor(err.code);
}

/** Writes an error answer. Internal errors never reveal their message. */
export function sendError(res: ServerResponse, err: LaunchplaneError): void {
  const body =
    err.code === 'LP_INTERNAL'
      ? { code: err.code, message: 'Internal error', recovery: 'See the coordinator log' }
      : err.toJSON();
  sendJson(res, statusOf(err), { error: body });
}
