/**
 * The check that nothing in the repository refers to a document or heading that is not in it
 * (docs/design/README.md "Checking references"). Two kinds of reference are checked:
 *
 * - links in Markdown files (`[text](cli.md#error-codes)`, `[text](#a-heading)`), by
 *   remark-validate-links run through unified-engine, which resolves headings across files;
 * - every other mention of a `*.md` file, in code, configs and prose: it must name a file of the
 *   repository, and a heading given after it (`docs/design/protocol.md#verification-order` or
 *   `docs/design/protocol.md "Verification order"`) must be one of that file's headings, compared
 *   as GitHub anchors. A document named by an absolute or home path (one that starts with `/` or `~`) is
 *   dead wherever it points: nothing may refer to a file outside the repository.
 *
 * `test/docs/doc-refs.test.ts` runs it under vitest (`npm test`); `npm run lint:docs` (part of
 * `npm run lint`) runs this file as a script, which prints `file:line: reference — reason` for each
 * dead reference and exits 1.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync, statSync } from 'node:fs';
import { basename, dirname, extname, join, normalize, relative, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';

import GithubSlugger from 'github-slugger';
import { fromMarkdown } from 'mdast-util-from-markdown';
import { toString } from 'mdast-util-to-string';
import { remark } from 'remark';
import remarkValidateLinks from 'remark-validate-links';
import { engine, type Options as EngineOptions } from 'unified-engine';

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

/** One dead reference as `file:line: reference — reason`. */
export function formatDeadReference(d: DeadReference): string {
  return `${d.file}:${d.line}: ${d.reference} — ${d.reason}`;
}

/**
 * A document path (no scheme, not inside a URL), then optionally `#anchor` or a quoted heading.
 * The look-behind keeps URL paths and `*.md` globs out.
 */
const REFERENCE =
  /(?<![\w./\\*${}-])((?:\.{1,2}\/)*(?:[\w.-]+\/)*[\w-][\w.-]*\.md)(?![\w-])(?:#([\w-]+)|,? ?"([^"\n]{1,120})")?/g;

/** A document named by an absolute or home path (not inside a URL): never in the repository. */
const ABSOLUTE = /(?<=^|[\s`'"(<[=,])(?:~?\/)(?:[\w.+-]+\/)*[\w-][\w.-]*\.md(?![\w-])/gm;

/** What comes right before a link target in Markdown: `](` or a definition's `]: `. */
const LINK_TARGET = /(?:\]\(|\]: ?<?)$/;

/** Files not worth reading: generated, vendored or binary. */
const SKIP_NAMES = new Set(['package-lock.json']);
/** The checker's own test, whose fixtures hold dead references on purpose. */
const SKIP_PATHS = new Set(['test/docs/doc-refs.test.ts']);
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
  return anchorsOfTree(fromMarkdown(markdown));
}

interface MarkdownNode {
  type: string;
  children?: MarkdownNode[];
}

function anchorsOfTree(tree: MarkdownNode): Set<string> {
  const slugger = new GithubSlugger();
  const anchors = new Set<string>();
  const visit = (node: MarkdownNode): void => {
    if (node.type === 'heading') anchors.add(slugger.slug(toString(node)));
    for (const child of node.children ?? []) visit(child);
  };
  visit(tree);
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
export function findDeadReferences(
  root: string,
  files: readonly string[],
  knownAnchors: ReadonlyMap<string, Set<string>> = new Map(),
): ReferenceReport {
  const known = files.map((f) => f.split(sep).join('/'));
  const byBasename = new Map<string, string[]>();
  for (const f of known) {
    const list = byBasename.get(basename(f)) ?? [];
    list.push(f);
    byBasename.set(basename(f), list);
  }
  const anchorCache = new Map(knownAnchors);
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
    if (SKIP_PATHS.has(file)) continue;
    const text = readFileSync(join(root, file), 'utf8');
    if (text.includes('\0')) continue;
    scanned++;
    const markdown = extname(file) === '.md';
    let line = 1;
    let counted = 0;
    const lineAt = (index: number): number => {
      for (; counted < index; counted++) if (text.charCodeAt(counted) === 10) line++;
      return line;
    };
    const found: { index: number; entry: Omit<DeadReference, 'line'> }[] = [];
    for (const m of text.matchAll(ABSOLUTE)) {
      if (markdown && LINK_TARGET.test(text.slice(Math.max(0, m.index - 4), m.index))) continue;
      references++;
      const reason = 'an absolute path: documents are named by their path in the repository';
      found.push({ index: m.index, entry: { file, reference: m[0], reason } });
    }
    for (const m of text.matchAll(REFERENCE)) {
      // A Markdown link's target is findDeadLinks' to check.
      if (markdown && LINK_TARGET.test(text.slice(Math.max(0, m.index - 4), m.index))) continue;
      references++;
      const [whole, path = '', anchor, title] = m;
      const report = (reason: string): void => {
        found.push({ index: m.index, entry: { file, reference: whole, reason } });
      };
      const targets = targetsOf(file, path);
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
    found.sort((a, b) => a.index - b.index);
    for (const { index, entry } of found) dead.push({ ...entry, line: lineAt(index) });
  }
  return { dead, filesScanned: scanned, references };
}

/**
 * Finds every dead link in the Markdown files among `files` (paths relative to `root`), with
 * remark-validate-links: the target file must exist and its `#anchor` must be one of its headings.
 * Links to URLs are not followed. Also returns the heading anchors of each Markdown file, by path.
 */
export async function findDeadLinks(
  root: string,
  files: readonly string[],
): Promise<{ dead: DeadReference[]; anchors: Map<string, Set<string>> }> {
  const anchors = new Map<string, Set<string>>();
  const markdown = files.filter((f) => extname(f) === '.md').map((f) => join(root, f));
  if (markdown.length === 0) return { dead: [], anchors };
  const context = await new Promise<Parameters<Parameters<typeof engine>[1]>[2]>((ok, fail) => {
    engine(
      {
        processor: remark(),
        cwd: root,
        files: markdown,
        extensions: ['md'],
        // remark-validate-links checks other files' headings only through the engine's file set.
        plugins: [
          [remarkValidateLinks, { repository: false, root }],
          // Keeps each file's headings, so findDeadReferences need not parse the files again.
          () => (tree: MarkdownNode, file: { path: string }) => {
            anchors.set(
              relative(root, resolve(root, file.path)).split(sep).join('/'),
              anchorsOfTree(tree),
            );
          },
        ] as unknown as EngineOptions['plugins'],
        detectConfig: false,
        detectIgnore: false,
        output: false,
        out: false,
        // The messages are read from the files below; nothing is printed here.
        reporter: () => '',
      },
      (error, _code, ctx) => {
        if (error) fail(error);
        else ok(ctx);
      },
    );
  });
  const dead: DeadReference[] = [];
  for (const file of context?.files ?? []) {
    for (const message of file.messages) {
      const start = message.place && 'start' in message.place ? message.place.start : message.place;
      const line = start?.line ?? 0;
      const text = readFileSync(resolve(root, file.path), 'utf8').split('\n')[line - 1] ?? '';
      const col = (start?.column ?? 1) - 1;
      const end = message.place && 'end' in message.place ? message.place.end : undefined;
      const reference =
        end !== undefined && end.line === line ? text.slice(col, end.column - 1) : text.trim();
      dead.push({
        file: relative(root, resolve(root, file.path)).split(sep).join('/'),
        line,
        reference,
        reason: message.reason,
      });
    }
  }
  return { dead, anchors };
}

/** Every dead reference among `files`: Markdown links and other mentions, by file and line. */
export async function checkReferences(
  root: string,
  files: readonly string[],
): Promise<ReferenceReport> {
  const links = await findDeadLinks(root, files);
  const report = findDeadReferences(root, files, links.anchors);
  const dead = [...report.dead, ...links.dead].sort(
    (a, b) => a.file.localeCompare(b.file) || a.line - b.line,
  );
  return { ...report, dead };
}

async function main(): Promise<void> {
  const root = resolve(process.argv[2] ?? join(dirname(fileURLToPath(import.meta.url)), '../..'));
  const { dead, filesScanned, references } = await checkReferences(root, gitFiles(root));
  for (const d of dead) process.stderr.write(`${formatDeadReference(d)}\n`);
  if (dead.length > 0) {
    process.stderr.write(`doc-refs: ${dead.length} dead document reference(s)\n`);
    process.exitCode = 1;
    return;
  }
  process.stdout.write(
    `doc-refs: ${references} document references in ${filesScanned} files, and every Markdown link, resolve\n`,
  );
}

if (process.argv[1] !== undefined && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  await main();
}
