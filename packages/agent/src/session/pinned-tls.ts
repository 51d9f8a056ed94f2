/**
 * TLS connections pinned to the coordinator's key (`sha256//…` in the config's `coordinator`
 * section). The socket is handed to HTTP or WebSocket only after the server's key matched the
 * pin, so on a mismatch not one byte of a request leaves the host. With a pin, the pin is the
 * trust: the certificate may be self-signed (what `install/coordinator.sh --self-signed-cert`
 * makes) and its names are not checked; without one, ordinary CA verification applies.
 */
import { isIP } from 'node:net';
import { connect, type ConnectionOptions, type TLSSocket } from 'node:tls';
import type { ClientRequestArgs } from 'node:http';
import type { Duplex } from 'node:stream';
import { LaunchplaneError, tlsPinOfCertificate } from '@launchplane/shared';

/** Node's `createConnection(options, callback)` shape, as `http.request` and `ws` call it. */
export type CreateConnection = (
  options: ClientRequestArgs,
  callback: (err: Error | null, socket: Duplex) => void,
) => undefined;

/** The refusal of a server whose TLS key is not the pinned one. */
export function pinMismatch(pin: string, actual: string, where: string): LaunchplaneError {
  return new LaunchplaneError(
    'LP_TLS_PIN_MISMATCH',
    `TLS key of "${where}" is "${actual}", not the pinned "${pin}"`,
    {
      recovery:
        'Nothing was sent. If the coordinator got a new TLS key on purpose, enroll this host again with its new pin; otherwise something is intercepting the connection',
      details: { expected: pin, actual, where },
    },
  );
}

/**
 * A `createConnection` that opens TLS, checks the server's key against `pin` and only then hands
 * the socket over. Mismatch → the socket is destroyed and the callback gets LP_TLS_PIN_MISMATCH.
 */
export function pinnedConnect(pin: string, opts: { timeoutMs?: number } = {}): CreateConnection {
  return (options, callback) => {
    const host = (options.hostname ?? options.host ?? 'localhost').replace(/^\[|\]$/g, '');
    const port = Number(options.port ?? 443);
    const where = `${host}:${port}`;
    const extra = options as ClientRequestArgs & Pick<ConnectionOptions, 'servername' | 'ca'>;
    const socket: TLSSocket = connect({
      host,
      port,
      ...(options.localAddress === undefined ? {} : { localAddress: options.localAddress }),
      ...(options.family === undefined ? {} : { family: options.family }),
      servername: extra.servername ?? (isIP(host) === 0 ? host : ''),
      // The pin replaces CA and name checks, which a self-signed certificate cannot pass.
      rejectUnauthorized: false,
      checkServerIdentity: () => undefined,
    });
    let settled = false;
    const done = (err: Error | null): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      socket.off('error', onError);
      if (err !== null) {
        socket.destroy();
        callback(err, socket);
      } else {
        // The new owner adds its own error listener a tick later; nothing may go unheard before.
        socket.on('error', () => undefined);
        callback(null, socket);
      }
    };
    const onError = (err: Error): void => done(err);
    const timer =
      opts.timeoutMs === undefined
        ? undefined
        : setTimeout(
            () => done(new Error(`TLS handshake with "${where}" timed out`)),
            opts.timeoutMs,
          );
    socket.once('error', onError);
    socket.once('secureConnect', () => {
      const cert = socket.getPeerX509Certificate();
      const actual = cert === undefined ? 'none' : tlsPinOfCertificate(cert);
      done(actual === pin ? null : pinMismatch(pin, actual, where));
    });
    return undefined;
  };
}
