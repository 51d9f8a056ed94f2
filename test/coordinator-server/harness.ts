/**
 * Starts an in-process coordinator on port 0 in a temp data dir, with a controllable clock, and
 * gives tests an admin token and a small authenticated fetch.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  parseCoordinatorConfig,
  silentLogger,
  startCoordinator,
  type Coordinator,
  type RouteFactory,
} from '@launchplane/coordinator';

export interface Harness {
  coordinator: Coordinator;
  dataDir: string;
  baseUrl: string;
  agentUrl: string;
  adminToken: string;
  clock: { now: number };
  api(
    method: string,
    path: string,
    opts?: {
      token?: string | undefined;
      body?: unknown;
      raw?: string;
      headers?: Record<string, string>;
    },
  ): Promise<{ status: number; body: Record<string, unknown> }>;
  token(role: 'viewer' | 'operator' | 'admin'): Promise<{ id: string; token: string }>;
  close(): Promise<void>;
}

/** Starts a coordinator; `yaml` is appended to the generated config. */
export async function startHarness(
  opts: { yaml?: string; routes?: RouteFactory[] } = {},
): Promise<Harness> {
  const dir = mkdtempSync(join(tmpdir(), 'lp-coord-'));
  const dataDir = join(dir, 'data');
  const clock = { now: Math.floor(Date.now() / 1000) };
  const config = parseCoordinatorConfig(
    `listen: { host: 127.0.0.1, port: 0 }\ndataDir: data\n${opts.yaml ?? ''}`,
    { baseDir: dir },
  );
  let coordinator: Coordinator;
  try {
    coordinator = await startCoordinator(config, {
      logger: silentLogger,
      nowSec: () => clock.now,
      ...(opts.routes === undefined ? {} : { routes: opts.routes }),
    });
  } catch (err) {
    rmSync(dir, { recursive: true, force: true });
    throw err;
  }
  const adminToken = readFileSync(join(dataDir, 'admin.token'), 'utf8').trim();
  const baseUrl = coordinator.server.url;
  const api: Harness['api'] = async (method, path, o = {}) => {
    const headers: Record<string, string> = { ...(o.headers ?? {}) };
    const token = 'token' in o ? o.token : adminToken;
    if (token !== undefined) headers.authorization = `Bearer ${token}`;
    let body: string | undefined;
    if (o.raw !== undefined) body = o.raw;
    else if (o.body !== undefined) body = JSON.stringify(o.body);
    if (body !== undefined) headers['content-type'] ??= 'application/json';
    const res = await fetch(`${baseUrl}${path}`, {
      method,
      headers,
      ...(body === undefined ? {} : { body }),
    });
    const text = await res.text();
    return {
      status: res.status,
      body: text === '' ? {} : (JSON.parse(text) as Record<string, unknown>),
    };
  };
  return {
    coordinator,
    dataDir,
    baseUrl,
    agentUrl: coordinator.server.agentUrl,
    adminToken,
    clock,
    api,
    async token(role) {
      const r = await api('POST', '/v1/tokens', { body: { role } });
      if (r.status !== 201) throw new Error(`token create failed: ${JSON.stringify(r.body)}`);
      return { id: String(r.body.id), token: String(r.body.token) };
    },
    async close() {
      await coordinator.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
