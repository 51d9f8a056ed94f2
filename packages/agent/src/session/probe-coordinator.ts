/**
 * A reachability check for `launchplane-agent doctor`: dial the coordinator's agent URL exactly as
 * the session does, wait for its challenge, check the coordinator id, and hang up without
 * authenticating.
 */
import type { createConnection } from 'node:net';
import WebSocket from 'ws';
import type { RawData } from 'ws';
import {
  MAX_PAYLOAD_BYTES,
  PROTOCOL_SUBPROTOCOL,
  coordinatorMessageSchema,
} from '@launchplane/shared';
import { pinnedConnect } from './pinned-tls.js';

/** Options of {@link probeCoordinator}. */
export interface ProbeOptions {
  url: string;
  /** The enrolled coordinator id the challenge must carry. */
  coordinatorId: string;
  /** Deadline for the whole probe, in ms. Default 5 000. */
  timeoutMs?: number;
  /** Extra CA certificates (PEM) to trust. */
  ca?: string | Buffer;
  /** The coordinator's TLS key pin; checked before anything is sent, instead of CAs. */
  tlsPin?: string | undefined;
}

/** The outcome of a probe. */
export type ProbeResult = { ok: true } | { ok: false; reason: string };

/** Dials the coordinator and waits for a valid challenge from the enrolled coordinator. */
export function probeCoordinator(options: ProbeOptions): Promise<ProbeResult> {
  const timeoutMs = options.timeoutMs ?? 5_000;
  return new Promise((resolve) => {
    let settled = false;
    const ws = new WebSocket(options.url, [PROTOCOL_SUBPROTOCOL], {
      maxPayload: MAX_PAYLOAD_BYTES,
      perMessageDeflate: false,
      followRedirects: false,
      handshakeTimeout: timeoutMs,
      ...(options.ca === undefined ? {} : { ca: options.ca }),
      ...(options.tlsPin === undefined || !options.url.startsWith('wss:')
        ? {}
        : {
            createConnection: pinnedConnect(options.tlsPin, {
              timeoutMs,
            }) as unknown as typeof createConnection,
          }),
    });
    const finish = (result: ProbeResult): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      if (ws.readyState === WebSocket.OPEN) ws.close(1000, 'probe');
      else ws.terminate();
      resolve(result);
    };
    const timer = setTimeout(
      () => finish({ ok: false, reason: `no challenge within ${timeoutMs} ms` }),
      timeoutMs,
    );
    ws.on('error', (err: Error) => finish({ ok: false, reason: err.message }));
    ws.on('close', (code: number) =>
      finish({ ok: false, reason: `closed with ${code} before a challenge` }),
    );
    ws.on('message', (data: RawData, isBinary: boolean) => {
      let json: unknown;
      try {
        json = isBinary ? undefined : JSON.parse(Buffer.from(data as Buffer).toString('utf8'));
      } catch {
        json = undefined;
      }
      const parsed = coordinatorMessageSchema.safeParse(json);
      if (!parsed.success || parsed.data.type !== 'challenge') {
        finish({ ok: false, reason: 'first frame is not a valid challenge' });
      } else if (parsed.data.coordinatorId !== options.coordinatorId) {
        finish({
          ok: false,
          reason: `answered as coordinator "${parsed.data.coordinatorId}", not the enrolled "${options.coordinatorId}"`,
        });
      } else {
        finish({ ok: true });
      }
    });
  });
}
