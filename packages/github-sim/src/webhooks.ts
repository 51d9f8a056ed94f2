import { randomUUID } from 'node:crypto';
import { request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { type HookFaults, NO_HOOK_FAULTS, planDelivery } from './domain/delivery-faults.js';
import { signatureHeaders } from './domain/hook-signature.js';
import { SimError } from './errors.js';
import type { DeliveryRecord, HookRecord } from './hook-records.js';
import { type Scope, scopeKey } from './scope.js';
import type { GitHubSimulator, JobEvent } from './simulator.js';
import { hookTarget, pingPayload, workflowJobPayload } from './webhook-views.js';
import { stableId } from './workflow-views.js';

/**
 * What makes a hook (`POST /_sim/hooks`, `POST /repos/{o}/{r}/hooks`, `POST /orgs/{org}/hooks`),
 * as the request gave it: {@link Webhooks.createHook} checks every value.
 */
export interface HookInput {
  scope: Scope;
  /** An http or https URL. */
  url: unknown;
  /** A string, or absent/null for unsigned deliveries. */
  secret?: unknown;
  /** `json` or `form`. Default `json` (the REST API's default is `form`, as GitHub's). */
  contentType?: unknown;
  /** Event names, `*` for all. Default `['workflow_job']` (the REST API's: `['push']`). */
  events?: unknown;
  /** Default true. */
  active?: unknown;
}

/** A hook's settings once checked. */
type HookSettings = Pick<HookRecord, 'url' | 'secret' | 'contentType' | 'events' | 'active'>;

/** Options of {@link Webhooks}. */
export interface WebhooksOptions {
  sim: GitHubSimulator;
  /** The sim's own URL, which the payloads' links point at. */
  origin: () => string;
  /** Random source of the rate faults. */
  random: () => number;
  /** A receiver that has not answered in this long fails the delivery. Default 10 s, as GitHub. */
  timeoutMs?: number;
  /** Deliveries kept in the log; older ones are forgotten. Default 10 000. */
  maxDeliveries?: number;
}

/** The `User-Agent` of every delivery: GitHub's is `GitHub-Hookshot/<short commit>`. */
export const HOOKSHOT_USER_AGENT = 'GitHub-Hookshot/1a2b3c4';

/** Longest receiver answer kept in the delivery log. */
const MAX_RESPONSE_BYTES = 64 * 1024;

const HOOK_DOCS = 'https://docs.github.com/rest/repos/webhooks';

/** An event to deliver: the parts every hook's delivery of it shares. */
interface EventParts {
  guid: string;
  event: string;
  action: string | null;
  jobId: number | null;
  repositoryId: number | null;
  payload: string;
}

interface Pending {
  record: DeliveryRecord;
  /** `performance.now()` before which it is not sent (the `delayMs` fault). */
  sendAfter: number;
  /** While held by the reorder fault: when it is sent anyway. */
  holdUntil: number | null;
  /** Sent twice (the duplicate fault). */
  twice: boolean;
}

/** Whether a hook gets `event`. Every hook gets a `ping`. */
function subscribes(hook: HookRecord, event: string): boolean {
  return event === 'ping' || hook.events.includes('*') || hook.events.includes(event);
}

/** Whether a hook of `hook.scope` hears about repository `owner/repo` (lowercase). */
function hears(hook: HookRecord, repository: string): boolean {
  if (hook.scope.kind === 'repo') return scopeKey(hook.scope) === `repo:${repository}`;
  return repository.split('/')[0] === hook.scope.org.toLowerCase();
}

/** `new URL(text)`, or null (`URL.parse` needs Node 20.18). */
function parseUrl(text: string): URL | null {
  try {
    return new URL(text);
  } catch {
    return null;
  }
}

/** Checks a hook's settings like GitHub (422); nothing is made when one is wrong. */
function checkInput(input: HookInput): HookSettings {
  const fail = (why: string): SimError =>
    new SimError('SIM_INVALID', `Validation Failed: ${why}`, { documentationUrl: HOOK_DOCS });
  const url = typeof input.url === 'string' ? parseUrl(input.url) : null;
  if (
    typeof input.url !== 'string' ||
    url === null ||
    (url.protocol !== 'http:' && url.protocol !== 'https:') ||
    input.url.length > 2048
  ) {
    throw fail('"url" must be an http or https URL');
  }
  const contentType = input.contentType ?? 'json';
  if (contentType !== 'json' && contentType !== 'form') {
    throw fail('"content_type" must be json or form');
  }
  const events = input.events ?? ['workflow_job'];
  if (
    !Array.isArray(events) ||
    events.length === 0 ||
    !events.every((e) => typeof e === 'string' && /^(\*|[a-z][a-z_]{0,63})$/.test(e))
  ) {
    throw fail('"events" must be a non-empty array of event names');
  }
  const names = events as string[];
  const secret = input.secret ?? null;
  if (secret !== null && (typeof secret !== 'string' || secret === '' || secret.length > 1024)) {
    throw fail('"secret" must be a string of 1 to 1024 characters');
  }
  const active = input.active ?? true;
  if (typeof active !== 'boolean') throw fail('"active" must be a boolean');
  return { url: input.url, contentType, events: [...new Set(names)], secret, active };
}

/**
 * The webhooks of the simulated GitHub: hooks on repositories and organizations, a delivery per
 * event and hook, signed with the hook's secret, sent asynchronously to its URL, and a log of
 * every delivery that can be redelivered.
 *
 * Delivery is modelled on GitHub's documented behaviour: one attempt per delivery; a receiver
 * that does not answer 2xx within `timeoutMs`, refuses the connection or cannot be reached fails
 * it, and nothing retries it (GitHub "does not automatically redeliver failed deliveries"); a
 * redelivery is a new delivery with the same `X-GitHub-Delivery`. A hook's deliveries are sent one
 * at a time in the order of their events (GitHub promises no order; the reorder fault swaps them).
 */
export class Webhooks {
  /** Faults of the deliveries to come (`/_sim/hooks/faults`). */
  faults: HookFaults = NO_HOOK_FAULTS;
  readonly #sim: GitHubSimulator;
  readonly #origin: () => string;
  readonly #random: () => number;
  readonly #timeoutMs: number;
  readonly #maxDeliveries: number;
  #hooks: HookRecord[] = [];
  #deliveries: DeliveryRecord[] = [];
  #nextHookId = 1;
  #nextDeliveryId = 1;
  #queues = new Map<number, Pending[]>();
  readonly #pumping = new Set<number>();
  readonly #wake = new Map<number, () => void>();
  #settled: (() => void)[] = [];
  readonly #closed = new AbortController();
  readonly #unsubscribe: () => void;

  constructor(opts: WebhooksOptions) {
    this.#sim = opts.sim;
    this.#origin = opts.origin;
    this.#random = opts.random;
    this.#timeoutMs = opts.timeoutMs ?? 10_000;
    this.#maxDeliveries = opts.maxDeliveries ?? 10_000;
    this.#unsubscribe = opts.sim.onJobEvent((e) => this.#onJobEvent(e));
  }

  /** Every hook, oldest first. */
  get hooks(): readonly HookRecord[] {
    return this.#hooks;
  }

  /** The delivery log, oldest first (at most `maxDeliveries`). */
  get deliveries(): readonly DeliveryRecord[] {
    return this.#deliveries;
  }

  /** The hooks of exactly `scope` (a repository's, or an organization's). */
  hooksOf(scope: Scope): HookRecord[] {
    const key = scopeKey(scope);
    return this.#hooks.filter((h) => scopeKey(h.scope) === key);
  }

  /** Hook `id`, of `scope` when given; else a 404. */
  hook(id: number, scope?: Scope): HookRecord {
    const h = this.#hooks.find((x) => x.id === id);
    if (h === undefined || (scope !== undefined && scopeKey(h.scope) !== scopeKey(scope))) {
      throw new SimError('SIM_NOT_FOUND', 'Not Found', { documentationUrl: HOOK_DOCS });
    }
    return h;
  }

  /**
   * Makes a hook and, when active, sends it a `ping`. A second hook with the same URL on the same
   * repository or organization is refused, as GitHub refuses it.
   */
  createHook(input: HookInput): HookRecord {
    const checked = checkInput(input);
    if (this.hooksOf(input.scope).some((h) => h.url === checked.url)) {
      const on = input.scope.kind === 'repo' ? 'repository' : 'organization';
      throw new SimError('SIM_INVALID', `Validation Failed: Hook already exists on this ${on}`, {
        documentationUrl: HOOK_DOCS,
      });
    }
    const hook: HookRecord = {
      id: this.#nextHookId++,
      scope: input.scope,
      ...checked,
      createdAt: this.#sim.now(),
      lastResponse: { code: null, status: 'unused', message: null },
    };
    this.#hooks.push(hook);
    if (hook.active) this.ping(hook.id);
    return hook;
  }

  /** Deletes a hook; deliveries still waiting for it fail. */
  deleteHook(id: number, scope?: Scope): void {
    const hook = this.hook(id, scope);
    this.#hooks = this.#hooks.filter((h) => h !== hook);
  }

  /** Sends the hook a `ping` event (not subject to faults). */
  ping(id: number, scope?: Scope): DeliveryRecord {
    const hook = this.hook(id, scope);
    const repository = hook.scope.kind === 'repo' ? scopeKey(hook.scope).slice(5) : null;
    return this.#deliver(
      hook,
      {
        guid: randomUUID(),
        event: 'ping',
        action: null,
        jobId: null,
        repositoryId: repository === null ? null : stableId('repo', repository),
        payload: JSON.stringify(pingPayload(this.#origin(), hook)),
      },
      { faults: false, redelivery: false },
    );
  }

  /** Delivery `id`, of hook `hookId` when given; else a 404. */
  delivery(id: number, hookId?: number): DeliveryRecord {
    const d = this.#deliveries.find((x) => x.id === id);
    if (d === undefined || (hookId !== undefined && d.hookId !== hookId)) {
      throw new SimError('SIM_NOT_FOUND', `Delivery ${id} not found`, {
        documentationUrl: HOOK_DOCS,
      });
    }
    return d;
  }

  /**
   * Sends a delivery again, as GitHub's redelivery does: a new delivery (its own id, `redelivery`
   * true) of the same payload with the same `X-GitHub-Delivery`, signed with the hook's secret.
   * Faults do not apply to it. A dropped delivery can be redelivered too.
   */
  redeliver(id: number, hookId?: number): DeliveryRecord {
    const d = this.delivery(id, hookId);
    if (d.state === 'pending') {
      throw new SimError('SIM_CONFLICT', `Delivery ${id} has not been attempted yet`);
    }
    const hook = this.#hooks.find((h) => h.id === d.hookId);
    if (hook === undefined) {
      throw new SimError('SIM_NOT_FOUND', `Hook ${d.hookId} of delivery ${id} was deleted`);
    }
    return this.#deliver(hook, d, { faults: false, redelivery: true });
  }

  /** Resolves once no delivery is waiting to be sent or being sent. */
  settled(): Promise<void> {
    if (this.#idle()) return Promise.resolve();
    return new Promise((resolve) => this.#settled.push(resolve));
  }

  /** Forgets hooks, deliveries and faults (`POST /_sim/reset`); deliveries not sent are not. */
  reset(): void {
    for (const q of this.#queues.values()) q.length = 0;
    this.#queues = new Map();
    for (const w of [...this.#wake.values()]) w();
    this.#hooks = [];
    this.#deliveries = [];
    this.faults = NO_HOOK_FAULTS;
  }

  /** Stops: no further deliveries, those in flight are aborted. */
  close(): void {
    this.#unsubscribe();
    this.#closed.abort();
    this.reset();
  }

  #onJobEvent(e: JobEvent): void {
    const repository =
      this.#sim.state.run(e.job.runId)?.repository ?? e.job.repository.toLowerCase();
    const hooks = this.#hooks.filter(
      (h) => h.active && subscribes(h, 'workflow_job') && hears(h, repository),
    );
    if (hooks.length === 0) return;
    // One event, one GUID and one payload, shared by every hook's delivery of it.
    const parts: EventParts = {
      guid: randomUUID(),
      event: 'workflow_job',
      action: e.action,
      jobId: e.job.id,
      repositoryId: stableId('repo', repository),
      payload: JSON.stringify(workflowJobPayload(this.#origin(), this.#sim, e.action, e.job)),
    };
    for (const hook of hooks) this.#deliver(hook, parts, { faults: true, redelivery: false });
  }

  #queue(hookId: number): Pending[] {
    let q = this.#queues.get(hookId);
    if (q === undefined) {
      q = [];
      this.#queues.set(hookId, q);
    }
    return q;
  }

  #deliver(
    hook: HookRecord,
    parts: EventParts,
    opts: { faults: boolean; redelivery: boolean },
  ): DeliveryRecord {
    const q = this.#queue(hook.id);
    const heldAt = q.findIndex((p) => p.record.held);
    let plan = { drop: false, duplicate: false, hold: false, delayMs: 0 };
    if (opts.faults) {
      const planned = planDelivery(this.faults, this.#random, heldAt < 0);
      plan = planned.plan;
      this.faults = planned.faults;
    }
    const record = this.#record(hook.id, parts, {
      redelivery: opts.redelivery,
      duplicate: false,
      delayedMs: plan.delayMs,
    });
    if (plan.drop) {
      record.state = 'dropped';
      record.status = 'dropped (fault)';
      return record;
    }
    const now = performance.now();
    record.held = plan.hold;
    const item: Pending = {
      record,
      sendAfter: now + plan.delayMs,
      holdUntil: plan.hold ? now + this.faults.reorderHoldMs : null,
      twice: plan.duplicate,
    };
    const held = heldAt < 0 ? undefined : q[heldAt];
    if (held !== undefined) {
      // The delivery a held one waits for goes first; the held one follows right after it.
      q.splice(heldAt, 0, item);
      held.record.held = false;
      held.holdUntil = null;
      held.sendAfter = Math.max(held.sendAfter, item.sendAfter);
    } else {
      q.push(item);
    }
    void this.#pump(hook.id);
    return record;
  }

  #record(
    hookId: number,
    parts: EventParts,
    flags: { redelivery: boolean; duplicate: boolean; delayedMs: number },
  ): DeliveryRecord {
    const record: DeliveryRecord = {
      id: this.#nextDeliveryId++,
      guid: parts.guid,
      hookId,
      event: parts.event,
      action: parts.action,
      jobId: parts.jobId,
      repositoryId: parts.repositoryId,
      payload: parts.payload,
      ...flags,
      state: 'pending',
      status: 'pending',
      statusCode: 0,
      createdAt: this.#sim.now(),
      deliveredAt: null,
      durationMs: null,
      held: false,
      requestHeaders: null,
      responseHeaders: null,
      responseBody: null,
    };
    this.#deliveries.push(record);
    if (this.#deliveries.length > this.#maxDeliveries) this.#deliveries.shift();
    return record;
  }

  /** Sends a hook's queue in order, one delivery at a time, honouring delays and holds. */
  async #pump(hookId: number): Promise<void> {
    if (this.#pumping.has(hookId)) {
      this.#wake.get(hookId)?.();
      return;
    }
    this.#pumping.add(hookId);
    const q = this.#queue(hookId);
    try {
      while (q.length > 0 && !this.#closed.signal.aborted) {
        const head = q[0] as Pending;
        const wait = (head.holdUntil ?? head.sendAfter) - performance.now();
        if (wait > 0) {
          await this.#sleep(hookId, wait);
          continue;
        }
        q.shift();
        head.record.held = false;
        await this.#send(head.record);
        if (head.twice) {
          const copy = this.#record(hookId, head.record, {
            redelivery: head.record.redelivery,
            duplicate: true,
            delayedMs: head.record.delayedMs,
          });
          await this.#send(copy);
        }
      }
    } finally {
      this.#pumping.delete(hookId);
      if (this.#idle()) for (const s of this.#settled.splice(0)) s();
    }
  }

  #hookOrNull(id: number): HookRecord | null {
    return this.#hooks.find((h) => h.id === id) ?? null;
  }

  #sleep(hookId: number, ms: number): Promise<void> {
    return new Promise((resolve) => {
      const done = (): void => {
        clearTimeout(timer);
        this.#wake.delete(hookId);
        resolve();
      };
      const timer = setTimeout(done, ms);
      timer.unref();
      this.#wake.set(hookId, done);
    });
  }

  #idle(): boolean {
    return this.#pumping.size === 0 && [...this.#queues.values()].every((q) => q.length === 0);
  }

  async #send(record: DeliveryRecord): Promise<void> {
    const hook = this.#hookOrNull(record.hookId);
    if (hook === null) {
      record.state = 'failed';
      record.status = 'hook deleted';
      return;
    }
    const json = hook.contentType === 'json';
    const body = json ? record.payload : `payload=${encodeURIComponent(record.payload)}`;
    const target = hookTarget(hook);
    const headers: Record<string, string> = {
      accept: '*/*',
      'content-type': json ? 'application/json' : 'application/x-www-form-urlencoded',
      'user-agent': HOOKSHOT_USER_AGENT,
      'x-github-delivery': record.guid,
      'x-github-event': record.event,
      'x-github-hook-id': String(hook.id),
      'x-github-hook-installation-target-id': String(target.id),
      'x-github-hook-installation-target-type': target.type,
      ...(hook.secret === null ? {} : signatureHeaders(body, hook.secret)),
    };
    record.requestHeaders = headers;
    record.deliveredAt = this.#sim.now();
    const started = performance.now();
    const answer = await postOnce(hook.url, headers, body, this.#timeoutMs, this.#closed.signal);
    record.durationMs = Math.round(performance.now() - started);
    if ('error' in answer) {
      record.state = 'failed';
      record.status = answer.error === 'timeout' ? 'timed out' : 'failed to connect to host';
      record.statusCode = 0;
    } else {
      const ok = answer.status >= 200 && answer.status < 300;
      record.state = ok ? 'delivered' : 'failed';
      record.status = ok ? 'OK' : `Invalid HTTP Response: ${answer.status}`;
      record.statusCode = answer.status;
      record.responseHeaders = answer.headers;
      record.responseBody = answer.body;
    }
    hook.lastResponse = {
      code: record.statusCode === 0 ? null : record.statusCode,
      status: record.state === 'delivered' ? 'active' : 'failed',
      message: record.status,
    };
  }
}

type PostAnswer =
  | { status: number; headers: Record<string, string>; body: string }
  | { error: 'timeout' | 'connect' };

/**
 * One POST on a fresh connection, answered or failed within `timeoutMs`. Redirects are not
 * followed (a 3xx fails the delivery, as on GitHub).
 */
function postOnce(
  target: string,
  headers: Record<string, string>,
  body: string,
  timeoutMs: number,
  signal: AbortSignal,
): Promise<PostAnswer> {
  return new Promise((resolve) => {
    const url = new URL(target);
    let timedOut = false;
    const send = url.protocol === 'https:' ? httpsRequest : httpRequest;
    const req = send(
      url,
      {
        method: 'POST',
        headers: { ...headers, 'content-length': String(Buffer.byteLength(body)) },
        agent: false,
        signal,
      },
      (res) => {
        const chunks: Buffer[] = [];
        let size = 0;
        res.on('data', (c: Buffer) => {
          if (size < MAX_RESPONSE_BYTES) chunks.push(c.subarray(0, MAX_RESPONSE_BYTES - size));
          size += c.length;
        });
        res.on('end', () => {
          clearTimeout(timer);
          const out: Record<string, string> = {};
          for (const [k, v] of Object.entries(res.headers)) {
            if (v !== undefined) out[k] = Array.isArray(v) ? v.join(', ') : v;
          }
          resolve({
            status: res.statusCode ?? 0,
            headers: out,
            body: Buffer.concat(chunks).toString('utf8'),
          });
        });
        res.on('error', () => {
          clearTimeout(timer);
          resolve({ error: timedOut ? 'timeout' : 'connect' });
        });
      },
    );
    const timer = setTimeout(() => {
      timedOut = true;
      req.destroy();
    }, timeoutMs);
    timer.unref();
    req.on('error', () => {
      clearTimeout(timer);
      resolve({ error: timedOut ? 'timeout' : 'connect' });
    });
    req.end(body);
  });
}
