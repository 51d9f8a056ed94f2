/**
 * Load: an agent that stops reading its socket while the coordinator keeps sending it commands
 * is cut off once `agents.maxBufferedBytes` (default 1 MiB) wait for it, so it cannot grow the
 * coordinator's memory; its pending commands fail with LP_HOST_OFFLINE, and the other agents
 * (the real agent session code, in a worker process) keep round-tripping signed commands
 * throughout, none lost and no session dropped.
 *
 * The coordinator runs in this process (`startCoordinator`, as `launchplane serve` wires it) so
 * the test can send commands through its real agent hub and read its log.
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  parseCoordinatorConfig,
  startCoordinator,
  type Coordinator,
  type Logger,
} from '@launchplane/coordinator';
import { LaunchplaneError, type Command, type ResultPayload } from '@launchplane/shared';
import { FleetWorker, enrollHosts, percentile, waitFor, type EnrolledHost } from './fleet.js';
import { recordScenario } from './record.js';

/** Agents that keep working meanwhile; the bench runs more (LP_SLOW_OTHERS). */
const OTHERS = Number(process.env.LP_SLOW_OTHERS ?? 20);
const CAP = 1024 * 1024;
/** A JIT config as large as the protocol allows: a frame of about 85 KiB once signed. */
const JIT_CONFIG_BYTES = 60 * 1024;
/** Far past any kernel buffering plus the cap; reaching it means the cap did not work. */
const MAX_FLOOD_SENDS = 1000;

interface LogLine {
  level: string;
  fields: Record<string, unknown>;
  message: string;
}

const logs: LogLine[] = [];
const logger: Logger = {
  debug: () => undefined,
  info: (fields, message) => logs.push({ level: 'info', fields, message }),
  warn: (fields, message) => logs.push({ level: 'warn', fields, message }),
  error: (fields, message) => logs.push({ level: 'error', fields, message }),
};

let dir: string;
let coordinator: Coordinator;
let worker: FleetWorker;
let others: EnrolledHost[];
let slow: EnrolledHost;

const CROCKFORD = '0123456789abcdefghjkmnpqrstvwxyz';
function laneId(): string {
  const bytes = randomBytes(25);
  return `0${Array.from(bytes, (b) => CROCKFORD[b % 32]).join('')}`;
}

function inspect(): Command {
  return { type: 'lane.inspect', laneId: laneId(), dryRun: false };
}

function bigCreate(): Command {
  return {
    type: 'lane.create',
    laneId: laneId(),
    dryRun: false,
    name: 'load-slow-lane',
    scope: { repository: 'acme/app' },
    pool: 'load',
    labels: ['linux'],
    backend: 'systemd',
    ephemeral: true,
    runner: { jitConfig: randomBytes(JIT_CONFIG_BYTES / 2).toString('hex') },
  };
}

/** One round: a lane.inspect to every other host at once; returns each round trip in ms. */
async function roundTrip(): Promise<{ ms: number[]; results: ResultPayload[] }> {
  const answers = await Promise.all(
    others.map(async (h) => {
      const t = performance.now();
      const r = await coordinator.server.hub.send(h.hostId, inspect(), { actor: 'load-test' });
      return { ms: performance.now() - t, r };
    }),
  );
  return { ms: answers.map((a) => a.ms), results: answers.map((a) => a.r) };
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'lp-slow-'));
  const config = parseCoordinatorConfig(
    'listen: { host: 127.0.0.1, port: 0 }\ndataDir: data\nagents: { heartbeatSec: 5 }\n',
    { baseDir: dir },
  );
  expect(config.agents.maxBufferedBytes).toBe(CAP);
  coordinator = await startCoordinator(config, { logger });
  const adminToken = readFileSync(join(dir, 'data', 'admin.token'), 'utf8').trim();
  const enrolled = await enrollHosts(coordinator.server.url, adminToken, OTHERS + 1, 'slowtest');
  others = enrolled.hosts.slice(0, OTHERS);
  slow = enrolled.hosts[OTHERS] as EnrolledHost;
  worker = FleetWorker.spawn(0);
  await worker.request(
    {
      op: 'start',
      url: coordinator.server.agentUrl,
      coordinatorId: enrolled.coordinatorId,
      coordinatorKey: enrolled.coordinatorKey,
      hosts: others,
    },
    'started',
  );
  await worker.request(
    { op: 'slow', url: coordinator.server.agentUrl, host: slow },
    'slow-ready',
    30_000,
  );
  await waitFor(
    'every agent connected',
    () => coordinator.server.hub.sessions().length === OTHERS + 1,
    60_000,
  );
}, 120_000);

afterAll(async () => {
  await worker?.stop();
  await coordinator?.close();
  rmSync(dir, { recursive: true, force: true });
}, 60_000);

describe('an agent that stops reading', () => {
  it('is cut off at agents.maxBufferedBytes while the others keep round-tripping commands', async () => {
    const hub = coordinator.server.hub;
    const start = Date.now();
    // Baseline latency of the others, before anything is sent to the slow agent.
    const baseline: number[] = [];
    for (let i = 0; i < 5; i++) baseline.push(...(await roundTrip()).ms);

    // Flood the slow agent (it never reads) while the others keep working.
    const flood: Promise<unknown>[] = [];
    let sent = 0;
    let floodBytes = 0;
    let floodDone = false;
    const tFlood = performance.now();
    let cutOffMs = NaN;
    const flooding = (async () => {
      while (sent < MAX_FLOOD_SENDS && hub.session(slow.hostId) !== undefined) {
        const cmd = bigCreate();
        floodBytes += JSON.stringify(cmd).length;
        flood.push(
          hub.send(slow.hostId, cmd, { actor: 'load-test', timeoutMs: 120_000 }).then(
            () => 'answered',
            (err: unknown) => err,
          ),
        );
        sent++;
        // Let the loop breathe: the others' traffic goes on in between.
        await new Promise((r) => setImmediate(r));
      }
      cutOffMs = performance.now() - tFlood;
      floodDone = true;
    })();
    const during: number[] = [];
    const duringResults: ResultPayload[] = [];
    while (!floodDone || during.length < 5 * OTHERS) {
      const r = await roundTrip();
      during.push(...r.ms);
      duringResults.push(...r.results);
    }
    await flooding;
    // And after: the others are unaffected.
    const after: number[] = [];
    for (let i = 0; i < 5; i++) after.push(...(await roundTrip()).ms);
    const outcomes = await Promise.all(flood);

    const cut = logs.find((l) => l.message === 'agent is not reading its socket; terminating');
    const report = await worker.report(start);
    baseline.sort((a, b) => a - b);
    during.sort((a, b) => a - b);
    after.sort((a, b) => a - b);
    const offline = outcomes.filter(
      (o) => o instanceof LaunchplaneError && o.code === 'LP_HOST_OFFLINE',
    ).length;
    const bufferedAtCut = Number(cut?.fields.bufferedBytes ?? NaN);
    const othersFailed = duringResults.filter(
      (r) => r.ok || r.outcome !== 'refused' || r.error?.code !== 'LP_NOT_FOUND',
    ).length;
    const figures = {
      capBytes: CAP,
      floodCommands: sent,
      floodBytes,
      bufferedAtCutBytes: bufferedAtCut,
      cutOffMs: Math.round(cutOffMs),
      othersBaselineP50Ms: round(percentile(baseline, 50)),
      othersBaselineP99Ms: round(percentile(baseline, 99)),
      othersDuringP50Ms: round(percentile(during, 50)),
      othersDuringP99Ms: round(percentile(during, 99)),
      othersAfterP50Ms: round(percentile(after, 50)),
      othersCommandsDuring: during.length,
    };
    const survived =
      cut !== undefined &&
      hub.session(slow.hostId) === undefined &&
      hub.sessions().length === OTHERS &&
      report.disconnects.length === 0 &&
      offline === sent &&
      othersFailed === 0;
    recordScenario({
      area: 'load',
      scenario: `slow-agent-cut-off-${OTHERS}-others`,
      injected: `1 agent that stops reading while ${sent} commands (${floodBytes} bytes) are sent to it; ${OTHERS} others round-trip commands`,
      survived,
      counts: {
        othersDropped: report.disconnects.length,
        othersCommandsLost: othersFailed,
        slowCommandsLeftPending: sent - offline,
      },
      figures,
    });

    // Cut off by the cap, before the flood bound, logged with its reason and figures.
    expect(cut).toBeDefined();
    expect(cut?.level).toBe('warn');
    expect(cut?.fields).toMatchObject({ hostId: slow.hostId, limit: CAP });
    expect(sent).toBeLessThan(MAX_FLOOD_SENDS);
    // What it held in memory for the slow agent: over the cap by at most one frame.
    expect(bufferedAtCut).toBeGreaterThan(CAP);
    expect(bufferedAtCut).toBeLessThanOrEqual(CAP + 2 * JIT_CONFIG_BYTES);
    expect(hub.session(slow.hostId)).toBeUndefined();
    // Every command sent to it failed as offline; none is left pending.
    expect(offline).toBe(sent);
    // The others: every session kept, every command answered by its agent.
    expect(hub.sessions().map((s) => s.hostId)).toEqual(others.map((h) => h.hostId).sort());
    expect(report.disconnects).toEqual([]);
    expect(othersFailed).toBe(0);
    expect(duringResults.length).toBe(during.length);
  });
});

function round(n: number): number {
  return Math.round(n * 10) / 10;
}
