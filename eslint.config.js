import js from '@eslint/js';
import globals from 'globals';
import importX from 'eslint-plugin-import-x';
import tseslint from 'typescript-eslint';

/** Modules that do I/O: `domain/` code must not import them (docs/design/style.md "Layers: domain, adapters, main"). */
const ioModules = [
  'node:fs',
  'node:fs/promises',
  'node:net',
  'node:http',
  'node:https',
  'node:child_process',
  'node:dgram',
  'node:os',
  'node:process',
  'node:worker_threads',
  'fs',
  'net',
  'http',
  'https',
  'child_process',
  'os',
  'dockerode',
  'dbus-next',
  'better-sqlite3',
  'ws',
  'pino',
  '@octokit/core',
];

/** Test support: the suites, their helpers (docs/testing.md) and `@launchplane/testkit`. */
const testSupportFiles = ['**/*.test.ts', '**/*.test-helper.ts'];
/** The coordinator never imports the agent. */
const noAgent = {
  group: ['@launchplane/agent', '**/agent/**'],
  message: 'coordinator never imports agent',
};
/** Runtime code (what `dist/` ships) never imports the test kit. */
const noTestkit = {
  group: ['@launchplane/testkit', '@launchplane/testkit/*', '**/testkit/**'],
  message: 'runtime code never imports @launchplane/testkit (test support only)',
};

export default tseslint.config(
  {
    ignores: [
      '**/dist/**',
      '**/node_modules/**',
      'coverage/**',
      '.tmp/**',
      'packages/github-sim/stub-runner/**',
    ],
  },
  js.configs.recommended,
  ...tseslint.configs.recommendedTypeChecked,
  {
    languageOptions: {
      parserOptions: {
        projectService: {
          allowDefaultProject: ['*.js', '*.ts', 'bench/*/*.mjs', 'test/*.ts'],
        },
        tsconfigRootDir: import.meta.dirname,
      },
    },
    plugins: { 'import-x': importX },
    rules: {
      '@typescript-eslint/no-floating-promises': 'error',
      '@typescript-eslint/no-misused-promises': 'error',
      '@typescript-eslint/switch-exhaustiveness-check': [
        'error',
        { considerDefaultExhaustiveForUnions: true },
      ],
      '@typescript-eslint/consistent-type-imports': 'error',
      '@typescript-eslint/no-unused-vars': [
        'error',
        { argsIgnorePattern: '^_', varsIgnorePattern: '^_' },
      ],
      'import-x/no-cycle': 'error',
      'no-console': 'error',
    },
  },
  {
    files: ['packages/agent/**'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          patterns: [
            {
              group: ['@launchplane/coordinator', '**/coordinator/**'],
              message: 'agent never imports coordinator',
            },
          ],
        },
      ],
    },
  },
  {
    files: ['packages/agent/src/**'],
    ignores: testSupportFiles,
    rules: {
      'no-restricted-imports': [
        'error',
        {
          patterns: [
            {
              group: ['@launchplane/coordinator', '**/coordinator/**'],
              message: 'agent never imports coordinator',
            },
            noTestkit,
          ],
        },
      ],
    },
  },
  {
    files: ['packages/coordinator/**'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          patterns: [noAgent],
        },
      ],
    },
  },
  {
    files: ['packages/coordinator/src/**'],
    ignores: testSupportFiles,
    rules: {
      'no-restricted-imports': [
        'error',
        {
          patterns: [noAgent, noTestkit],
        },
      ],
    },
  },
  {
    // The control layer uses what it shares with the server (the route shape in `http/`, the audit
    // writer in `audit/`), never `server/` itself nor `main.ts`, which wires both
    // (docs/design/architecture.md "Inside the coordinator").
    files: ['packages/coordinator/src/control/**'],
    ignores: testSupportFiles,
    rules: {
      'no-restricted-imports': [
        'error',
        {
          patterns: [
            noAgent,
            noTestkit,
            {
              group: ['**/server', '**/server/**'],
              message: 'control/ never imports server/: shared parts live in http/ or audit/',
            },
            {
              group: ['**/main', '**/main.js'],
              message: 'control/ never imports main.ts (main wires control, not the reverse)',
            },
          ],
        },
      ],
    },
  },
  {
    files: ['packages/github-sim/src/**'],
    ignores: testSupportFiles,
    rules: { 'no-restricted-imports': ['error', { patterns: [noTestkit] }] },
  },
  {
    // The kit serves both sides' tests, so it imports neither side.
    files: ['packages/testkit/**'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          patterns: [
            {
              group: [
                '@launchplane/agent',
                '@launchplane/coordinator',
                '**/agent/**',
                '**/coordinator/**',
              ],
              message: 'the test kit imports neither the agent nor the coordinator',
            },
          ],
        },
      ],
    },
  },
  {
    files: ['packages/*/src/domain/**', 'packages/shared/src/**'],
    ignores: testSupportFiles,
    rules: {
      'no-restricted-imports': [
        'error',
        {
          paths: ioModules.map((name) => ({ name, message: 'domain code and shared do no I/O' })),
          patterns: [
            { group: ['**/adapters/**'], message: 'domain code does not import adapters' },
            {
              group: ['@launchplane/agent', '@launchplane/coordinator'],
              message: 'package boundary',
            },
            noTestkit,
          ],
        },
      ],
      'no-restricted-properties': [
        'error',
        { object: 'Date', property: 'now', message: 'pass time in as an argument' },
      ],
    },
  },
  {
    files: [
      ...testSupportFiles,
      'packages/testkit/**',
      'test/**',
      'bench/**',
      'demo/**',
      '**/cli.ts',
      '**/cli/**',
    ],
    rules: { 'no-console': 'off' },
  },
  {
    files: [...testSupportFiles, 'packages/testkit/**', 'test/**'],
    rules: {
      '@typescript-eslint/no-unsafe-assignment': 'off',
      '@typescript-eslint/no-unsafe-member-access': 'off',
      '@typescript-eslint/no-non-null-assertion': 'off',
    },
  },
  {
    files: ['**/*.js', '**/*.mjs'],
    ...tseslint.configs.disableTypeChecked,
  },
  {
    files: ['**/*.js', '**/*.mjs'],
    languageOptions: { globals: { ...globals.node } },
  },
);
