/**
 * `launchplane serve --config coordinator.yaml`: runs the coordinator until SIGINT or SIGTERM.
 */
import { loadCoordinatorConfig } from '../config/coordinator-config.js';
import { startCoordinator, type RouteFactory } from '../main.js';
import { createPinoLogger } from '../server/pino-logger.js';
import type { CliIo } from './output.js';

/**
 * Runs the server with the admin API plus `routes` (the control API); resolves with the exit
 * status once it has stopped.
 */
export async function serve(
  io: CliIo,
  opts: { config: string; routes?: RouteFactory[]; signal?: AbortSignal },
): Promise<number> {
  const config = await loadCoordinatorConfig(opts.config);
  const logger = createPinoLogger({ level: config.log.level });
  const coordinator = await startCoordinator(config, { logger, routes: opts.routes ?? [] });
  io.stderr(
    `launchplane coordinator ${coordinator.coordinatorId} listening on ${coordinator.server.url}\n` +
      `agents dial ${coordinator.server.agentUrl}; key ${coordinator.identity.fingerprint}\n`,
  );
  await new Promise<void>((resolve) => {
    const stop = () => resolve();
    if (opts.signal !== undefined) opts.signal.addEventListener('abort', stop);
    else {
      process.once('SIGINT', stop);
      process.once('SIGTERM', stop);
    }
  });
  logger.info({}, 'shutting down');
  await coordinator.close();
  return 0;
}
