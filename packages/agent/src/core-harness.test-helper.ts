/**
 * Builds an {@link AgentCore} on fakes for unit tests: a temp data dir, a fake runner template, fake
 * systemd and Docker, a manual clock, fresh keys, and helpers to sign commands and read results.
 */
import { chmod, lchown, lstat, mkdtemp, rm, writeFile, mkdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  agentConfigSchema,
  fingerprint,
  generateEd25519KeyPair,
  newLaneId,
  verifyResult,
} from '@launchplane/shared';
import type {
  AgentConfig,
  Command,
  CommandPayload,
  Ed25519KeyPair,
  ResultPayload,
} from '@launchplane/shared';
import { testCommandSigner } from '@launchplane/testkit/commands';
import { AgentCore, type AgentCoreDeps } from './agent-core.js';
import { ManualClock } from './ports/clock.js';
import { silentLogger } from './ports/logger.js';
import { FakeContainerRuntime } from './ports/fake-container-runtime.test-helper.js';
import { FakeUnitManager } from './ports/fake-unit-manager.test-helper.js';
import { FakeUserAccounts } from './ports/fake-user-accounts.test-helper.js';

/** A JIT config that must never show up anywhere but the lane's 0600 file. */
export const SECRET_JIT = 'SECRET-JIT-7f1c2d9e4b';
/** A registration token that must never show up anywhere. */
export const SECRET_TOKEN = 'SECRET-TOKEN-AAAAbbbbCCCC';

/** The images the harness's host allows (by repository: any tag). */
export const HARNESS_IMAGES = [
  'x',
  'img',
  'odd',
  'root-image',
  'runner-image',
  'stub-runner',
  'ghcr.io/acme/runner',
];

/** Options of {@link createHarness}. */
export interface HarnessOptions {
  /** Config fields; `runner` is merged into the harness's (which names the fake template). */
  config?: Partial<Omit<AgentConfig, 'runner'>> & { runner?: Partial<AgentConfig['runner']> };
  systemd?: boolean;
  docker?: boolean;
  random?: () => number;
  crashPoint?: AgentCoreDeps['crashPoint'];
  /** Reuse a data dir (restart tests). */
  dataDir?: string;
  keys?: { coordinator: Ed25519KeyPair; host: Ed25519KeyPair };
  units?: FakeUnitManager;
  containers?: FakeContainerRuntime;
  accounts?: FakeUserAccounts;
  clock?: ManualClock;
}

/** A core on fakes. */
export interface Harness {
  core: AgentCore;
  config: AgentConfig;
  units: FakeUnitManager;
  containers: FakeContainerRuntime;
  accounts: FakeUserAccounts;
  clock: ManualClock;
  keys: { coordinator: Ed25519KeyPair; host: Ed25519KeyPair };
  dataDir: string;
  template: string;
  /** Signs a command with the next seq (override any payload field). */
  sign(cmd: Command, overrides?: Partial<CommandPayload>): string;
  /** Sends a command and returns the verified result payload. */
  send(cmd: Command, overrides?: Partial<CommandPayload>): Promise<ResultPayload>;
  /** Verifies a result JWS with the host key. */
  read(jws: string): ResultPayload;
  /**
   * Writes a file in a lane's dir as its job would: owned by the lane dir's owner (the agent
   * trusts nothing else there).
   */
  writeLaneFile(laneId: string, rel: string, text: string): Promise<void>;
  /** A fresh lane.create command. */
  createCmd(
    overrides?: Partial<Extract<Command, { type: 'lane.create' }>>,
  ): Extract<Command, { type: 'lane.create' }>;
  /** Restarts the core on the same data dir, fakes and clock. */
  restart(extra?: Partial<HarnessOptions>): Promise<Harness>;
  cleanup(): Promise<void>;
}

const CONFIG_SH = `#!/bin/sh
# fake config.sh: takes the token from ACTIONS_RUNNER_INPUT_TOKEN as the real one does, fails for
# "bad-token" and echoes it (to test redaction), refuses root like the real one, and records who
# ran it and with which arguments.
if [ "$(id -u)" = 0 ] && [ -z "$RUNNER_ALLOW_RUNASROOT" ]; then echo "Must not run with sudo"; exit 1; fi
if [ "$ACTIONS_RUNNER_INPUT_TOKEN" = "bad-token" ]; then echo "Invalid token $ACTIONS_RUNNER_INPUT_TOKEN" >&2; exit 3; fi
echo "uid=$(id -u) args=$*" > config-ran
printf '{"agentId": 4242, "agentName": "x"}' > .runner
`;

/** Makes a fake runner template. */
export async function makeTemplate(dir: string): Promise<string> {
  const t = join(dir, 'template');
  await mkdir(join(t, 'bin'), { recursive: true });
  await writeFile(join(t, 'run.sh'), '#!/bin/sh\nexit 0\n', { mode: 0o755 });
  await writeFile(join(t, 'config.sh'), CONFIG_SH, { mode: 0o755 });
  return t;
}

/** Builds a harness. */
export async function createHarness(options: HarnessOptions = {}): Promise<Harness> {
  const root =
    options.dataDir === undefined ? await mkdtemp(join(tmpdir(), 'lp-core-')) : undefined;
  // Lane users must be able to reach their lane dirs (mkdtemp makes 0700).
  if (root !== undefined) await chmod(root, 0o755);
  const dataDir = options.dataDir ?? join(root ?? '', 'data');
  const template = await makeTemplate(join(dataDir, '..'));
  const keys = options.keys ?? {
    coordinator: generateEd25519KeyPair(),
    host: generateEd25519KeyPair(),
  };
  const config: AgentConfig = agentConfigSchema.parse({
    hostId: 'host-a',
    dataDir,
    optIn: {
      repositories: ['acme/api'],
      organizations: [],
      backends: ['systemd', 'docker'],
      maxLanes: 3,
      docker: { images: HARNESS_IMAGES },
    },
    ...options.config,
    runner: { template, ...options.config?.runner },
  });
  const units = options.units ?? new FakeUnitManager();
  const containers = options.containers ?? new FakeContainerRuntime();
  const accounts = options.accounts ?? new FakeUserAccounts();
  const clock = options.clock ?? new ManualClock(Date.UTC(2026, 10, 28, 22, 0, 0));
  const core = await AgentCore.create({
    config,
    hostKey: keys.host.privateKey,
    coordinatorKey: keys.coordinator.publicKey,
    coordinatorFingerprint: fingerprint(keys.coordinator.publicKey),
    units: options.systemd === false ? undefined : units,
    containers: options.docker === false ? undefined : containers,
    clock,
    logger: silentLogger,
    accounts,
    procRoot: join(dataDir, '..', 'no-proc'),
    ...(options.random === undefined ? {} : { random: options.random }),
    ...(options.crashPoint === undefined ? {} : { crashPoint: options.crashPoint }),
  });
  const sign = testCommandSigner({
    privateKey: keys.coordinator.privateKey,
    clock,
    lastSeq: Number(core.ledger.getMeta('command_last_seq') ?? '0'),
  });
  const h: Harness = {
    core,
    config,
    units,
    containers,
    accounts,
    clock,
    keys,
    dataDir,
    template,
    sign,
    async send(cmd, overrides) {
      return h.read(await core.handleCommand(h.sign(cmd, overrides)));
    },
    read(jws) {
      return verifyResult(jws, { publicKey: keys.host.publicKey, hostId: 'host-a' });
    },
    async writeLaneFile(laneId, rel, text) {
      const dir = join(dataDir, 'lanes', laneId);
      const owner = await lstat(dir);
      await writeFile(join(dir, rel), text);
      await lchown(join(dir, rel), owner.uid, owner.gid);
    },
    createCmd(overrides = {}) {
      return {
        type: 'lane.create',
        laneId: newLaneId(clock.nowMs()),
        dryRun: false,
        name: 'lp-host-a-build-x',
        scope: { repository: 'acme/api' },
        pool: 'build',
        labels: ['launchplane', 'lp-pool-build'],
        backend: 'systemd',
        ephemeral: true,
        runnerId: 17,
        runner: { jitConfig: SECRET_JIT },
        ...overrides,
      };
    },
    async restart(extra = {}) {
      await core.stop();
      return createHarness({
        ...options,
        dataDir,
        keys,
        units,
        containers,
        accounts,
        clock,
        ...extra,
      });
    },
    async cleanup() {
      await core.stop();
      if (root !== undefined) await rm(root, { recursive: true, force: true });
    },
  };
  return h;
}
