/**
 * A TCP proxy on 127.0.0.1 that can partition the agent from the coordinator the way a dead
 * network does: while partitioned it forwards nothing and closes nothing. Bytes and FIN/RST of
 * either side are held (not delivered), so both peers keep a socket that looks open — a half-open
 * connection that only heartbeats can detect. New connections are accepted and held too (their
 * SYN "got through" but nothing else does). `heal()` delivers what was held to whichever peer is
 * still there, in order, and passes traffic again.
 *
 * `injectToClient()` plays a middlebox that delivers a held frame late: it writes a WebSocket
 * frame into the newest live connection's server → client stream, between two frames.
 */
import { createServer, connect, type Server, type Socket } from 'node:net';

/** A proxied connection. */
interface Pair {
  readonly client: Socket;
  upstream: Socket | undefined;
  /** Held client → upstream bytes and an end, while partitioned. */
  toUpstream: Buffer[];
  /** Held upstream → client bytes and an end, while partitioned. */
  toClient: Buffer[];
  clientEnded: boolean;
  upstreamEnded: boolean;
  closed: boolean;
  /** Where the server → client stream is: in the HTTP upgrade, or between/inside frames. */
  downstream: FrameCursor;
  /** Frames waiting for a frame boundary to be written to the client. */
  injections: Buffer[];
}

/** A running proxy. */
export interface BlackholeProxy {
  readonly port: number;
  /** From now on nothing passes and nothing closes. */
  partition(): void;
  /** Delivers what was held and passes traffic again. */
  heal(): void;
  readonly partitioned: boolean;
  /** Connections accepted so far. */
  readonly accepted: number;
  /** Bytes upstream → client held back during partitions (all of them, for inspection). */
  readonly heldToClient: readonly Buffer[];
  /**
   * Writes `frame` (a whole server → client WebSocket frame) to the newest connection whose
   * upgrade is done, at the next frame boundary. Throws when there is none.
   */
  injectToClient(frame: Buffer): void;
  close(): Promise<void>;
}

/** Starts a proxy to `127.0.0.1:targetPort`. */
export async function startBlackholeProxy(targetPort: number): Promise<BlackholeProxy> {
  const pairs = new Set<Pair>();
  const heldLog: Buffer[] = [];
  let partitioned = false;
  let accepted = 0;

  const destroy = (pair: Pair): void => {
    if (pair.closed) return;
    pair.closed = true;
    pair.client.destroy();
    pair.upstream?.destroy();
    pairs.delete(pair);
  };

  const dial = (pair: Pair): void => {
    const up = connect({ host: '127.0.0.1', port: targetPort });
    pair.upstream = up;
    up.on('data', (b: Buffer) => {
      if (partitioned) {
        pair.toClient.push(b);
        heldLog.push(b);
      } else if (!pair.client.destroyed) forwardToClient(pair, b);
    });
    up.on('end', () => {
      pair.upstreamEnded = true;
      if (!partitioned) pair.client.end();
    });
    up.on('close', () => {
      if (!partitioned) destroy(pair);
    });
    up.on('error', () => undefined);
    up.on('connect', () => {
      if (partitioned) return;
      for (const b of pair.toUpstream.splice(0)) up.write(b);
      if (pair.clientEnded) up.end();
    });
  };

  const server: Server = createServer((client) => {
    accepted += 1;
    const pair: Pair = {
      client,
      upstream: undefined,
      toUpstream: [],
      toClient: [],
      clientEnded: false,
      upstreamEnded: false,
      closed: false,
      downstream: new FrameCursor(),
      injections: [],
    };
    pairs.add(pair);
    client.on('data', (b: Buffer) => {
      if (partitioned || pair.upstream === undefined || pair.upstream.connecting)
        pair.toUpstream.push(b);
      else pair.upstream.write(b);
    });
    client.on('end', () => {
      pair.clientEnded = true;
      if (!partitioned && pair.upstream !== undefined && !pair.upstream.connecting)
        pair.upstream.end();
    });
    client.on('close', () => {
      if (!partitioned) destroy(pair);
    });
    client.on('error', () => undefined);
    if (!partitioned) dial(pair);
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const addr = server.address();
  if (addr === null || typeof addr !== 'object') throw new Error('proxy: no address');

  /** Passes server → client bytes, slipping waiting injections in at frame boundaries. */
  const forwardToClient = (pair: Pair, b: Buffer): void => {
    let from = 0;
    for (const boundary of pair.downstream.feed(b)) {
      if (pair.injections.length === 0) break;
      pair.client.write(b.subarray(from, boundary));
      for (const f of pair.injections.splice(0)) pair.client.write(f);
      from = boundary;
    }
    if (from < b.length) pair.client.write(b.subarray(from));
  };

  const heal = (): void => {
    if (!partitioned) return;
    partitioned = false;
    for (const pair of [...pairs]) {
      if (pair.upstream === undefined) {
        if (pair.client.destroyed) destroy(pair);
        else dial(pair);
        continue;
      }
      const up = pair.upstream;
      const client = pair.client;
      // Whatever a peer did while cut off reaches the other one now, in order.
      if (!client.destroyed) for (const b of pair.toClient.splice(0)) forwardToClient(pair, b);
      if (!up.destroyed && !up.connecting) for (const b of pair.toUpstream.splice(0)) up.write(b);
      if (pair.upstreamEnded || up.destroyed) client.end();
      if (pair.clientEnded || client.destroyed) up.end();
      if (client.destroyed && up.destroyed) destroy(pair);
      else if (client.destroyed || up.destroyed) {
        // The peer that left is gone for good; the other side learns it now, as after a heal.
        setTimeout(() => destroy(pair), 1000).unref();
      }
    }
  };

  return {
    port: addr.port,
    partition: () => {
      partitioned = true;
    },
    heal,
    get partitioned() {
      return partitioned;
    },
    get accepted() {
      return accepted;
    },
    heldToClient: heldLog,
    injectToClient: (frame: Buffer) => {
      const live = [...pairs].filter(
        (p) => !p.closed && !p.client.destroyed && p.downstream.upgraded,
      );
      const pair = live[live.length - 1];
      if (pair === undefined) throw new Error('proxy: no upgraded connection to inject into');
      if (pair.downstream.atBoundary && pair.injections.length === 0) pair.client.write(frame);
      else pair.injections.push(frame);
    },
    close: async () => {
      for (const pair of [...pairs]) destroy(pair);
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

/**
 * The text frames in a server → client WebSocket byte stream (unmasked, unfragmented, no
 * compression — what the coordinator sends). Bytes that do not start at a frame boundary are
 * skipped up to the first parsable frame; good enough to find the commands a partition held.
 */
export function textFrames(chunks: readonly Buffer[]): string[] {
  const buf = Buffer.concat(chunks);
  const out: string[] = [];
  let i = 0;
  while (i + 2 <= buf.length) {
    const b0 = buf[i]!;
    const b1 = buf[i + 1]!;
    const opcode = b0 & 0x0f;
    let len = b1 & 0x7f;
    let off = i + 2;
    if (len === 126) {
      if (off + 2 > buf.length) break;
      len = buf.readUInt16BE(off);
      off += 2;
    } else if (len === 127) {
      if (off + 8 > buf.length) break;
      len = Number(buf.readBigUInt64BE(off));
      off += 8;
    }
    if ((b1 & 0x80) !== 0) off += 4;
    if (off + len > buf.length) break;
    if (opcode === 1) out.push(buf.subarray(off, off + len).toString('utf8'));
    i = off + len;
  }
  return out;
}

/**
 * Follows a server → client byte stream: the HTTP upgrade response, then WebSocket frames, and
 * reports the offsets in each chunk where a frame ends (where another frame may be slipped in).
 */
class FrameCursor {
  upgraded = false;
  #http = '';
  #header = Buffer.alloc(0);
  #bodyLeft = 0;

  get atBoundary(): boolean {
    return this.upgraded && this.#bodyLeft === 0 && this.#header.length === 0;
  }

  /** Consumes a chunk; returns the chunk offsets at which a frame boundary falls. */
  feed(chunk: Buffer): number[] {
    const boundaries: number[] = [];
    let i = 0;
    if (!this.upgraded) {
      const before = this.#http.length;
      this.#http += chunk.toString('latin1');
      const end = this.#http.indexOf('\r\n\r\n');
      if (end < 0) return boundaries;
      this.upgraded = true;
      i = end + 4 - before;
      boundaries.push(i);
    }
    while (i < chunk.length) {
      if (this.#bodyLeft > 0) {
        const take = Math.min(this.#bodyLeft, chunk.length - i);
        this.#bodyLeft -= take;
        i += take;
        if (this.#bodyLeft === 0) boundaries.push(i);
        continue;
      }
      this.#header = Buffer.concat([this.#header, chunk.subarray(i, i + 1)]);
      i += 1;
      const need = headerLength(this.#header);
      if (need === undefined || this.#header.length < need) continue;
      this.#bodyLeft = payloadLength(this.#header);
      this.#header = Buffer.alloc(0);
      if (this.#bodyLeft === 0) boundaries.push(i);
    }
    return boundaries;
  }
}

function headerLength(h: Buffer): number | undefined {
  if (h.length < 2) return undefined;
  const len7 = h[1]! & 0x7f;
  const ext = len7 === 126 ? 2 : len7 === 127 ? 8 : 0;
  return 2 + ext + ((h[1]! & 0x80) !== 0 ? 4 : 0);
}

function payloadLength(h: Buffer): number {
  const len7 = h[1]! & 0x7f;
  if (len7 === 126) return h.readUInt16BE(2);
  if (len7 === 127) return Number(h.readBigUInt64BE(2));
  return len7;
}

/** An unmasked, unfragmented WebSocket text frame (what a server sends). */
export function encodeTextFrame(text: string): Buffer {
  const body = Buffer.from(text, 'utf8');
  let header: Buffer;
  if (body.length < 126) header = Buffer.from([0x81, body.length]);
  else if (body.length < 65_536) {
    header = Buffer.alloc(4);
    header[0] = 0x81;
    header[1] = 126;
    header.writeUInt16BE(body.length, 2);
  } else {
    header = Buffer.alloc(10);
    header[0] = 0x81;
    header[1] = 127;
    header.writeBigUInt64BE(BigInt(body.length), 2);
  }
  return Buffer.concat([header, body]);
}
