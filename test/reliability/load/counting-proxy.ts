/**
 * A TCP relay in front of the coordinator that counts connection attempts as the coordinator's
 * listening socket sees them: every accepted connection is one dial by an agent. The upstream
 * port can change (a restarted coordinator listens on a new port); while the upstream refuses,
 * the agent's connection is dropped, exactly as a refused dial would be.
 */
import { createConnection, createServer, type Server, type Socket } from 'node:net';

/** One accepted connection. */
export interface Accept {
  /** Unix ms. */
  t: number;
  /** Whether the upstream took the connection. */
  relayed: boolean;
}

/** The relay; `listen()` first. */
export class CountingProxy {
  readonly accepts: Accept[] = [];
  readonly #server: Server;
  readonly #sockets = new Set<Socket>();
  #upstreamPort: number | undefined;
  #port = 0;

  constructor() {
    this.#server = createServer((client) => this.#onConnection(client));
  }

  /** Listens on 127.0.0.1, a free port. */
  async listen(): Promise<number> {
    await new Promise<void>((resolve, reject) => {
      this.#server.once('error', reject);
      // Thousands of agents may dial at once; the default backlog (511) would drop SYNs.
      this.#server.listen({ host: '127.0.0.1', port: 0, backlog: 4096 }, () => resolve());
    });
    const addr = this.#server.address();
    if (addr === null || typeof addr === 'string') throw new Error('proxy has no port');
    this.#port = addr.port;
    return this.#port;
  }

  get port(): number {
    return this.#port;
  }

  /** Where new connections go; undefined drops them. */
  setUpstream(port: number | undefined): void {
    this.#upstreamPort = port;
  }

  /** Accepts at or after `since` (Unix ms). */
  acceptsSince(since: number): Accept[] {
    return this.accepts.filter((a) => a.t >= since);
  }

  async close(): Promise<void> {
    for (const s of this.#sockets) s.destroy();
    await new Promise<void>((resolve) => this.#server.close(() => resolve()));
  }

  #onConnection(client: Socket): void {
    const accept: Accept = { t: Date.now(), relayed: false };
    this.accepts.push(accept);
    this.#sockets.add(client);
    client.on('close', () => this.#sockets.delete(client));
    client.on('error', () => undefined);
    const port = this.#upstreamPort;
    if (port === undefined) {
      client.destroy();
      return;
    }
    client.pause();
    const upstream = createConnection({ host: '127.0.0.1', port });
    this.#sockets.add(upstream);
    upstream.on('close', () => {
      this.#sockets.delete(upstream);
      client.destroy();
    });
    upstream.on('error', () => client.destroy());
    client.on('close', () => upstream.destroy());
    upstream.once('connect', () => {
      accept.relayed = true;
      client.pipe(upstream);
      upstream.pipe(client);
      client.resume();
    });
  }
}
