/**
 * A real coordinator (with its control API and the real Octokit client) against the GitHub
 * simulator, and one host that holds a real enrolled key but decides itself what to answer and
 * what to report: the attacker of the ownership tests. It speaks the protocol directly through
 * {@link FakeAgent}; commands are verified with the coordinator's key and every answer is signed
 * with the host's own, so the coordinator sees an authenticated host — one that lies.
 */
import type { KeyObject } from 'node:crypto';
import {
  InMemoryReplayStore,
  importPublicJwk,
  signEvent,
  signResult,
  verifyCommand,
  type Command,
  type EventPayload,
  type LaneCreateCommand,
  type LaneReport,
  type OptIn,
  type ResultPayload,
} from '@launchplane/shared';
import { controlRouteFactory, type ControlOptions } from '@launchplane/coordinator';
import { startGitHubSim, type GitHubSim } from '@launchplane/github-sim';
import { FakeAgent, enrollHost, newHostKey } from '../coordinator-server/fake-agent.js';
import { startHarness, type Harness } from '../coordinator-server/harness.js';
import { cliClient, simJsonClient, type CliRun } from './world-io.js';

export const PAT = 'ghp_lyinghost000000000000000000000000000';

/** What the host answers to a command; undefined answers `ok` with the default outcome. */
export type CommandHandler = (
  cmd: Command,
) => Promise<Partial<ResultPayload> | undefined> | Partial<ResultPayload> | undefined;

export interface LyingWorld {
  sim: GitHubSim;
  harness: Harness;
  host: FakeAgent;
  hostId: string;
  operator: string;
  viewer: string;
  /** Every command the host received, in order. */
  commands: Command[];
  /** Replaces how the host answers commands. */
  onCommand(handler: CommandHandler): void;
  /** Sends a signed event (the next seq) and waits for its acknowledgement. */
  event(event: EventPayload['event']): Promise<void>;
  /** Sends an inventory frame, as the host chooses to describe itself. */
  inventory(lanes: LaneReport[], capabilities?: string[]): void;
  cli(token: string, ...args: string[]): Promise<CliRun>;
  simJson<T>(method: string, path: string, body?: unknown): Promise<T>;
  close(): Promise<void>;
}

export interface LyingWorldOptions {
  policy: string;
  optIn?: OptIn;
  capabilities?: string[];
  agentVersion?: string;
  control?: ControlOptions;
}

export const DEFAULT_OPT_IN: OptIn = {
  repositories: ['acme/api'],
  organizations: ['acme'],
  backends: ['systemd'],
  maxLanes: 4,
};

export async function startLyingWorld(opts: LyingWorldOptions): Promise<LyingWorld> {
  const cleanups: (() => Promise<unknown>)[] = [];
  const close = async (): Promise<void> => {
    for (const c of cleanups.reverse()) await c().catch(() => undefined);
  };
  try {
    // Runners the host starts never heartbeat: they stay online for the length of a test.
    const sim = await startGitHubSim({ tokens: [PAT], config: { offlineAfterMs: 600_000 } });
    cleanups.push(() => sim.close());
    let stopControl: (() => Promise<void>) | undefined;
    const harness = await startHarness({
      yaml: [
        `github: { apiUrl: "${sim.url}", webUrl: "${sim.url}", auth: { token: "${PAT}" } }`,
        'timeouts: { createOnlineSec: 20, drainSec: 60 }',
      ].join('\n'),
      routes: [
        controlRouteFactory({
          options: {
            settleObservations: 2,
            settleSec: 1,
            drainPollSec: 1,
            pollBaseMs: 200,
            pollCapMs: 500,
            ...opts.control,
          },
          onStarted: (c) => (stopControl = () => c.stop()),
        }),
      ],
    });
    cleanups.push(() => harness.close());
    cleanups.push(async () => stopControl?.());
    // The harness clock stands still unless moved; signed commands need a live one.
    harness.clock.now = Math.floor(Date.now() / 1000);
    const ticker = setInterval(() => (harness.clock.now = Math.floor(Date.now() / 1000)), 250);
    cleanups.push(() => Promise.resolve(clearInterval(ticker)));

    const applied = await harness.api('POST', '/v1/policy', { body: { text: opts.policy } });
    if (applied.status >= 300) throw new Error(`policy: ${JSON.stringify(applied.body)}`);
    const operator = (await harness.token('operator')).token;
    const viewer = (await harness.token('viewer')).token;

    const hostId = 'host-a';
    const key = newHostKey();
    const t = await harness.api('POST', '/v1/enrollment-tokens', { body: { hostId } });
    const enrolled = await enrollHost(harness.baseUrl, {
      token: String(t.body.token),
      hostId,
      publicKey: key.publicKey,
    });
    if (enrolled.status !== 201) throw new Error(`enroll: ${JSON.stringify(enrolled.body)}`);
    const host = await FakeAgent.connect(harness.agentUrl, {
      hostId,
      privateKey: key.privateKey,
      ...(opts.agentVersion === undefined ? {} : { agentVersion: opts.agentVersion }),
    });
    cleanups.push(() => Promise.resolve(host.ws.terminate()));

    const commands: Command[] = [];
    let handler: CommandHandler = () => undefined;
    const coordinatorKey = importPublicJwk(harness.coordinator.identity.publicJwk);
    const replay = new InMemoryReplayStore();
    void answerCommands(host, hostId, key.privateKey, async (jws) => {
      const verified = verifyCommand(jws, {
        publicKey: coordinatorKey,
        hostId,
        now: harness.clock.now,
        replay,
      });
      const cmd = verified.payload.cmd;
      commands.push(cmd);
      const answer = await handler(cmd);
      return {
        iss: hostId,
        jti: verified.payload.jti,
        ok: true,
        dryRun: cmd.dryRun,
        outcome: defaultOutcome(cmd),
        ...answer,
      };
    });

    const inventory = (lanes: LaneReport[], capabilities = opts.capabilities ?? []): void =>
      host.send({ type: 'inventory', optIn: opts.optIn ?? DEFAULT_OPT_IN, lanes, capabilities });
    inventory([]);
    const session = async (): Promise<void> => {
      for (let i = 0; i < 200; i++) {
        if (harness.coordinator.server.hub.session(hostId)?.inventory !== undefined) return;
        await new Promise((r) => setTimeout(r, 25));
      }
      throw new Error('the host inventory never arrived');
    };
    await session();

    let eventSeq = 0;
    const event = async (e: EventPayload['event']): Promise<void> => {
      eventSeq += 1;
      const payload = { iss: hostId, seq: eventSeq, at: harness.clock.now, event: e };
      host.send({
        type: 'event',
        seq: eventSeq,
        jws: signEvent(payload, { privateKey: key.privateKey }),
      });
      await host.next('ack');
    };
    return {
      sim,
      harness,
      host,
      hostId,
      operator,
      viewer,
      commands,
      onCommand: (h) => (handler = h),
      inventory,
      event,
      cli: cliClient(harness.baseUrl),
      simJson: simJsonClient(sim.url, PAT),
      close,
    };
  } catch (err) {
    await close();
    throw err;
  }
}

/** Answers every command frame with the signed result `answer` makes, until the socket closes. */
async function answerCommands(
  host: FakeAgent,
  hostId: string,
  privateKey: KeyObject,
  answer: (jws: string) => Promise<ResultPayload>,
): Promise<void> {
  for (;;) {
    let frame;
    try {
      frame = await host.next('command', 3_600_000);
    } catch {
      return;
    }
    const result = await answer(String(frame.jws));
    if (result.iss !== hostId) throw new Error('a result must be the host’s own');
    host.send({ type: 'result', jws: signResult(result, { privateKey }) });
  }
}

const OUTCOMES: Record<Command['type'], string> = {
  'lane.create': 'created',
  'lane.start': 'started',
  'lane.stop': 'stopped',
  'lane.restart': 'restarted',
  'lane.remove': 'removed',
  'lane.inspect': 'inspected',
};

function defaultOutcome(cmd: Command): string {
  return cmd.dryRun ? `would-${cmd.type.slice(5)}` : OUTCOMES[cmd.type];
}

/** A lane as the host reports it, built from the command that created it. */
export function reportOf(cmd: LaneCreateCommand, over: Partial<LaneReport> = {}): LaneReport {
  return {
    laneId: cmd.laneId,
    name: cmd.name,
    pool: cmd.pool,
    scope: cmd.scope,
    backend: cmd.backend,
    ephemeral: cmd.ephemeral,
    state: 'online',
    labels: cmd.labels,
    restarts: 0,
    createdAt: 1,
    updatedAt: 1,
    ...over,
  };
}

/** An idle inspect answer for a lane. */
export function idleInspect(cmd: LaneCreateCommand): Partial<ResultPayload> {
  return {
    outcome: 'inspected',
    lane: reportOf(cmd, {
      local: { busy: false, jobRunning: false, workerProcess: false, jobsCompleted: 0 },
    }),
  };
}

/**
 * Does what `config.sh` then `run.sh` would with a `lane.create`: registers the runner on the
 * simulator (with `labels`, by default the ones the coordinator sent) and opens its session, so
 * GitHub shows it online. A JIT lane's session opens with the credentials in its JIT config.
 */
export async function startRunner(
  sim: GitHubSim,
  cmd: LaneCreateCommand,
  labels: readonly string[] = cmd.labels,
): Promise<void> {
  let secret: string;
  if ('jitConfig' in cmd.runner) {
    const files = JSON.parse(Buffer.from(cmd.runner.jitConfig, 'base64').toString('utf8')) as {
      '.credentials': string;
    };
    const creds = JSON.parse(Buffer.from(files['.credentials'], 'base64').toString('utf8')) as {
      data: { secret: string };
    };
    secret = creds.data.secret;
  } else {
    const reg = await post(sim, '/_runner/register', undefined, {
      url: cmd.runner.url,
      token: cmd.runner.registrationToken,
      name: cmd.name,
      labels,
      noDefaultLabels: true,
      replace: true,
      ...(cmd.runner.runnerGroup === undefined ? {} : { runnerGroup: cmd.runner.runnerGroup }),
    });
    secret = (reg as { credentials: { data: { secret: string } } }).credentials.data.secret;
  }
  await post(sim, '/_runner/sessions', secret, { version: '2.330.0' });
}

async function post(
  sim: GitHubSim,
  path: string,
  secret: string | undefined,
  body: unknown,
): Promise<unknown> {
  const res = await fetch(`${sim.url}${path}`, {
    method: 'POST',
    headers: {
      'content-type': 'application/json',
      ...(secret === undefined ? {} : { authorization: `RunnerSecret ${secret}` }),
    },
    body: JSON.stringify(body),
  });
  const text = await res.text();
  if (!res.ok) throw new Error(`${path}: ${res.status} ${text}`);
  return text === '' ? undefined : JSON.parse(text);
}
