/**
 * A TCP proxy on 127.0.0.1 that can partition the agent from the coordinator the way a dead
 * network does: while partitioned it forwards nothing and closes nothing. Bytes and FIN/RST of
 * either side are held (not delivered), so both peers keep a socket that looks open — a half-open
 * connection that only heartbeats can detect. New connections are accepted and held too (their
 * SYN "got through" but nothing else does). `heal()` delivers what was held to whichever peer is
 * still there, in order, and passes traffic again.
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
      } else if (!pair.client.destroyed) pair.client.write(b);
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
      if (!client.destroyed) for (const b of pair.toClient.splice(0)) client.write(b);
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
