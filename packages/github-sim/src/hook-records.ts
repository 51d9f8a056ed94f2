import type { Scope } from './scope.js';

/** A webhook of a repository or an organization, as the sim keeps it (in memory only). */
export interface HookRecord {
  id: number;
  scope: Scope;
  url: string;
  /** Signs deliveries; never shown by any API, and not written to the state file. */
  secret: string | null;
  contentType: 'json' | 'form';
  /** Events it subscribes to; `*` is every event. A `ping` goes to every hook. */
  events: string[];
  active: boolean;
  createdAt: number;
  /** The outcome of its latest delivery, as GitHub's `last_response`. */
  lastResponse: { code: number | null; status: string; message: string | null };
}

/** What became of a delivery: waiting to be sent, answered 2xx, anything else, or dropped. */
export type DeliveryState = 'pending' | 'delivered' | 'failed' | 'dropped';

/** One delivery attempt of one event to one hook. */
export interface DeliveryRecord {
  id: number;
  /** `X-GitHub-Delivery`: the event's GUID, shared by every hook's delivery and every redelivery. */
  guid: string;
  hookId: number;
  event: string;
  action: string | null;
  /** The job a `workflow_job` delivery is about. */
  jobId: number | null;
  repositoryId: number | null;
  /** The JSON payload (a `form` hook gets it as `payload=<url-encoded JSON>`). */
  payload: string;
  /** Made by a redelivery request. */
  redelivery: boolean;
  /** The second copy of a delivery the `duplicate` fault sent twice. */
  duplicate: boolean;
  state: DeliveryState;
  /** `OK`, `Invalid HTTP Response: 503`, `failed to connect to host`, `timed out`, … */
  status: string;
  /** The receiver's HTTP status; 0 when none came. */
  statusCode: number;
  /** When the event happened, by the sim's clock. */
  createdAt: number;
  /** When it was sent, by the sim's clock. */
  deliveredAt: number | null;
  /** How long the receiver took to answer. */
  durationMs: number | null;
  /** The `delayMs` fault it waited for. */
  delayedMs: number;
  /** Held back by the `reorder` fault until the hook's next delivery is sent. */
  held: boolean;
  requestHeaders: Record<string, string> | null;
  responseHeaders: Record<string, string> | null;
  responseBody: string | null;
}
