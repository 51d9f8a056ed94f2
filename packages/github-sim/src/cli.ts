#!/usr/bin/env node
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { appFromPem } from './auth.js';
import { DEFAULT_CONFIG } from './simulator.js';
import { startGitHubSim } from './server.js';

const USAGE = `Usage: launchplane-github-sim --port P [--host 127.0.0.1] [--token T ...] [--state FILE]
       [--app-id ID --app-key PEM_FILE [--app-installation ID ...]] [--admin-token T]
       [--busy-lag-ms N] [--busy-flip-after-ms N] [--busy-flip-ms N] [--busy-trail-ms N]
       [--offline-after-ms N] [--poll-wait-ms N] [--rate-limit N] [--pickup-delay-ms N]`;

function int(v: string | undefined, name: string, fallback: number): number {
  if (v === undefined) return fallback;
  const n = Number(v);
  if (!Number.isInteger(n) || n < 0)
    throw new Error(`--${name} must be a non-negative integer, got "${v}"`);
  return n;
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      port: { type: 'string', default: '0' },
      host: { type: 'string', default: '127.0.0.1' },
      token: { type: 'string', multiple: true },
      state: { type: 'string' },
      'app-id': { type: 'string' },
      'app-key': { type: 'string' },
      'app-installation': { type: 'string', multiple: true },
      'admin-token': { type: 'string' },
      'busy-lag-ms': { type: 'string' },
      'busy-flip-after-ms': { type: 'string' },
      'busy-flip-ms': { type: 'string' },
      'busy-trail-ms': { type: 'string' },
      'offline-after-ms': { type: 'string' },
      'poll-wait-ms': { type: 'string' },
      'rate-limit': { type: 'string' },
      'pickup-delay-ms': { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
    strict: true,
  });
  if (values.help === true) {
    console.log(USAGE);
    return;
  }
  const apps = [];
  if (values['app-id'] !== undefined || values['app-key'] !== undefined) {
    if (values['app-id'] === undefined || values['app-key'] === undefined) {
      throw new Error('--app-id and --app-key go together');
    }
    const installations = values['app-installation']?.map((v) => int(v, 'app-installation', 0));
    apps.push(appFromPem(values['app-id'], readFileSync(values['app-key'], 'utf8'), installations));
  }
  const d = DEFAULT_CONFIG;
  const sim = await startGitHubSim({
    port: int(values.port, 'port', 0),
    host: values.host,
    tokens: values.token ?? [],
    apps,
    ...(values.state === undefined ? {} : { stateFile: values.state }),
    ...(values['admin-token'] === undefined ? {} : { adminToken: values['admin-token'] }),
    config: {
      busyLag: {
        lagMs: int(values['busy-lag-ms'], 'busy-lag-ms', d.busyLag.lagMs),
        flipAfterMs: int(values['busy-flip-after-ms'], 'busy-flip-after-ms', d.busyLag.flipAfterMs),
        flipMs: int(values['busy-flip-ms'], 'busy-flip-ms', d.busyLag.flipMs),
        trailMs: int(values['busy-trail-ms'], 'busy-trail-ms', d.busyLag.trailMs),
      },
      offlineAfterMs: int(values['offline-after-ms'], 'offline-after-ms', d.offlineAfterMs),
      pollWaitMs: int(values['poll-wait-ms'], 'poll-wait-ms', d.pollWaitMs),
      rateLimit: int(values['rate-limit'], 'rate-limit', d.rateLimit),
      pickupDelayMs: int(values['pickup-delay-ms'], 'pickup-delay-ms', d.pickupDelayMs),
    },
  });
  console.log(`listening on ${sim.url}`);
  const stop = (): void => {
    sim.close().then(
      () => process.exit(0),
      () => process.exit(1),
    );
  };
  process.once('SIGTERM', stop);
  process.once('SIGINT', stop);
}

main().catch((err: unknown) => {
  console.error(`launchplane-github-sim: ${err instanceof Error ? err.message : String(err)}`);
  console.error(USAGE);
  process.exit(2);
});
