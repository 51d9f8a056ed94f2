/**
 * Enrollment and API abuse against a real `launchplane serve`, as one table of abuse → HTTP
 * status and LP_* code. test/coordinator-server covers most rows one by one in-process; this
 * suite asserts them together on the built binary and adds what it lacks: an enrollment token
 * used as an API bearer, an operator token minting tokens, path-like and look-alike lane and host
 * ids in API paths (`../`, `%2e%2e`, uppercase, 27 characters, NUL). After the whole table
 * nothing is recorded but refusal audit records: no extra host, no host revoked, no token minted,
 * no lane.
 */
import { request } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { newHostKey, enrollHost } from '../../coordinator-server/fake-agent.js';
import { recordBadInput } from './record.js';
import { startServe, type ServeProcess } from './serve-process.js';

let serve: ServeProcess;

beforeAll(async () => {
  serve = await startServe();
});
afterAll(async () => {
  expect(await serve.stop()).toBe(0);
});

/** A request with the path sent exactly as given (fetch would normalize `..`). */
function raw(
  method: string,
  path: string,
  token: string | null,
  body?: unknown,
): Promise<{ status: number; code: string | undefined }> {
  return new Promise((resolve, reject) => {
    const text = body === undefined ? undefined : JSON.stringify(body);
    const req = request(
      {
        host: '127.0.0.1',
        port: serve.port,
        method,
        path,
        headers: {
          ...(token === null ? {} : { authorization: `Bearer ${token}` }),
          ...(text === undefined
            ? {}
            : { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) }),
        },
      },
      (res) => {
        let data = '';
        res.on('data', (d: Buffer) => (data += d.toString()));
        res.on('end', () => {
          let code: string | undefined;
          try {
            code = (JSON.parse(data) as { error?: { code?: string } }).error?.code;
          } catch {
            code = undefined;
          }
          resolve({ status: res.statusCode ?? 0, code });
        });
      },
    );
    req.on('error', reject);
    req.end(text);
  });
}

interface Row {
  abuse: string;
  expected: string;
  got: string;
}

describe('enrollment and API abuse → one table of coded refusals', () => {
  it('refuses every abuse with its code and records nothing but refusals', async () => {
    const enrollToken = async (hostId: string, ttlSec = 600): Promise<string> => {
      const r = await serve.api('POST', '/v1/enrollment-tokens', { body: { hostId, ttlSec } });
      expect(r.status).toBe(201);
      return String(r.body.token);
    };
    const asRow = (r: { status: number; body: Record<string, unknown> }): string =>
      `${r.status} ${String((r.body.error as { code?: string } | undefined)?.code)}`;
    const enroll = async (token: string, hostId: string, key = newHostKey()): Promise<string> => {
      const r = await enrollHost(serve.url, { token, hostId, publicKey: key.publicKey });
      return `${r.status} ${r.body.error?.code ?? 'ok'}`;
    };

    // Setup that the abuse needs: one enrolled host, one revoked host, tokens of every role.
    const hostA = newHostKey();
    const tokenA = await enrollToken('host-a');
    expect(await enroll(tokenA, 'host-a', hostA)).toBe('201 ok');
    expect(await enroll(await enrollToken('host-gone'), 'host-gone')).toBe('201 ok');
    expect((await serve.api('POST', '/v1/hosts/host-gone/revoke')).status).toBe(200);
    const mint = async (role: string): Promise<{ id: string; token: string }> => {
      const r = await serve.api('POST', '/v1/tokens', { body: { role } });
      expect(r.status).toBe(201);
      return { id: String(r.body.id), token: String(r.body.token) };
    };
    const viewer = await mint('viewer');
    const operator = await mint('operator');
    const revoked = await mint('admin');
    expect((await serve.api('POST', `/v1/tokens/${revoked.id}/revoke`)).status).toBe(200);
    const shortLived = await enrollToken('host-late', 1);
    const unusedForB = await enrollToken('host-b');
    const freshForA = await enrollToken('host-a');

    const before = {
      hosts: JSON.stringify((await serve.api('GET', '/v1/hosts')).body),
      auditSeq: Math.max(
        0,
        ...(
          (await serve.api('GET', '/v1/audit?limit=10000')).body.records as { seq: number }[]
        ).map((r) => r.seq),
      ),
    };
    // Let the short-lived token expire (TTLs are whole seconds).
    await new Promise((r) => setTimeout(r, 2_100));

    const rows: Row[] = [];
    const check = async (abuse: string, expected: string, got: Promise<string>) => {
      rows.push({ abuse, expected, got: await got });
    };
    const lane = '01jd0000000000000000000000';

    // Enrollment.
    await check(
      'enroll: reused token, same host, new key',
      '401 LP_TOKEN_INVALID',
      enroll(tokenA, 'host-a'),
    );
    await check('enroll: reused token, other host', '403 LP_FORBIDDEN', enroll(tokenA, 'host-c'));
    await check('enroll: expired token', '401 LP_EXPIRED', enroll(shortLived, 'host-late'));
    await check(
      'enroll: token of host-b used for host-c',
      '403 LP_FORBIDDEN',
      enroll(unusedForB, 'host-c'),
    );
    await check(
      'enroll: same hostId, new key, fresh token',
      '409 LP_CONFLICT',
      enroll(freshForA, 'host-a'),
    );
    await check(
      'enroll: garbage token',
      '401 LP_TOKEN_INVALID',
      enroll('lpe_garbage_garbagegarbage', 'host-c'),
    );
    await check(
      'enroll: operator token as enrollment token',
      '401 LP_TOKEN_INVALID',
      enroll(operator.token, 'host-c'),
    );
    await check(
      'enroll: revoked host, fresh token',
      '403 LP_HOST_REVOKED',
      serve.api('POST', '/v1/enrollment-tokens', { body: { hostId: 'host-gone' } }).then(asRow),
    );
    // API tokens and roles.
    await check(
      'api: no token',
      '401 LP_UNAUTHENTICATED',
      raw('GET', '/v1/hosts', null).then((r) => `${r.status} ${r.code}`),
    );
    await check(
      'api: garbage token',
      '401 LP_TOKEN_INVALID',
      raw('GET', '/v1/hosts', 'lpt_nope_nope').then((r) => `${r.status} ${r.code}`),
    );
    await check(
      'api: revoked admin token',
      '401 LP_TOKEN_INVALID',
      raw('GET', '/v1/hosts', revoked.token).then((r) => `${r.status} ${r.code}`),
    );
    await check(
      'api: enrollment token as bearer',
      '401 LP_TOKEN_INVALID',
      raw('GET', '/v1/hosts', unusedForB).then((r) => `${r.status} ${r.code}`),
    );
    await check(
      'api: viewer mints a token',
      '403 LP_FORBIDDEN',
      raw('POST', '/v1/tokens', viewer.token, { role: 'admin' }).then(
        (r) => `${r.status} ${r.code}`,
      ),
    );
    await check(
      'api: operator mints an admin token',
      '403 LP_FORBIDDEN',
      raw('POST', '/v1/tokens', operator.token, { role: 'admin' }).then(
        (r) => `${r.status} ${r.code}`,
      ),
    );
    await check(
      'api: viewer revokes a host',
      '403 LP_FORBIDDEN',
      raw('POST', '/v1/hosts/host-a/revoke', viewer.token).then((r) => `${r.status} ${r.code}`),
    );
    // Path-like and look-alike ids.
    // The WHATWG URL parser resolves `..` and `%2e%2e` segments before routing, so those never
    // reach a lane handler (no route: 404); everything else is refused by the id schema.
    const laneIds: [string, string, string][] = [
      ['../ (encoded slash)', '..%2F..%2Fhosts', '400 LP_USAGE'],
      ['%2e%2e', '%2e%2e', '404 LP_NOT_FOUND'],
      ['raw ..', '..', '404 LP_NOT_FOUND'],
      ['uppercase ULID', lane.toUpperCase(), '400 LP_USAGE'],
      ['27 chars', `${lane}0`, '400 LP_USAGE'],
      ['NUL', `${lane.slice(0, 25)}%00`, '400 LP_USAGE'],
    ];
    for (const [what, id, expected] of laneIds) {
      await check(
        `lane id ${what} in /v1/lanes/:id/drain`,
        expected,
        raw('POST', `/v1/lanes/${id}/drain`, serve.adminToken, {}).then(
          (r) => `${r.status} ${r.code}`,
        ),
      );
    }
    // Look-alike host ids name no host: nothing is revoked.
    for (const [what, id] of [
      ['../ (encoded slash)', '..%2Fhost-a'],
      ['%2e%2e', '%2e%2e'],
      ['uppercase', 'HOST-A'],
      ['trailing NUL', 'host-a%00'],
      ['trailing space', 'host-a%20'],
    ] as const) {
      await check(
        `host id ${what} in /v1/hosts/:id/revoke`,
        '404 LP_NOT_FOUND',
        raw('POST', `/v1/hosts/${id}/revoke`, serve.adminToken).then(
          (r) => `${r.status} ${r.code}`,
        ),
      );
    }
    // Dot segments resolve before authorization: they cannot borrow a weaker route's rules.
    const pathTricks: [string, string, string, string | null, string][] = [
      [
        'viewer: POST /v1/hosts/../tokens',
        'POST',
        '/v1/hosts/../tokens',
        viewer.token,
        '403 LP_FORBIDDEN',
      ],
      [
        'no token: GET /v1/health/../hosts',
        'GET',
        '/v1/health/../hosts',
        null,
        '401 LP_UNAUTHENTICATED',
      ],
      [
        'no token: GET /v1/enroll/../hosts',
        'GET',
        '/v1/enroll/../hosts',
        null,
        '401 LP_UNAUTHENTICATED',
      ],
      [
        'no token: POST /v1/enroll/..%2Ftokens',
        'POST',
        '/v1/enroll/..%2Ftokens',
        null,
        '401 LP_UNAUTHENTICATED',
      ],
      ['no token: GET //v1/hosts', 'GET', '//v1/hosts', null, '401 LP_UNAUTHENTICATED'],
    ];
    for (const [what, method, path, token, expected] of pathTricks) {
      await check(
        what,
        expected,
        raw(method, path, token, method === 'POST' ? { role: 'admin' } : undefined).then(
          (r) => `${r.status} ${r.code}`,
        ),
      );
    }

    console.table(rows);
    const wrong = rows.filter((r) => r.got !== r.expected);
    // Nothing recorded but refusals: the same hosts (none added, none revoked), no new token, and
    // every new audit record a refusal.
    const hostsAfter = JSON.stringify((await serve.api('GET', '/v1/hosts')).body);
    const fresh = (await serve.api('GET', `/v1/audit?afterSeq=${before.auditSeq}&limit=10000`)).body
      .records as { outcome: string; action: string }[];
    const tokensMinted = fresh.filter((a) => a.outcome === 'ok').length;
    recordBadInput({
      scenario: 'enrollment and API abuse table (launchplane serve)',
      injected: `${rows.length} abusive requests`,
      survived: wrong.length === 0 && hostsAfter === before.hosts && tokensMinted === 0,
      counts: {
        tried: rows.length,
        refused: rows.length - wrong.length,
        notRefused: wrong.length,
        hostsChanged: hostsAfter === before.hosts ? 0 : 1,
        okAuditRecords: tokensMinted,
        refusalAuditRecords: fresh.filter((a) => a.outcome === 'refused').length,
      },
    });
    expect(wrong).toEqual([]);
    expect(hostsAfter).toBe(before.hosts);
    expect(fresh.filter((a) => a.outcome !== 'refused')).toEqual([]);
    expect(fresh.length).toBeGreaterThan(0);
  });
});
