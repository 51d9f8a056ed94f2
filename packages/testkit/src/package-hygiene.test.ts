/**
 * Test support stays out of what the runtime packages ship: their build configs compile no test
 * and no test helper into `dist/`, none of them depends on `@launchplane/testkit`, runtime code
 * that imports the kit fails lint, and test support is named one way (docs/testing.md).
 */
import { readFile, readdir } from 'node:fs/promises';
import { join, relative } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

import { ESLint, type Linter } from 'eslint';
import ts from 'typescript';
import tseslint from 'typescript-eslint';
import { describe, expect, it } from 'vitest';

const ROOT = fileURLToPath(new URL('../../..', import.meta.url));
const RUNTIME_PACKAGES = ['shared', 'github-sim', 'agent', 'coordinator'];
const TEST_SUPPORT = /\.test(-helper)?\.ts$/;

/** The files `tsc -b` compiles into `packages/<pkg>/dist`, relative to the package. */
function buildFiles(pkg: string): string[] {
  const dir = join(ROOT, 'packages', pkg);
  const configPath = join(dir, 'tsconfig.build.json');
  const read = ts.readConfigFile(configPath, (p) => ts.sys.readFile(p));
  if (read.error !== undefined) throw new Error(`${configPath}: unreadable`);
  const parsed = ts.parseJsonConfigFileContent(read.config, ts.sys, dir);
  return parsed.fileNames.map((f) => relative(dir, f));
}

async function sourceFiles(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { recursive: true, withFileTypes: true });
  return entries
    .filter((e) => e.isFile() && e.name.endsWith('.ts'))
    .map((e) => relative(dir, join(e.parentPath, e.name)));
}

describe('test support never ships', () => {
  it.each(RUNTIME_PACKAGES)('%s: the build compiles no test and no test helper', (pkg) => {
    const files = buildFiles(pkg);
    expect(files.some((f) => f === 'src/index.ts')).toBe(true);
    expect(files.filter((f) => TEST_SUPPORT.test(f))).toEqual([]);
  });

  it.each(RUNTIME_PACKAGES)('%s: does not depend on the test kit', async (pkg) => {
    const manifest = JSON.parse(
      await readFile(join(ROOT, 'packages', pkg, 'package.json'), 'utf8'),
    ) as Record<string, Record<string, string> | undefined>;
    for (const field of ['dependencies', 'devDependencies', 'peerDependencies']) {
      expect(Object.keys(manifest[field] ?? {})).not.toContain('@launchplane/testkit');
    }
  });

  it('the kit itself is private and publishes nothing', async () => {
    const manifest = JSON.parse(
      await readFile(join(ROOT, 'packages/testkit/package.json'), 'utf8'),
    ) as { private?: boolean; files?: string[] };
    expect(manifest.private).toBe(true);
    expect(manifest.files).toEqual([]);
  });

  it('runtime code that imports the kit fails lint; a test may import it', async () => {
    // The repository's own rules, without type information (which these rules do not need).
    const config = (await import(pathToFileURL(join(ROOT, 'eslint.config.js')).href)) as {
      default: Linter.Config[];
    };
    const eslint = new ESLint({
      cwd: ROOT,
      overrideConfigFile: true,
      overrideConfig: [...config.default, tseslint.configs.disableTypeChecked],
    });
    const code =
      "import { render } from '@launchplane/testkit/fuzz';\n\nexport const r = render;\n";
    const [runtime] = await eslint.lintText(code, {
      filePath: join(ROOT, 'packages/agent/src/version.ts'),
    });
    expect(runtime?.messages.map((m) => m.ruleId)).toContain('no-restricted-imports');
    const [test] = await eslint.lintText(code, {
      filePath: join(ROOT, 'packages/agent/src/main.test.ts'),
    });
    expect(test?.messages.map((m) => m.ruleId)).not.toContain('no-restricted-imports');
  }, 60_000);
});

describe('test support is named one way', () => {
  it.each(RUNTIME_PACKAGES)(
    '%s: no helper, fixture or testing/ file by another name',
    async (pkg) => {
      const files = await sourceFiles(join(ROOT, 'packages', pkg, 'src'));
      const misnamed = files.filter(
        (f) =>
          /\.(helper|fixture)\.ts$/.test(f) ||
          /\.test\.(helper|fixture)\.ts$/.test(f) ||
          f.split('/').includes('testing'),
      );
      expect(misnamed).toEqual([]);
    },
  );
});
