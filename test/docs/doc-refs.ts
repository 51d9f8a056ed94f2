/**
 * Dead references to documents, outside Markdown links: every mention of a `*.md` file in code,
 * configs and prose must name a file of the repository, and a heading given after it
 * (`docs/design/protocol.md#verification-order` or `docs/design/protocol.md "Verification order"`)
 * must be one of that file's headings, compared as GitHub slugs. Links inside Markdown files are
 * checked by remark-validate-links (`.remarkrc.json`); this covers what no Markdown tool reads.
 * See docs/design/README.md "Checking references".
 *
 * Run as a script (`tsx test/docs/doc-refs.ts [root]`), it checks every file git knows in the
 * repository and exits 1 when a reference is dead.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync, statSync } from 'node:fs';
import { basename, dirname, extname, join, normalize, relative, resolve, sep } from 'node:path';
import process from 'node:process';
import { fileURLToPath } from 'node:url';

import GithubSlugger from 'github-slugger';
import { fromMarkdown } from 'mdast-util-from-markdown';
import { toString } from 'mdast-util-to-string';

/** One reference that does not resolve. */
export interface DeadReference {
  /** The file holding the reference, relative to the root, with `/` separators. */
  file: string;
  /** 1-based line of the reference. */
  line: number;
  /** The reference as written. */
  reference: string;
  reason: string;
}

/** What {@link findDeadReferences} looked at. */
export interface ReferenceReport {
  dead: DeadReference[];
  filesScanned: number;
  references: number;
}

/**
 * A document path (no scheme, not inside a URL), then optionally `#anchor` or a quoted heading.
 * The look-behind keeps URL paths and `*.md` globs out.
 */
const REFERENCE =
  /(?<![\w./\\*${}-])((?:\.{1,2}\/)*(?:[\w.-]+\/)*[\w-][\w.-]*\.md)(?![\w-])(?:#([\w-]+)|,? ?"([^"\n]{1,120})")?/g;

/** Files not worth reading: generated, vendored or binary. */
const SKIP_NAMES = new Set(['package-lock.json']);
const SKIP_EXTENSIONS = new Set(['.png', '.jpg', '.gif', '.ico', '.gz', '.tgz', '.zip', '.db']);

/** Every file git knows below `root` (tracked, and untracked but not ignored) that still exists. */
export function gitFiles(root: string): string[] {
  const out = execFileSync(
    'git',
    ['ls-files', '-z', '--cached', '--others', '--exclude-standard'],
    {
      cwd: root,
      encoding: 'utf8',
      maxBuffer: 64 * 1024 * 1024,
    },
  );
  return out
    .split('\0')
    .filter((f) => f !== '' && existsSync(join(root, f)) && statSync(join(root, f)).isFile());
}

/** The GitHub anchors of a Markdown text's headings, duplicates numbered as GitHub does. */
export function headingAnchors(markdown: string): Set<string> {
  const slugger = new GithubSlugger();
  const anchors = new Set<string>();
  type Node = Parameters<typeof toString>[0] & { type: string; children?: Node[] };
  const visit = (node: Node): void => {
    if (node.type === 'heading') anchors.add(slugger.slug(toString(node)));
    for (const child of node.children ?? []) visit(child);
  };
  visit(fromMarkdown(markdown));
  return anchors;
}

/** The anchor GitHub would give a heading with this text. */
function anchorOf(title: string): string {
  return new GithubSlugger().slug(title.replaceAll('`', ''));
}

/**
 * Finds every dead document reference in `files` (paths relative to `root`). Markdown files are
 * scanned as text too, so a stale name in prose is caught; their links are remark's.
 */
export function findDeadReferences(root: string, files: readonly string[]): ReferenceReport {
  const known = files.map((f) => f.split(sep).join('/'));
  const byBasename = new Map<string, string[]>();
  for (const f of known) {
    const list = byBasename.get(basename(f)) ?? [];
    list.push(f);
    byBasename.set(basename(f), list);
  }
  const anchorCache = new Map<string, Set<string>>();
  const anchorsOf = (file: string): Set<string> => {
    let anchors = anchorCache.get(file);
    if (anchors === undefined) {
      anchors = headingAnchors(readFileSync(join(root, file), 'utf8'));
      anchorCache.set(file, anchors);
    }
    return anchors;
  };
  const inRoot = (absolute: string): string | undefined => {
    const rel = relative(root, absolute);
    if (rel.startsWith('..') || rel === '') return undefined;
    return existsSync(absolute) && statSync(absolute).isFile()
      ? rel.split(sep).join('/')
      : undefined;
  };
  /** The files a path may name from `file`: beside it, from the root, or (bare) by its name. */
  const targetsOf = (file: string, path: string): string[] => {
    const found = new Set<string>();
    for (const base of [dirname(join(root, file)), root]) {
      const hit = inRoot(resolve(base, normalize(path)));
      if (hit !== undefined) found.add(hit);
    }
    if (found.size === 0 && !path.includes('/')) {
      for (const f of byBasename.get(path) ?? []) found.add(f);
    }
    return [...found];
  };

  const dead: DeadReference[] = [];
  let scanned = 0;
  let references = 0;
  for (const file of known) {
    if (SKIP_NAMES.has(basename(file)) || SKIP_EXTENSIONS.has(extname(file))) continue;
    const text = readFileSync(join(root, file), 'utf8');
    if (text.includes('\0')) continue;
    scanned++;
    for (const m of text.matchAll(REFERENCE)) {
      references++;
      const [whole, path = '', anchor, title] = m;
      const line = text.slice(0, m.index).split('\n').length;
      const targets = targetsOf(file, path);
      const report = (reason: string): void => {
        dead.push({ file, line, reference: whole, reason });
      };
      if (targets.length === 0) {
        report(`no file "${path}" in the repository`);
        continue;
      }
      const wanted = anchor !== undefined ? anchor.toLowerCase() : title && anchorOf(title);
      if (wanted === undefined || wanted === '') continue;
      if (!targets.some((t) => anchorsOf(t).has(wanted))) {
        report(`no heading "${anchor ?? title ?? ''}" (#${wanted}) in ${targets.join(', ')}`);
      }
    }
  }
  return { dead, filesScanned: scanned, references };
}

function main(): void {
  const root = resolve(process.argv[2] ?? join(dirname(fileURLToPath(import.meta.url)), '../..'));
  const { dead, filesScanned, references } = findDeadReferences(root, gitFiles(root));
  for (const d of dead) {
    process.stderr.write(`${d.file}:${d.line}: ${d.reference} — ${d.reason}\n`);
  }
  if (dead.length > 0) {
    process.stderr.write(`doc-refs: ${dead.length} dead document reference(s)\n`);
    process.exitCode = 1;
    return;
  }
  process.stdout.write(
    `doc-refs: ${references} document references in ${filesScanned} files resolve\n`,
  );
}

if (process.argv[1] !== undefined && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  main();
}
