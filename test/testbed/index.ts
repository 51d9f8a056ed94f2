/**
 * The integration testbed: real systemd and Docker parts, started once per run by
 * `test/setup/global.ts` and reached from test files through {@link requireSystemd} /
 * {@link requireDocker} (or the `describeWith…` helpers).
 */
export { startSystemdUserManager } from './systemd-user-manager.js';
export type {
  StartSystemdOptions,
  SystemdTestbed,
  SystemdUserEnv,
  SystemdUserManager,
} from './systemd-user-manager.js';
export { defaultDockerCacheDir, startDockerd } from './dockerd.js';
export type { DockerTestbed, PrivateDockerd, StartDockerdOptions } from './dockerd.js';
export { buildScratchImage } from './scratch-image.js';
export type {
  ImageFile,
  ImageGroup,
  ImageUser,
  ScratchImage,
  ScratchImageOptions,
} from './scratch-image.js';
export {
  describeWithDocker,
  describeWithSystemd,
  requireDocker,
  requireSystemd,
  testbedPart,
} from './require.js';
export type { TestbedInfo, TestbedPart } from './require.js';
export { tempDir } from './temp-dir.js';
export type { TempDir } from './temp-dir.js';
export { waitFor } from './wait-for.js';
export type { WaitForOptions } from './wait-for.js';
export { spawnDaemon } from './daemon.js';
export type { Daemon } from './daemon.js';
export { TestbedUnavailableError } from './testbed-unavailable.js';
export { freePort } from './free-port.js';
export { TEST_LANE_UID_RANGE, sweepTestLaneUsers, testLaneUsers } from './lane-users.js';
export type { TestLaneUser } from './lane-users.js';
