/**
 * A real `launchplane serve` child process in a temp dir on 127.0.0.1, with its admin token, an
 * authenticated fetch, and a check that it is alive and still serves a good agent.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { KeyObject } from 'node:crypto';
import { FakeAgent, enrollHost, newHostKey } from '../../coordinator-server/fake-agent.js';

const BIN = fileURLToPath(new URL('../../../packages/coordinator/dist/cli.js', import.meta.url));

/** A running coordinator process. */
export interface ServeProcess {
  child: ChildProcess;
  url: string;
  port: number;
  agentUrl: string;
  adminToken: string;
  dataDir: string;
  output(): string;
  /** Admin API call; `token: null` sends none. */
  api(
    method: string,
    path: string,
    opts?: { token?: string | null; body?: unknown; raw?: string },
  ): Promise<{ status: number; body: Record<string, unknown> }>;
  /** Enrolls `hostId` with a fresh key. */
  enroll(hostId: string): Promise<{ privateKey: KeyObject; publicKey: KeyObject }>;
  /** Throws unless the process runs, answers health, and a good agent gets its welcome. */
  assertServes(hostId: string, key: KeyObject): Promise<void>;
  stop(): Promise<number | null>;
}

/** Starts `launchplane serve`; `yaml` is appended to the config. */
export async function startServe(yaml = ''): Promise<ServeProcess> {
  const dir = mkdtempSync(join(tmpdir(), 'lp-badin-'));
  const config = join(dir, 'coordinator.yaml');
  writeFileSync(config, `listen: { host: 127.0.0.1, port: 0 }\ndataDir: data\n${yaml}`);
  const child = spawn(process.execPath, [BIN, 'serve', '--config', config], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  child.stdout?.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr?.on('data', (d: Buffer) => (out += d.toString()));
  let exitCode: number | null | undefined;
  const exited = new Promise<number | null>((resolve) =>
    child.on('exit', (code) => {
      exitCode = code;
      resolve(code);
    }),
  );
  let url: string;
  try {
    url = await new Promise<string>((resolve, reject) => {
      const t = setInterval(() => {
        const m = /listening on (http\S+)/.exec(out);
        if (m?.[1] !== undefined) {
          clearInterval(t);
          resolve(m[1]);
        }
      }, 20);
      void exited.then((code) => {
        clearInterval(t);
        reject(new Error(`serve exited ${code}: ${out}`));
      });
    });
  } catch (err) {
    rmSync(dir, { recursive: true, force: true });
    throw err;
  }
  const dataDir = join(dir, 'data');
  const adminToken = readFileSync(join(dataDir, 'admin.token'), 'utf8').trim();
  const port = Number(new URL(url).port);
  const api: ServeProcess['api'] = async (method, path, o = {}) => {
    const headers: Record<string, string> = {};
    const token = o.token === undefined ? adminToken : o.token;
    if (token !== null) headers.authorization = `Bearer ${token}`;
    const body = o.raw ?? (o.body === undefined ? undefined : JSON.stringify(o.body));
    if (body !== undefined) headers['content-type'] = 'application/json';
    const res = await fetch(`${url}${path}`, {
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
  const agentUrl = `${url.replace(/^http/, 'ws')}/v1/agent`;
  return {
    child,
    url,
    port,
    agentUrl,
    adminToken,
    dataDir,
    output: () => out,
    api,
    async enroll(hostId) {
      const key = newHostKey();
      const t = await api('POST', '/v1/enrollment-tokens', { body: { hostId } });
      if (t.status !== 201) throw new Error(`enrollment token: ${JSON.stringify(t.body)}`);
      const r = await enrollHost(url, {
        token: String(t.body.token),
        hostId,
        publicKey: key.publicKey,
      });
      if (r.status !== 201) throw new Error(`enroll: ${JSON.stringify(r.body)}`);
      return key;
    },
    async assertServes(hostId, key) {
      if (exitCode !== undefined) throw new Error(`serve exited ${exitCode}: ${out}`);
      const health = await fetch(`${url}/v1/health`);
      if (health.status !== 200) throw new Error(`health answered ${health.status}`);
      const a = await FakeAgent.connect(agentUrl, { hostId, privateKey: key });
      a.ws.terminate();
    },
    async stop() {
      if (exitCode === undefined) child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
      const code = await exited;
      clearTimeout(timer);
      rmSync(dir, { recursive: true, force: true });
      return code;
    },
  };
}
