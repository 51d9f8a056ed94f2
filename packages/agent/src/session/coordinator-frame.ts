/**
 * The agent's edge parser for coordinator frames: one text frame, one strict JSON object (no
 * duplicate member names, bounded nesting), one message of the protocol. Anything else is a
 * protocol error the session answers with close code 4400.
 */
import type { RawData } from 'ws';
import { coordinatorMessageSchema, parseStrictJson } from '@launchplane/shared';
import type { CoordinatorMessage } from '@launchplane/shared';

/** A parsed frame, or why it is refused (a close reason: short, never the frame's content). */
export type CoordinatorFrame =
  { ok: true; message: CoordinatorMessage } | { ok: false; reason: string };

/**
 * Parses one WebSocket message from the coordinator. Duplicate member names are refused because
 * `JSON.parse` keeps the last one, so two parsers could read one frame two ways.
 */
export function parseCoordinatorFrame(data: RawData, isBinary: boolean): CoordinatorFrame {
  if (isBinary) return { ok: false, reason: 'binary frames are not accepted' };
  const text = Array.isArray(data)
    ? Buffer.concat(data).toString('utf8')
    : Buffer.from(data as Buffer).toString('utf8');
  let json: unknown;
  try {
    json = parseStrictJson(text);
  } catch {
    return { ok: false, reason: 'frame is not strict JSON' };
  }
  const parsed = coordinatorMessageSchema.safeParse(json);
  if (parsed.success) return { ok: true, message: parsed.data };
  const type = typeof json === 'object' && json !== null && 'type' in json ? String(json.type) : '';
  return { ok: false, reason: `invalid ${type === '' ? 'frame' : `"${type.slice(0, 32)}" frame`}` };
}
