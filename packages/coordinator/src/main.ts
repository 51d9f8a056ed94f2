/**
 * Wires the coordinator daemon: config → data dir (0700) → signing key (0600) → store →
 * coordinatorId → first admin token (`<dataDir>/admin.token`, 0600) → policy file → server.
 */
import { randomBytes } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { LaunchplaneError, nowSec } from '@launchplane/shared';
import { systemClock } from './adapters/system-clock.js';
import { readConfigSecretFile } from './adapters/github/create-github-runners.js';
import { SqliteCoordinatorStore } from './adapters/sqlite/sqlite-store.js';
import type { CoordinatorConfig } from './config/coordinator-config.js';
import { JobIngest } from './control/job-ingest.js';
import { loadOrCreateIdentity, type CoordinatorIdentity } from './keys/coordinator-identity.js';
import { ensurePrivateDir, readSecretFile, writeSecretFile } from './keys/data-dir.js';
import type { Logger } from './ports/logger.js';
import type { CoordinatorStore } from './ports/store.js';
import { applyPolicyText } from './server/admin-routes.js';
import { CoordinatorServer } from './server/coordinator-server.js';
import { MIN_WEBHOOK_SECRET_LENGTH } from './server/github-webhook.js';
import { createOperatorToken } from './server/operator-auth.js';
import type { Route } from './http/route.js';

export const ADMIN_TOKEN_FILE = 'admin.token';
export const DATABASE_FILE = 'coordinator.db';
const META_COORDINATOR_ID = 'coordinatorId';

/** Everything a running coordinator holds; C2/C3 wiring receives this to build their parts. */
export interface Coordinator {
  config: CoordinatorConfig;
  store: CoordinatorStore;
  identity: CoordinatorIdentity;
  coordinatorId: string;
  server: CoordinatorServer;
  /** The job store's way in: verified webhook deliveries and polled jobs. */
  jobs: JobIngest;
  logger: Logger;
  /**
   * Registers work to stop when the coordinator closes (a reconciler loop, timers). Hooks run
   * in reverse order of registration, before the server and the store close.
   */
  onClose(hook: () => Promise<void> | void): void;
  /** Runs the close hooks, stops the server and closes the store. */
  close(): Promise<void>;
}

/**
 * Builds extra routes (the control API) once the coordinator's parts exist. `serve` passes the
 * control package's factory here; tests may pass their own.
 */
export type RouteFactory = (parts: Omit<Coordinator, 'close'>) => Promise<Route[]> | Route[];

/** Options of {@link startCoordinator}. */
export interface StartCoordinatorOptions {
  logger: Logger;
  routes?: RouteFactory[];
  /** Unix seconds now; default the system clock. */
  nowSec?: () => number;
}

/** A fresh coordinator id: 16 random hex digits (the first 8 name its `lp-ctl-` label). */
export function newCoordinatorId(): string {
  return randomBytes(8).toString('hex');
}

/** Reads or creates the coordinatorId; a configured id must match the stored one. */
async function resolveCoordinatorId(
  store: CoordinatorStore,
  configured: string | undefined,
): Promise<string> {
  const stored = await store.getMeta(META_COORDINATOR_ID);
  if (stored !== undefined) {
    if (configured !== undefined && configured !== stored) {
      throw new LaunchplaneError(
        'LP_CONFIG_INVALID',
        `coordinatorId "${configured}" in the config differs from "${stored}" in the data dir`,
        {
          recovery:
            'Enrolled agents pinned the stored id: remove coordinatorId from the config or set it to the stored one',
        },
      );
    }
    return stored;
  }
  const id = configured ?? newCoordinatorId();
  await store.setMeta(META_COORDINATOR_ID, id);
  return id;
}

/** Starts a coordinator from a parsed config. */
export async function startCoordinator(
  config: CoordinatorConfig,
  opts: StartCoordinatorOptions,
): Promise<Coordinator> {
  const { logger } = opts;
  const now = opts.nowSec ?? (() => nowSec(systemClock));
  await ensurePrivateDir(config.dataDir);
  const { identity, created } = await loadOrCreateIdentity(config.dataDir);
  if (created)
    logger.info({ fingerprint: identity.fingerprint }, 'created coordinator signing key');
  const store = SqliteCoordinatorStore.open(join(config.dataDir, DATABASE_FILE));
  try {
    const coordinatorId = await resolveCoordinatorId(store, config.coordinatorId);
    await ensureAdminToken(store, config.dataDir, { logger, now: now() });
    if (config.policyFile !== undefined) {
      const text = await readFile(config.policyFile, 'utf8').catch((cause: unknown) => {
        throw new LaunchplaneError(
          'LP_NOT_FOUND',
          `Cannot read policy file "${config.policyFile}"`,
          {
            cause,
          },
        );
      });
      const r = await applyPolicyText(
        { store, now },
        { text, dryRun: false, actor: 'coordinator', source: config.policyFile },
      );
      logger.info(
        { digest: r.digest, version: r.version, changed: r.changed },
        'policy file loaded',
      );
    }
    let tls: { cert: string; key: string } | undefined;
    if (config.tls !== undefined) {
      tls = {
        cert: await readFile(config.tls.cert, 'utf8'),
        key: await readFile(config.tls.key, 'utf8'),
      };
    }
    const jobs = new JobIngest({ store, logger });
    const webhook = config.github.webhook;
    const server = await CoordinatorServer.create({
      store,
      identity,
      coordinatorId,
      logger,
      host: config.listen.host,
      port: config.listen.port,
      ...(tls === undefined ? {} : { tls }),
      ...(config.publicUrl === undefined ? {} : { publicUrl: config.publicUrl }),
      maxBodyBytes: config.http.maxBodyBytes,
      heartbeatSec: config.agents.heartbeatSec,
      handshakeTimeoutMs: config.agents.handshakeTimeoutSec * 1000,
      commandTimeoutMs: config.agents.commandTimeoutSec * 1000,
      commandLifetimeSec: config.agents.commandLifetimeSec,
      maxPendingHandshakes: config.agents.maxPendingHandshakes,
      maxBufferedBytes: config.agents.maxBufferedBytes,
      limits: config.limits,
      ...(webhook === undefined
        ? {}
        : {
            githubWebhook: {
              secret: await readWebhookSecret(webhook.secretFile),
              maxBodyBytes: webhook.maxBodyBytes,
              receiver: jobs,
            },
          }),
      nowSec: now,
    });
    const hooks: (() => Promise<void> | void)[] = [];
    const runHooks = async () => {
      for (const hook of hooks.splice(0).reverse()) {
        try {
          await hook();
        } catch (err) {
          logger.error({ err: String(err) }, 'close hook failed');
        }
      }
    };
    const parts = {
      config,
      store,
      identity,
      coordinatorId,
      server,
      jobs,
      logger,
      onClose: (hook: () => Promise<void> | void) => void hooks.push(hook),
    };
    try {
      for (const factory of opts.routes ?? []) server.registerRoutes(await factory(parts));
    } catch (err) {
      await runHooks();
      await server.close();
      throw err;
    }
    return {
      ...parts,
      async close() {
        await runHooks();
        await server.close();
        await store.close();
      },
    };
  } catch (err) {
    await store.close();
    throw err;
  }
}

/** The webhook secret from its file (owner-only, long enough to resist guessing). */
async function readWebhookSecret(file: string): Promise<string> {
  const secret = await readConfigSecretFile(file, 'webhook secret', 'github.webhook.secretFile');
  if (secret.length < MIN_WEBHOOK_SECRET_LENGTH) {
    throw new LaunchplaneError(
      'LP_CONFIG_INVALID',
      `The webhook secret in "${file}" (github.webhook.secretFile) is shorter than ${MIN_WEBHOOK_SECRET_LENGTH} characters`,
      {
        recovery: `Make a new one ("openssl rand -hex 32 > ${file}") and set it on the hook on GitHub`,
      },
    );
  }
  return secret;
}

/**
 * On first start (no admin token yet), creates one and writes it to `<dataDir>/admin.token`
 * (0600). Logs the path, never the token.
 */
async function ensureAdminToken(
  store: CoordinatorStore,
  dataDir: string,
  opts: { logger: Logger; now: number },
): Promise<void> {
  const path = join(dataDir, ADMIN_TOKEN_FILE);
  const tokens = await store.listOperatorTokens();
  if (tokens.some((t) => t.role === 'admin' && t.revokedAt === undefined)) return;
  if ((await readSecretFile(path)) !== undefined) {
    throw new LaunchplaneError(
      'LP_CONFLICT',
      `"${path}" exists but the database has no admin token`,
      { recovery: 'Remove the stale admin.token file and start again to mint a new admin token' },
    );
  }
  const { record, value } = await createOperatorToken(store, {
    role: 'admin',
    name: 'initial admin',
    now: opts.now,
  });
  await writeSecretFile(path, `${value}\n`);
  opts.logger.info({ path, tokenId: record.id }, 'created the initial admin token');
}
