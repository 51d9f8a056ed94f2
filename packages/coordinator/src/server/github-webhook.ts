/**
 * `POST /v1/github/webhook`: GitHub's `workflow_job` deliveries. No bearer token: the delivery
 * proves itself with `X-Hub-Signature-256`, the HMAC-SHA256 of the raw body under the hook's
 * secret, compared in constant time (`@octokit/webhooks-methods`). Until it has verified, a
 * delivery is an unauthenticated request like any other: it holds one of its source's pending
 * slots, and a refusal is counted per source and minute (`auth.refused`, kind `github-webhook`).
 */
import type { IncomingMessage } from 'node:http';
import { verify } from '@octokit/webhooks-methods';
import { LaunchplaneError } from '@launchplane/shared';
import type { WebhookDelivery, WebhookReceiver } from '../ports/webhook-receiver.js';
import { readRawBody } from './http-io.js';

export const WEBHOOK_PATH = '/v1/github/webhook';

/** The refusal-tally kind of a webhook request refused before its signature verified. */
export const WEBHOOK_KIND = 'github-webhook';

/** Options of the webhook route (coordinator.yaml `github.webhook`). */
export interface GitHubWebhookOptions {
  /** The hook's secret, as set on GitHub. Never logged. */
  secret: string;
  maxBodyBytes: number;
  receiver: WebhookReceiver;
}

/** `sha256=` and 64 lowercase hex digits, as GitHub sends it. */
const SIGNATURE = /^sha256=[0-9a-f]{64}$/;
/** GitHub's delivery ids are GUIDs; anything printable and short is kept as given. */
const DELIVERY_ID = /^[A-Za-z0-9-]{1,100}$/;
const EVENT = /^[a-z_]{1,64}$/;

/** Shortest secret the coordinator takes: anything shorter can be guessed offline. */
export const MIN_WEBHOOK_SECRET_LENGTH = 16;

function header(req: IncomingMessage, name: string): string | undefined {
  const v = req.headers[name];
  return Array.isArray(v) ? v[0] : v;
}

/**
 * Reads a delivery and checks its signature. Throws the refusal (`LP_UNAUTHENTICATED` without a
 * signature, `LP_SIGNATURE_INVALID` for one that does not match, `LP_USAGE` for a body past the
 * cap) before anything of it is used.
 */
export async function readSignedDelivery(
  req: IncomingMessage,
  opts: Pick<GitHubWebhookOptions, 'secret' | 'maxBodyBytes'>,
  now: number,
): Promise<WebhookDelivery> {
  const raw = await readRawBody(req, opts.maxBodyBytes);
  const signature = header(req, 'x-hub-signature-256');
  if (signature === undefined || signature === '') {
    throw new LaunchplaneError(
      'LP_UNAUTHENTICATED',
      'Webhook delivery has no X-Hub-Signature-256 header',
      { recovery: "Give the hook on GitHub the secret in the coordinator's github.webhook" },
    );
  }
  // The signature covers the bytes as sent; a body that is not UTF-8 decodes to other bytes
  // and so does not verify.
  const body = raw.toString('utf8');
  const ok =
    SIGNATURE.test(signature) && raw.length > 0 && (await verify(opts.secret, body, signature));
  if (!ok) {
    throw new LaunchplaneError(
      'LP_SIGNATURE_INVALID',
      'Webhook delivery signature does not match the configured secret',
      { recovery: "Give the hook on GitHub the secret in the coordinator's github.webhook" },
    );
  }
  const deliveryId = header(req, 'x-github-delivery') ?? '';
  const event = header(req, 'x-github-event') ?? '';
  if (!DELIVERY_ID.test(deliveryId) || !EVENT.test(event)) {
    throw new LaunchplaneError(
      'LP_USAGE',
      'Webhook delivery needs the X-GitHub-Delivery and X-GitHub-Event headers GitHub sends',
    );
  }
  const type = header(req, 'content-type') ?? '';
  if (!/^application\/json\s*(;|$)/i.test(type)) {
    throw new LaunchplaneError('LP_USAGE', 'Webhook delivery must be application/json', {
      recovery: 'Set the content type of the hook on GitHub to application/json',
    });
  }
  return { deliveryId, event, body, receivedAt: now };
}

/** Answered when `github.webhook` is not configured. */
export function webhookNotConfigured(): LaunchplaneError {
  return new LaunchplaneError('LP_NOT_FOUND', 'GitHub webhooks are not configured here', {
    recovery: 'Set github.webhook.secretFile in coordinator.yaml, or rely on polling',
  });
}
