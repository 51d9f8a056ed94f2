import { linkHeader, paginate, parsePaging } from './domain/pagination.js';
import { SimError } from './errors.js';
import type { DeliveryRecord } from './hook-records.js';
import { field } from './http-io.js';
import type { Operation, Outcome } from './rest-types.js';
import type { Scope } from './scope.js';
import { deliveryItemView, deliveryView, hookView } from './webhook-views.js';
import type { Webhooks } from './webhooks.js';

const HOOK_DOCS = 'https://docs.github.com/rest/repos/webhooks';

/**
 * The webhook endpoints of a repository (`/repos/{o}/{r}/hooks…`) or an organization
 * (`/orgs/{org}/hooks…`): create, list, get, delete, ping, and the deliveries with their
 * redelivery (`…/deliveries/{id}/attempts`). `rest` is the path after `…/hooks`. Answers null for
 * any other method or path.
 */
export function hookOperation(
  webhooks: Webhooks,
  method: string,
  scope: Scope,
  rest: string,
  origin: string,
): Operation | null {
  const ns = scope.kind === 'repo' ? 'repos' : 'orgs';
  const op = (name: string, run: Operation['run']): Operation => ({ id: `${ns}/${name}`, run });
  const m = /^\/(\d+)(?:\/(pings|deliveries)(?:\/(\d+)(\/attempts)?)?)?$/.exec(rest);
  const hookId = m === null ? null : Number(m[1]);
  const deliveryId = m?.[3] === undefined ? null : Number(m[3]);
  const sub = m?.[2];
  switch (true) {
    case rest === '' && method === 'GET':
      return op('list-webhooks', ({ url }) =>
        pagedArray(
          webhooks.hooksOf(scope).map((h) => hookView(origin, h)),
          url,
          origin,
        ),
      );
    case rest === '' && method === 'POST':
      return op('create-webhook', ({ body }) => {
        const name = field(body, 'name');
        if (name !== undefined && name !== 'web') {
          throw new SimError('SIM_INVALID', 'Validation Failed: "name" must be "web"', {
            documentationUrl: HOOK_DOCS,
          });
        }
        const config = field(body, 'config');
        if (typeof config !== 'object' || config === null) {
          throw new SimError('SIM_INVALID', 'Validation Failed: "config" must have a "url"', {
            documentationUrl: HOOK_DOCS,
          });
        }
        const hook = webhooks.createHook({
          scope,
          url: field(config, 'url'),
          secret: field(config, 'secret'),
          // GitHub's defaults for its REST API: form-encoded payloads, the push event.
          contentType: field(config, 'content_type') ?? 'form',
          events: field(body, 'events') ?? ['push'],
          active: field(body, 'active'),
        });
        return { status: 201, body: hookView(origin, hook) };
      });
    case hookId !== null && sub === undefined && method === 'GET':
      return op('get-webhook', () => ({
        status: 200,
        body: hookView(origin, webhooks.hook(hookId, scope)),
      }));
    case hookId !== null && sub === undefined && method === 'DELETE':
      return op('delete-webhook', () => {
        webhooks.deleteHook(hookId, scope);
        return { status: 204 };
      });
    case hookId !== null && sub === 'pings' && method === 'POST':
      return op('ping-webhook', () => {
        webhooks.ping(hookId, scope);
        return { status: 204 };
      });
    case hookId !== null && sub === 'deliveries' && deliveryId === null && method === 'GET':
      return op('list-webhook-deliveries', ({ url }) => {
        webhooks.hook(hookId, scope);
        return deliveryList(webhooks, hookId, url, origin);
      });
    case deliveryId !== null && m?.[4] === undefined && method === 'GET':
      return op('get-webhook-delivery', () => {
        const hook = webhooks.hook(hookId ?? 0, scope);
        const d = webhooks.delivery(deliveryId, hook.id);
        if (!attempted(d)) throw new SimError('SIM_NOT_FOUND', 'Not Found');
        return { status: 200, body: deliveryView(hook, d) };
      });
    case deliveryId !== null && m?.[4] !== undefined && method === 'POST':
      return op('redeliver-webhook-delivery', () => {
        const hook = webhooks.hook(hookId ?? 0, scope);
        if (!attempted(webhooks.delivery(deliveryId, hook.id))) {
          throw new SimError('SIM_NOT_FOUND', 'Not Found');
        }
        webhooks.redeliver(deliveryId, hook.id);
        return { status: 202, body: {} };
      });
    default:
      return null;
  }
}

/** What GitHub lists: deliveries it attempted (not those waiting, nor those dropped by a fault). */
function attempted(d: DeliveryRecord): boolean {
  return d.state === 'delivered' || d.state === 'failed';
}

/**
 * `GET …/hooks/{id}/deliveries`: newest first, `per_page`, cursor paging (`cursor` is the id of the
 * last delivery of the previous page), `status=success|failure`.
 */
function deliveryList(webhooks: Webhooks, hookId: number, url: URL, origin: string): Outcome {
  const q = url.searchParams;
  const status = q.get('status');
  if (status !== null && status !== 'success' && status !== 'failure') {
    throw new SimError('SIM_INVALID', 'Validation Failed: "status" must be success or failure', {
      documentationUrl: HOOK_DOCS,
    });
  }
  const cursor = q.get('cursor');
  const before = cursor === null ? Infinity : Number(cursor);
  if (!(before > 0)) {
    throw new SimError('SIM_BAD_REQUEST', 'Invalid "cursor"', { documentationUrl: HOOK_DOCS });
  }
  const { perPage } = parsePaging(q.get('per_page'), null);
  const all = webhooks.deliveries
    .filter(
      (d) =>
        d.hookId === hookId &&
        attempted(d) &&
        d.id < before &&
        (status === null || (status === 'success') === (d.state === 'delivered')),
    )
    .reverse();
  const page = all.slice(0, perPage);
  const last = page.at(-1);
  if (all.length <= perPage || last === undefined) {
    return { status: 200, body: page.map(deliveryItemView) };
  }
  const next = new URL(url.pathname + url.search, origin);
  next.searchParams.set('per_page', String(perPage));
  next.searchParams.set('cursor', String(last.id));
  return {
    status: 200,
    body: page.map(deliveryItemView),
    headers: { link: `<${next.href}>; rel="next"` },
  };
}

/** One page of a list GitHub answers as a bare array, with its `Link` header. */
function pagedArray(all: readonly unknown[], url: URL, origin: string): Outcome {
  const page = paginate(
    all,
    parsePaging(url.searchParams.get('per_page'), url.searchParams.get('page')),
  );
  const link = linkHeader(new URL(url.pathname + url.search, origin), page);
  return { status: 200, body: page.items, ...(link === null ? {} : { headers: { link } }) };
}
