// Child process of the crash sweep: runs the BUILT agent core on the real backends, handles the
// commands it is given, and SIGKILLs itself right after the step named by LAUNCHPLANE_AGENT_CRASH_AT
// (a crash hook that exists only in this test program, never in the daemon).
import { createPrivateKey } from 'node:crypto';
import process from 'node:process';
import { agentConfigSchema, importPublicJwk } from '@launchplane/shared';
import { AgentCore } from '../../packages/agent/dist/agent-core.js';
import { DbusUnitManager } from '../../packages/agent/dist/adapters/systemd/dbus-unit-manager.js';
import { DockerContainerRuntime } from '../../packages/agent/dist/adapters/docker/docker-container-runtime.js';
import { systemClock } from '../../packages/agent/dist/ports/clock.js';
import { silentLogger } from '../../packages/agent/dist/ports/logger.js';

const input = JSON.parse(process.env.LP_CRASH_CHILD ?? '{}');
const crashAt = process.env.LAUNCHPLANE_AGENT_CRASH_AT;
const units =
  input.backend === 'systemd'
    ? await DbusUnitManager.create({
        bus: 'user',
        unitDir: input.unitDir,
        busAddress: input.busAddress,
      })
    : undefined;
const containers =
  input.backend === 'docker'
    ? new DockerContainerRuntime({ socketPath: input.socketPath, stopTimeoutSec: 10 })
    : undefined;
const core = await AgentCore.create({
  config: agentConfigSchema.parse(input.config),
  hostKey: createPrivateKey(input.hostKeyPem),
  coordinatorKey: importPublicJwk(input.coordinatorJwk),
  coordinatorFingerprint: input.fingerprint,
  units,
  containers,
  clock: systemClock,
  logger: silentLogger,
  runnerEnv: { LAUNCHPLANE_STUB_HEARTBEAT_MS: '200' },
  crashPoint: (step) => {
    if (step === crashAt) process.kill(process.pid, 'SIGKILL');
  },
});
for (const jws of input.commands) process.stdout.write(`${await core.handleCommand(jws)}\n`);
await core.stop();
await units?.close();
