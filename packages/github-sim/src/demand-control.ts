import { scopeOf } from './control-bodies.js';
import { mergeHookFaults, NO_HOOK_FAULTS } from './domain/delivery-faults.js';
import { SimError } from './errors.js';
import type { DeliveryRecord, HookRecord } from './hook-records.js';
import { field } from './http-io.js';
import type { GitHubSimulator } from './simulator.js';
import type { TraceReplay } from './trace-replay.js';
import type { Webhooks } from './webhooks.js';

/**
 * The demand side of the control API (see the package README): webhooks, their delivery log and
 * faults, and trace replay.
 *
 * - `POST /_sim/hooks` `{repository|organization, url, secret?, events?, contentType?, active?}`
 *   → 201; `GET /_sim/hooks`; `DELETE /_sim/hooks/{id}`; `POST /_sim/hooks/{id}/pings` → 202
 * - `GET /_sim/hooks/deliveries` (`?hookId=&event=&action=&jobId=`);
 *   `GET /_sim/hooks/deliveries/{id}` (with headers and payload);
 *   `POST /_sim/hooks/deliveries/{id}/redeliver` → 202
 * - `GET/PUT/PATCH /_sim/hooks/faults`
 * - `POST /_sim/trace` `{jobs: [...], speed?}` → 201; `GET /_sim/trace` (`?jobs=1`);
 *   `DELETE /_sim/trace`
 *
 * Answers `undefined` for any other path, so the caller routes on.
 */
export function routeDemandControl(
  d: { sim: GitHubSimulator; webhooks: Webhooks; trace: TraceReplay },
  method: string,
  url: URL,
  body: unknown,
): { status: number; body?: unknown } | undefined {
  const path = url.pathname.replace(/\/+$/, '');
  const key = `${method} ${path}`;
  const { webhooks, trace } = d;
  if (key === 'POST /_sim/hooks') {
    const hook = webhooks.createHook({
      scope: scopeOf(body).scope,
      url: field(body, 'url'),
      secret: field(body, 'secret'),
      contentType: field(body, 'contentType'),
      events: field(body, 'events'),
      active: field(body, 'active'),
    });
    return { status: 201, body: hookView(hook) };
  }
  if (key === 'GET /_sim/hooks')
    return { status: 200, body: { hooks: webhooks.hooks.map(hookView) } };
  const hm = /^\/_sim\/hooks\/(\d+)(\/pings)?$/.exec(path);
  if (hm !== null && method === 'DELETE' && hm[2] === undefined) {
    webhooks.deleteHook(Number(hm[1]));
    return { status: 204 };
  }
  if (hm !== null && method === 'POST' && hm[2] !== undefined) {
    return { status: 202, body: deliveryView(webhooks.ping(Number(hm[1]))) };
  }
  if (key === 'GET /_sim/hooks/deliveries') {
    const q = url.searchParams;
    const num = (k: string): number | null => (q.has(k) ? Number(q.get(k)) : null);
    const [hookId, jobId] = [num('hookId'), num('jobId')];
    const deliveries = webhooks.deliveries.filter(
      (x) =>
        (hookId === null || x.hookId === hookId) &&
        (jobId === null || x.jobId === jobId) &&
        (!q.has('event') || x.event === q.get('event')) &&
        (!q.has('action') || x.action === q.get('action')),
    );
    return { status: 200, body: { deliveries: deliveries.map(deliveryView) } };
  }
  const dm = /^\/_sim\/hooks\/deliveries\/(\d+)(\/redeliver)?$/.exec(path);
  if (dm !== null && method === 'GET' && dm[2] === undefined) {
    const x = webhooks.delivery(Number(dm[1]));
    return {
      status: 200,
      body: {
        ...deliveryView(x),
        requestHeaders: x.requestHeaders,
        payload: JSON.parse(x.payload) as unknown,
        responseHeaders: x.responseHeaders,
        responseBody: x.responseBody,
      },
    };
  }
  if (dm !== null && method === 'POST' && dm[2] !== undefined) {
    return { status: 202, body: deliveryView(webhooks.redeliver(Number(dm[1]))) };
  }
  if (path === '/_sim/hooks/faults') {
    if (method === 'GET') return { status: 200, body: webhooks.faults };
    if (method === 'PUT' || method === 'PATCH') {
      const base = method === 'PUT' ? NO_HOOK_FAULTS : webhooks.faults;
      const merged = mergeHookFaults(base, (body ?? {}) as Record<string, unknown>);
      if (typeof merged === 'string') throw new SimError('SIM_INVALID', merged);
      webhooks.faults = merged;
      return { status: 200, body: merged };
    }
  }
  if (key === 'POST /_sim/trace') return { status: 201, body: trace.start(body) };
  if (key === 'GET /_sim/trace') {
    d.sim.sweep(); // the arrivals due by now, and jobs' ends, before they are counted
    return { status: 200, body: trace.progress(url.searchParams.get('jobs') === '1') };
  }
  if (key === 'DELETE /_sim/trace') return { status: 200, body: trace.cancel() };
  return undefined;
}

/** A hook as the control API shows it: never its secret, only whether it has one. */
function hookView(h: HookRecord): Record<string, unknown> {
  return {
    id: h.id,
    ...(h.scope.kind === 'repo'
      ? { repository: `${h.scope.owner}/${h.scope.repo}` }
      : { organization: h.scope.org }),
    url: h.url,
    contentType: h.contentType,
    events: h.events,
    active: h.active,
    secretSet: h.secret !== null,
    createdAt: h.createdAt,
    lastResponse: h.lastResponse,
  };
}

/** A delivery in the log, without its headers and payload. */
function deliveryView(x: DeliveryRecord): Record<string, unknown> {
  return {
    id: x.id,
    guid: x.guid,
    hookId: x.hookId,
    event: x.event,
    action: x.action,
    jobId: x.jobId,
    redelivery: x.redelivery,
    duplicate: x.duplicate,
    state: x.state,
    status: x.status,
    statusCode: x.statusCode,
    createdAt: x.createdAt,
    deliveredAt: x.deliveredAt,
    durationMs: x.durationMs,
    delayedMs: x.delayedMs,
    held: x.held,
  };
}
