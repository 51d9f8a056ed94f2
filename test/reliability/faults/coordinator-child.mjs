// The coordinator as a child process of the fault suite: exactly what `launchplane serve` does
// (the built config loader, startCoordinator and the control routes), with the control limits the
// config file does not expose taken from LP_FAULTS_CONTROL_OPTIONS. The drain's idle settle time
// (60 s by default, longer than GitHub's busy lag) is shortened so a drain fits in CI; the busy
// lag of the simulator is shortened with it.
import process from 'node:process';
import {
  controlRouteFactory,
  loadCoordinatorConfig,
  startCoordinator,
} from '@launchplane/coordinator';

const configPath = process.argv[2];
if (configPath === undefined) {
  process.stderr.write('usage: coordinator-child.mjs CONFIG\n');
  process.exit(2);
}
const options = JSON.parse(process.env.LP_FAULTS_CONTROL_OPTIONS ?? '{}');
const line = (level) => (fields, message) =>
  process.stdout.write(
    `${JSON.stringify({ time: new Date().toISOString(), level, message, ...fields })}\n`,
  );
const logger = {
  debug: () => undefined,
  info: line('info'),
  warn: line('warn'),
  error: line('error'),
};

const config = await loadCoordinatorConfig(configPath);
const coordinator = await startCoordinator(config, {
  logger,
  routes: [controlRouteFactory({ options })],
});
process.stderr.write(
  `coordinator ${coordinator.coordinatorId} listening on ${coordinator.server.url}\n`,
);
const stop = () => {
  void coordinator.close().then(() => process.exit(0));
};
process.once('SIGINT', stop);
process.once('SIGTERM', stop);
