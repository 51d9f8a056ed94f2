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

export default defineConfig({
  test: {
    projects: [
      {
        resolve: { alias },
        test: {
          name: 'unit',
          include: ['packages/*/src/**/*.test.ts'],
          environment: 'node',
        },
      },
      {
        // Dead references to documents (docs/design/README.md "Checking references"): no build,
        // no testbed.
        test: {
          name: 'docs',
          include: ['test/docs/**/*.test.ts'],
          environment: 'node',
        },
      },
      {
        resolve: { alias },
        test: {
          name: 'integration',
          include: ['test/**/*.test.ts'],
          exclude: [...configDefaults.exclude, 'test/docs/**'],
          environment: 'node',
          testTimeout: 120_000,
          hookTimeout: 180_000,
          // Integration suites share one systemd user manager and one dockerd; files run
          // one at a time so they do not fight over them on a 2-core machine.
          fileParallelism: false,
          // One private systemd user manager and one private dockerd for the whole run.
          globalSetup: ['./test/setup/global.ts'],
        },
      },
    ],
  },
});
