/**
 * Where the server hands a GitHub webhook delivery once its signature verified. The server owns
 * the HTTP edge (body cap, HMAC, per-source limits, refusal counting); the receiver decides what
 * the delivery means.
 */

/** A delivery whose `X-Hub-Signature-256` matched the configured secret. */
export interface WebhookDelivery {
  /** `X-GitHub-Delivery`: one GUID per delivery, kept by GitHub's redelivery. */
  deliveryId: string;
  /** `X-GitHub-Event`: `workflow_job`, `ping`, … */
  event: string;
  /** The raw body, as signed. */
  body: string;
  /** Unix seconds. */
  receivedAt: number;
}

/**
 * What became of a delivery: `ping` (GitHub's hello when a hook is made), `ignored` (another
 * event), `duplicate` (this delivery id was taken before), or what the job store did with the
 * job: `new`, `advanced`, `updated`, `unchanged`, `stale` (an older status than the stored one,
 * not taken) or `unknown-status` (a status GitHub may add later, not taken).
 */
export type WebhookOutcome =
  | 'ping'
  | 'ignored'
  | 'duplicate'
  | 'new'
  | 'advanced'
  | 'updated'
  | 'unchanged'
  | 'stale'
  | 'unknown-status';

export interface WebhookReceiver {
  /** Throws `LP_USAGE` for a body that is not a `workflow_job` payload. */
  receive(delivery: WebhookDelivery): Promise<{ outcome: WebhookOutcome; jobId?: number }>;
}
