/**
 * Raw WebSocket wire for abuse tests: hand-made upgrade requests and answers, and hand-made
 * frames (fragments, bad UTF-8, RSV bits), so a test can send what no well-behaved library would.
 */
import { createHash, randomBytes } from 'node:crypto';
import { connect, type Socket } from 'node:net';

const GUID = '258EAFA5-E914-47DA-95CA-C5AB0DC85B11';

/** The `Sec-WebSocket-Accept` answer for a client key. */
export function acceptKey(key: string): string {
  return createHash('sha1').update(`${key}${GUID}`).digest('base64');
}

/** Opcodes used here. */
export const OP = { continuation: 0x0, text: 0x1, binary: 0x2, close: 0x8, ping: 0x9 } as const;

/** Encodes one frame; clients must mask (`mask: true`), servers must not. */
export function frame(
  opcode: number,
  payload: Buffer,
  opts: { fin?: boolean; mask?: boolean; rsv1?: boolean } = {},
): Buffer {
  const fin = opts.fin ?? true;
  const mask = opts.mask ?? false;
  const len = payload.length;
  const head: number[] = [(fin ? 0x80 : 0) | (opts.rsv1 === true ? 0x40 : 0) | opcode];
  let ext = Buffer.alloc(0);
  if (len < 126) head.push((mask ? 0x80 : 0) | len);
  else if (len < 65536) {
    head.push((mask ? 0x80 : 0) | 126);
    ext = Buffer.alloc(2);
    ext.writeUInt16BE(len);
  } else {
    head.push((mask ? 0x80 : 0) | 127);
    ext = Buffer.alloc(8);
    ext.writeBigUInt64BE(BigInt(len));
  }
  if (!mask) return Buffer.concat([Buffer.from(head), ext, payload]);
  const key = randomBytes(4);
  const body = Buffer.alloc(len);
  for (let i = 0; i < len; i++) body[i] = (payload[i] ?? 0) ^ (key[i % 4] ?? 0);
  return Buffer.concat([Buffer.from(head), ext, key, body]);
}

/** Splits `payload` into `pieces` fragments of one message (first text, then continuations). */
export function fragments(payload: Buffer, pieces: number, mask: boolean): Buffer {
  const size = Math.max(1, Math.ceil(payload.length / pieces));
  const out: Buffer[] = [];
  for (let at = 0; at < payload.length; at += size) {
    const last = at + size >= payload.length;
    out.push(
      frame(at === 0 ? OP.text : OP.continuation, payload.subarray(at, at + size), {
        fin: last,
        mask,
      }),
    );
  }
  return Buffer.concat(out);
}

/** The close code in a close frame's payload, or undefined. */
export function closeCodeOf(payload: Buffer): number | undefined {
  return payload.length >= 2 ? payload.readUInt16BE(0) : undefined;
}

/** Reads frames a server sends (unmasked) from a byte stream. */
export class FrameReader {
  #buf = Buffer.alloc(0);
  readonly frames: { opcode: number; payload: Buffer }[] = [];

  push(chunk: Buffer): void {
    this.#buf = Buffer.concat([this.#buf, chunk]);
    for (;;) {
      if (this.#buf.length < 2) return;
      const b1 = this.#buf[1] ?? 0;
      let len = b1 & 0x7f;
      let off = 2;
      if (len === 126) {
        if (this.#buf.length < 4) return;
        len = this.#buf.readUInt16BE(2);
        off = 4;
      } else if (len === 127) {
        if (this.#buf.length < 10) return;
        len = Number(this.#buf.readBigUInt64BE(2));
        off = 10;
      }
      const masked = (b1 & 0x80) !== 0;
      const total = off + (masked ? 4 : 0) + len;
      if (this.#buf.length < total) return;
      const payload = Buffer.from(this.#buf.subarray(total - len, total));
      if (masked) {
        const key = this.#buf.subarray(off, off + 4);
        for (let i = 0; i < len; i++) payload[i] = (payload[i] ?? 0) ^ (key[i % 4] ?? 0);
      }
      this.frames.push({ opcode: (this.#buf[0] ?? 0) & 0x0f, payload });
      this.#buf = this.#buf.subarray(total);
    }
  }
}

/** A raw client connection after (or instead of) an upgrade. */
export interface RawClient {
  socket: Socket;
  /** The HTTP answer head (status line and headers, lower-cased names). */
  status: number;
  headers: Record<string, string>;
  reader: FrameReader;
  /** Resolves when the socket has closed. */
  ended: Promise<void>;
  /** The close code the server sent, once it did. */
  closeCode(): number | undefined;
}

/**
 * Sends an upgrade request to `host:port` with `extraHeaders` (raw lines) and reads the answer
 * head. Resolves for any status; frames after a 101 go to `reader`.
 */
export function rawUpgrade(
  port: number,
  opts: { path?: string; extraHeaders?: string[]; protocol?: string | null } = {},
): Promise<RawClient> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1');
    const reader = new FrameReader();
    let head = Buffer.alloc(0);
    let done = false;
    const ended = new Promise<void>((r) => socket.once('close', () => r()));
    socket.on('error', () => undefined);
    const finish = (status: number, headers: Record<string, string>, rest: Buffer): void => {
      done = true;
      reader.push(rest);
      resolve({
        socket,
        status,
        headers,
        reader,
        ended,
        closeCode: () => {
          const c = reader.frames.find((f) => f.opcode === OP.close);
          return c === undefined ? undefined : closeCodeOf(c.payload);
        },
      });
    };
    socket.on('data', (chunk: Buffer) => {
      if (done) {
        reader.push(chunk);
        return;
      }
      head = Buffer.concat([head, chunk]);
      const end = head.indexOf('\r\n\r\n');
      if (end < 0) return;
      const lines = head.subarray(0, end).toString('latin1').split('\r\n');
      const status = Number(/^HTTP\/1\.1 (\d{3})/.exec(lines[0] ?? '')?.[1] ?? 0);
      const headers: Record<string, string> = {};
      for (const l of lines.slice(1)) {
        const i = l.indexOf(':');
        if (i > 0) headers[l.slice(0, i).trim().toLowerCase()] = l.slice(i + 1).trim();
      }
      finish(status, headers, head.subarray(end + 4));
    });
    socket.once('close', () => {
      if (!done) {
        done = true;
        const text = head.toString('latin1');
        const status = Number(/^HTTP\/1\.1 (\d{3})/.exec(text)?.[1] ?? 0);
        resolve({
          socket,
          status,
          headers: {},
          reader,
          ended,
          closeCode: () => undefined,
        });
      }
    });
    socket.once('connect', () => {
      const key = randomBytes(16).toString('base64');
      const protocol = opts.protocol === undefined ? 'launchplane.v1' : opts.protocol;
      const lines = [
        `GET ${opts.path ?? '/v1/agent'} HTTP/1.1`,
        `Host: 127.0.0.1:${port}`,
        'Upgrade: websocket',
        'Connection: Upgrade',
        `Sec-WebSocket-Key: ${key}`,
        'Sec-WebSocket-Version: 13',
        ...(protocol === null ? [] : [`Sec-WebSocket-Protocol: ${protocol}`]),
        ...(opts.extraHeaders ?? []),
      ];
      socket.write(`${lines.join('\r\n')}\r\n\r\n`);
    });
    socket.setTimeout(30_000, () => {
      socket.destroy();
      if (!done) reject(new Error('upgrade timed out'));
    });
  });
}
