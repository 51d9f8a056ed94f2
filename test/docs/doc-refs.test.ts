/**
 * Nothing in the repository refers to a document or heading that is not in it, and the checker
 * (`doc-refs.ts`) catches each kind of dead reference with its file and line
 * (docs/design/README.md "Checking references").
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { checkReferences, formatDeadReference, gitFiles, headingAnchors } from './doc-refs.js';

const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '../..');

describe('document references in the repository', () => {
  it('all resolve', async () => {
    const { dead, references } = await checkReferences(repoRoot, gitFiles(repoRoot));
    expect(references).toBeGreaterThan(0);
    const list = dead.map(formatDeadReference);
    expect(list, `dead document references:\n${list.join('\n')}`).toEqual([]);
    // About a second of work; a machine busy with other builds can make that several.
  }, 60_000);
});

describe('the reference checker', () => {
  let root: string;
  const files: Record<string, string> = {
    'docs/a.md': [
      '# A',
      '',
      '## Good `heading`',
      '',
      'See [ok](b.md#second), [local](#good-heading) and [web](https://example.com/GONE.md).',
      'See [bad file](missing.md).',
      'See [bad anchor](b.md#nope).',
      'See [bad local](#nowhere).',
      '',
      'In prose: `docs/b.md "Second"`, then `docs/b.md "Third"` and `OLD.md`.',
      '',
    ].join('\n'),
    'docs/b.md': '# B\n\n## Second\n',
    'src/x.ts': [
      '// Good: docs/a.md "Good heading", docs/a.md#good-heading, b.md, ../docs/b.md (from src/).',
      '// Not references: https://example.com/x/GONE.md, *.md, `${name}.md`.',
      '// Dead: docs/b.md "Gone" and',
      '// GONE.md and docs/b.md#gone.',
      '// Outside: /srv/notes/DESIGN.md and ~/notes/b.md.',
      '',
    ].join('\n'),
  };

  beforeAll(() => {
    root = mkdtempSync(join(tmpdir(), 'lp-doc-refs-'));
    for (const [path, text] of Object.entries(files)) {
      mkdirSync(dirname(join(root, path)), { recursive: true });
      writeFileSync(join(root, path), text);
    }
  });
  afterAll(() => {
    rmSync(root, { recursive: true, force: true });
  });

  it('reports each dead reference with its file and line, and nothing else', async () => {
    const { dead } = await checkReferences(root, Object.keys(files));
    expect(dead.map(({ file, line, reference }) => ({ file, line, reference }))).toEqual([
      { file: 'docs/a.md', line: 6, reference: '[bad file](missing.md)' },
      { file: 'docs/a.md', line: 7, reference: '[bad anchor](b.md#nope)' },
      { file: 'docs/a.md', line: 8, reference: '[bad local](#nowhere)' },
      { file: 'docs/a.md', line: 10, reference: 'docs/b.md "Third"' },
      { file: 'docs/a.md', line: 10, reference: 'OLD.md' },
      { file: 'src/x.ts', line: 3, reference: 'docs/b.md "Gone"' },
      { file: 'src/x.ts', line: 4, reference: 'GONE.md' },
      { file: 'src/x.ts', line: 4, reference: 'docs/b.md#gone' },
      { file: 'src/x.ts', line: 5, reference: '/srv/notes/DESIGN.md' },
      { file: 'src/x.ts', line: 5, reference: '~/notes/b.md' },
    ]);
    expect(formatDeadReference(dead[0]!)).toMatch(/^docs\/a\.md:6: \[bad file\]\(missing\.md\) — /);
  });

  it('compares headings as GitHub anchors', () => {
    expect([...headingAnchors('# A `b` C\n\n## A b c\n\n## Ünï-code?\n')]).toEqual([
      'a-b-c',
      'a-b-c-1',
      'ünï-code',
    ]);
  });
});
