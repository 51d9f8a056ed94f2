/**
 * `control/` imports neither `server/` nor `main.ts` (docs/design/architecture.md "Inside the
 * coordinator"): the lint rule that says so refuses each way in, and lets through what the two
 * layers share (`http/route.ts`, `audit/audit-writer.ts`).
 */
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

import { ESLint, type Linter } from 'eslint';
import tseslint from 'typescript-eslint';
import { beforeAll, describe, expect, it } from 'vitest';

const ROOT = fileURLToPath(new URL('../../../..', import.meta.url));
let eslint: ESLint;

beforeAll(async () => {
  // The repository's own rules, without type information (which these rules do not need).
  const config = (await import(pathToFileURL(join(ROOT, 'eslint.config.js')).href)) as {
    default: Linter.Config[];
  };
  eslint = new ESLint({
    cwd: ROOT,
    overrideConfigFile: true,
    overrideConfig: [...config.default, tseslint.configs.disableTypeChecked],
  });
}, 60_000);

/** The `no-restricted-imports` messages for a file at `path` that imports `specifier`. */
async function refusals(path: string, specifier: string): Promise<string[]> {
  const code = `import { thing } from '${specifier}';\n\nexport const used = thing;\n`;
  const [result] = await eslint.lintText(code, {
    filePath: join(ROOT, 'packages/coordinator/src', path),
  });
  return (result?.messages ?? [])
    .filter((m) => m.ruleId === 'no-restricted-imports')
    .map((m) => m.message);
}

describe('control/ layering', () => {
  it.each([
    ['../server/routes.js'],
    ['../server/audit-writer.js'],
    ['../server'],
    ['../main.js'],
    ['../main'],
  ])('control code importing %s fails lint', async (specifier) => {
    const messages = await refusals('control/api.ts', specifier);
    expect(messages).toHaveLength(1);
    expect(messages[0]).toMatch(/control\/ never imports/);
  });

  it.each([['../http/route.js'], ['../audit/audit-writer.js'], ['../ports/agent-hub.js']])(
    'control code may import %s',
    async (specifier) => {
      expect(await refusals('control/api.ts', specifier)).toEqual([]);
    },
  );

  it('the server may import its own routes, and main.ts may import both', async () => {
    expect(await refusals('server/admin-routes.ts', './routes.js')).toEqual([]);
    expect(await refusals('main.ts', './server/routes.js')).toEqual([]);
    expect(await refusals('main.ts', './control/wire-control.js')).toEqual([]);
  });

  it('the rule keeps the coordinator-wide ones: no agent, no test kit', async () => {
    expect(await refusals('control/api.ts', '@launchplane/agent')).toEqual([
      expect.stringMatching(/coordinator never imports agent/),
    ]);
    expect(await refusals('control/api.ts', '@launchplane/testkit/sim')).toEqual([
      expect.stringMatching(/never imports @launchplane\/testkit/),
    ]);
  });
});
