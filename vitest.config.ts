import { availableParallelism } from 'node:os';
import { fileURLToPath } from 'node:url';
import { configDefaults, defineConfig } from 'vitest/config';

const src = (pkg: string): string =>
  fileURLToPath(new URL(`./packages/${pkg}/src/index.ts`, import.meta.url));

// Unit tests import workspace packages from source, so they run without a build.
// Integration tests spawn the built binaries (`npm test` builds first).
const alias = {
  '@launchplane/shared': src('shared'),
  '@launchplane/github-sim': src('github-sim'),
  '@launchplane/agent': src('agent'),
  '@launchplane/coordinator': src('coordinator'),
};

/** Workers of the unit and docs projects (group 0): every CPU. */
const UNIT_WORKERS = Math.max(1, availableParallelism());

/** Settings both integration projects share. */
const integration = {
  environment: 'node',
  testTimeout: 120_000,
  hookTimeout: 180_000,
  // One private systemd user manager and one private dockerd for the whole run, shared by both
  // projects (test/setup/global.ts).
  globalSetup: ['./test/setup/global.ts'],
} as const;

/**
 * Integration files that must have the machine to themselves (docs/testing.md "Keeping the
 * integration run short" says why each is here).
 */
const ALONE = [
  // Install the agent as the one `launchplane-agent.service` of the shared user manager.
  'test/install/install.test.ts',
  'test/install/rollback.test.ts',
  // 1,000 agent sessions: its figures (retry spread, time until all are back) need the CPUs.
  'test/reliability/load/reconnect-storm.test.ts',
];

export default defineConfig({
  test: {
    projects: [
      {
        resolve: { alias },
        test: {
          name: 'unit',
          include: ['packages/*/src/**/*.test.ts'],
          environment: 'node',
          // Vitest's default is one worker fewer than the CPUs: one on the 2-core CI machine. Unit
          // files only use the CPU, and nothing else runs beside them (group 0), so use both.
          maxWorkers: UNIT_WORKERS,
        },
      },
      {
        // Dead references to documents (docs/design/README.md "Checking references"): no build,
        // no testbed.
        test: {
          name: 'docs',
          include: ['test/docs/**/*.test.ts'],
          environment: 'node',
          // Projects of one group must agree on their workers.
          maxWorkers: UNIT_WORKERS,
        },
      },
      {
        resolve: { alias },
        test: {
          ...integration,
          name: 'integration',
          include: ['test/**/*.test.ts'],
          exclude: [...configDefaults.exclude, 'test/docs/**', ...ALONE],
          // Two files at a time: most of an integration file's time is waiting (for units, runners,
          // rounds and heartbeats), and the worlds tell their objects apart by owner
          // (docs/testing.md "Keeping the integration run short"). Runs after the unit and docs
          // projects (group 0).
          fileParallelism: true,
          maxWorkers: 2,
          sequence: { groupOrder: 1 },
        },
      },
      {
        resolve: { alias },
        test: {
          ...integration,
          name: 'integration-alone',
          include: [...ALONE],
          // One file at a time, after the `integration` project is done: nothing else runs beside.
          fileParallelism: false,
          maxWorkers: 1,
          sequence: { groupOrder: 2 },
        },
      },
    ],
  },
});
