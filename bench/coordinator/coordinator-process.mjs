// The coordinator under test, in its own process so its memory is its own: the same wiring as
// `launchplane serve` (loadCoordinatorConfig → startCoordinator with the control API routes),
// plus two bench-only admin routes that drive the real `AgentHub.send` from inside the process:
//
//   POST /v1/bench/inspect {hostId, laneId}   one signed lane.inspect → the verified result
//   POST /v1/bench/fanout  {laneIds: {hostId: laneId}}
//        one signed lane.inspect to every host at once; per-host latency measured here, from the
//        moment the sends start to each verified result
//   GET  /v1/bench/memory                     gc() (when exposed), then process.memoryUsage()
//
// The routes go through the server's real bearer-token auth and role check (admin). Start:
//   node --expose-gc bench/coordinator/coordinator-process.mjs <coordinator.yaml>
// It prints one line `READY <json>` on stdout once listening, and stops on SIGTERM/SIGINT.
import { performance } from 'node:perf_hooks';
import process from 'node:process';
import {
  controlRouteFactory,
  loadCoordinatorConfig,
  startCoordinator,
} from '@launchplane/coordinator';
import { LaunchplaneError } from '@launchplane/shared';

const configPath = process.argv[2];
if (configPath === undefined) {
  process.stderr.write('usage: coordinator-process.mjs <coordinator.yaml>\n');
  process.exit(2);
}

// Warnings and errors only, as `serve` does with `log: {level: warn}`; JSON lines on stderr.
const write = (level) => (fields, message) =>
  process.stderr.write(`${JSON.stringify({ level, msg: message, ...fields })}\n`);
const logger = { debug: () => {}, info: () => {}, warn: write('warn'), error: write('error') };

function str(v, what) {
  if (typeof v !== 'string' || v.length === 0 || v.length > 64) {
    throw new LaunchplaneError('LP_USAGE', `${what} must be a short string`);
  }
  return v;
}

/** @type {import('@launchplane/coordinator').RouteFactory} */
const benchRoutes = (parts) => {
  const hub = parts.server.hub;
  const inspect = (hostId, laneId) =>
    hub.send(hostId, { type: 'lane.inspect', laneId, dryRun: false }, { actor: 'bench' });
  return [
    {
      method: 'POST',
      path: '/v1/bench/inspect',
      role: 'admin',
      async handler(ctx) {
        const hostId = str(ctx.body?.hostId, 'hostId');
        const laneId = str(ctx.body?.laneId, 'laneId');
        const t0 = performance.now();
        const result = await inspect(hostId, laneId);
        return {
          status: 200,
          body: { hubMs: performance.now() - t0, ok: result.ok, outcome: result.outcome },
        };
      },
    },
    {
      method: 'POST',
      path: '/v1/bench/fanout',
      role: 'admin',
      async handler(ctx) {
        const map = ctx.body?.laneIds;
        if (typeof map !== 'object' || map === null) {
          throw new LaunchplaneError('LP_USAGE', 'laneIds must map host ids to lane ids');
        }
        const entries = Object.entries(map).map(([h, l]) => [str(h, 'hostId'), str(l, 'laneId')]);
        const t0 = performance.now();
        const settled = await Promise.allSettled(
          entries.map(async ([hostId, laneId]) => {
            const r = await inspect(hostId, laneId);
            return { ms: performance.now() - t0, ok: r.ok };
          }),
        );
        const wallMs = performance.now() - t0;
        const latencies = [];
        const errors = {};
        let notOk = 0;
        for (const s of settled) {
          if (s.status === 'fulfilled') {
            latencies.push(s.value.ms);
            if (!s.value.ok) notOk++;
          } else {
            const code = s.reason?.code ?? String(s.reason);
            errors[code] = (errors[code] ?? 0) + 1;
          }
        }
        return { status: 200, body: { wallMs, latencies, notOk, errors } };
      },
    },
    {
      method: 'GET',
      path: '/v1/bench/memory',
      role: 'admin',
      async handler() {
        if (typeof globalThis.gc === 'function') {
          globalThis.gc();
          globalThis.gc();
        }
        const sessions = hub.sessions();
        return {
          status: 200,
          body: {
            memory: process.memoryUsage(),
            sessions: sessions.length,
            withInventory: sessions.filter((s) => s.inventory !== undefined).length,
          },
        };
      },
    },
  ];
};

const config = await loadCoordinatorConfig(configPath);
const coordinator = await startCoordinator(config, {
  logger,
  routes: [controlRouteFactory(), benchRoutes],
});
process.stdout.write(
  `READY ${JSON.stringify({
    pid: process.pid,
    url: coordinator.server.url,
    agentUrl: coordinator.server.agentUrl,
    coordinatorId: coordinator.coordinatorId,
  })}\n`,
);
let stopping = false;
const stop = () => {
  if (stopping) return;
  stopping = true;
  coordinator.close().then(
    () => process.exit(0),
    (err) => {
      process.stderr.write(`close failed: ${String(err)}\n`);
      process.exit(1);
    },
  );
};
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
// The bench driver holds our stdin: if it dies without signalling us, we stop too.
process.stdin.on('end', stop);
process.stdin.resume();
