/**
 * Parses YAML text against a zod schema and reports every problem with its YAML path and line, so
 * that an operator can find it: `pools.build.lanes.host-x: host "host-x" is not in allowedHosts`.
 * Reading the file is the caller's job; this module does no I/O.
 */
import { LineCounter, isNode, isPair, isScalar, isSeq, parseDocument, visit } from 'yaml';
import type { Document } from 'yaml';
import type { z } from 'zod';
import { LaunchplaneError } from './errors.js';
import type { ErrorCode } from './errors.js';

/** One problem in a config file. */
export interface ConfigIssue {
  /** Dotted path (`pools.build.lanes.host-x`, `allowedHosts[1]`); empty for the whole file. */
  path: string;
  /** 1-based line of the offending node, when the file has one there. */
  line: number | undefined;
  column: number | undefined;
  message: string;
}

export type ParseResult<T> = { ok: true; value: T } | { ok: false; issues: ConfigIssue[] };

/** Formats a zod/YAML path: keys joined with dots, indices in brackets. */
export function formatPath(path: readonly PropertyKey[]): string {
  let out = '';
  for (const seg of path) {
    if (typeof seg === 'number') out += `[${seg}]`;
    else out += out === '' ? String(seg) : `.${String(seg)}`;
  }
  return out;
}

/** `path: message (line N)` — the one-line form used by CLIs. */
export function formatIssue(issue: ConfigIssue, source?: string): string {
  const where = issue.path === '' ? '' : `${issue.path}: `;
  const loc =
    issue.line === undefined
      ? ''
      : source === undefined
        ? ` (line ${issue.line})`
        : ` (${source}:${issue.line})`;
  return `${where}${issue.message}${loc}`;
}

/**
 * Parses `text` as one YAML document and validates it with `schema`. Duplicate keys, YAML syntax
 * errors and schema errors all come back as issues; nothing throws for bad input.
 */
export function parseYamlWithSchema<S extends z.ZodType>(
  text: string,
  schema: S,
  opts: { forbiddenKeys?: ReadonlySet<string> } = {},
): ParseResult<z.output<S>> {
  const lineCounter = new LineCounter();
  // yaml's own duplicate-key check compares every key with every other (quadratic: 25 s for a
  // 10,000-host policy), so duplicates are found here in one pass instead.
  const doc = parseDocument(text, { lineCounter, uniqueKeys: false, prettyErrors: false });
  const syntax: ConfigIssue[] = doc.errors.map((e) => {
    const pos = lineCounter.linePos(e.pos[0]);
    return {
      path: '',
      line: pos.line,
      column: pos.col,
      message: e.message.split('\n')[0] ?? e.message,
    };
  });
  const problems = [
    ...syntax,
    ...duplicateKeys(doc, lineCounter),
    ...(opts.forbiddenKeys === undefined ? [] : keysNamed(doc, lineCounter, opts.forbiddenKeys)),
  ];
  if (problems.length > 0) {
    problems.sort((a, b) => (a.line ?? 0) - (b.line ?? 0));
    return { ok: false, issues: problems };
  }
  let raw: unknown;
  try {
    raw = doc.toJS({ maxAliasCount: 100 });
  } catch (err) {
    return {
      ok: false,
      issues: [{ path: '', line: undefined, column: undefined, message: String(err) }],
    };
  }
  if (raw === null || raw === undefined) raw = {};
  const parsed = schema.safeParse(raw);
  if (parsed.success) return { ok: true, value: parsed.data };
  const issues = parsed.error.issues.map((i) => {
    const path = i.path.filter((p): p is string | number => typeof p !== 'symbol');
    const pos = locate(doc, lineCounter, path);
    return { path: formatPath(path), line: pos?.line, column: pos?.col, message: i.message };
  });
  issues.sort((a, b) => (a.line ?? 0) - (b.line ?? 0) || a.path.localeCompare(b.path));
  return { ok: false, issues };
}

/** Throws a LaunchplaneError carrying every issue when parsing fails. */
export function parseYamlOrThrow<S extends z.ZodType>(
  text: string,
  schema: S,
  opts: { code: ErrorCode; what: string; source?: string },
): z.output<S> {
  const r = parseYamlWithSchema(text, schema);
  if (r.ok) return r.value;
  const lines = r.issues.map((i) => formatIssue(i, opts.source));
  throw new LaunchplaneError(
    opts.code,
    `Invalid ${opts.what}${opts.source === undefined ? '' : ` "${opts.source}"`}: ${lines.join('; ')}`,
    { details: { issues: r.issues } },
  );
}

/** Every mapping key that repeats an earlier key of the same mapping, with its line. */
function duplicateKeys(doc: Document, lineCounter: LineCounter): ConfigIssue[] {
  const issues: ConfigIssue[] = [];
  visit(doc, {
    Map(_key, map) {
      const seen = new Set<string>();
      for (const pair of map.items) {
        const key = isScalar(pair.key) ? String(pair.key.value) : String(pair.key);
        if (seen.has(key)) {
          const pos =
            isNode(pair.key) && pair.key.range ? lineCounter.linePos(pair.key.range[0]) : undefined;
          issues.push({
            path: '',
            line: pos?.line,
            column: pos?.col,
            message: `Map keys must be unique: "${key}" is repeated`,
          });
        }
        seen.add(key);
      }
    },
  });
  return issues;
}

/** Keys that reach an object's prototype machinery when a document becomes JavaScript objects. */
export const PROTOTYPE_KEYS: ReadonlySet<string> = new Set([
  '__proto__',
  'constructor',
  'prototype',
]);

/** Every mapping key, at any depth, that is in `names`, with its path and line. */
function keysNamed(
  doc: Document,
  lineCounter: LineCounter,
  names: ReadonlySet<string>,
): ConfigIssue[] {
  const issues: ConfigIssue[] = [];
  visit(doc, {
    Pair(_key, pair, ancestors) {
      const key = isScalar(pair.key) ? String(pair.key.value) : String(pair.key);
      if (!names.has(key)) return;
      const pos =
        isNode(pair.key) && pair.key.range ? lineCounter.linePos(pair.key.range[0]) : undefined;
      issues.push({
        path: formatPath([...pathOf(ancestors), key]),
        line: pos?.line,
        column: pos?.col,
        message: `key "${key}" is not allowed: it could change how the file is read`,
      });
    },
  });
  return issues;
}

/** The keys and indices leading to a node, from the visitor's ancestors. */
function pathOf(ancestors: readonly unknown[]): (string | number)[] {
  const out: (string | number)[] = [];
  ancestors.forEach((node, i) => {
    if (isPair(node)) out.push(isScalar(node.key) ? String(node.key.value) : String(node.key));
    else if (isSeq(node)) {
      const child = ancestors[i + 1];
      const index = node.items.indexOf(child);
      if (index >= 0) out.push(index);
    }
  });
  return out;
}

function locate(
  doc: Document,
  lineCounter: LineCounter,
  path: (string | number)[],
): { line: number; col: number } | undefined {
  // The offending node may not exist (a missing field): report its nearest existing parent.
  for (let n = path.length; n >= 0; n--) {
    const node: unknown = n === 0 ? doc.contents : doc.getIn(path.slice(0, n), true);
    if (isNode(node) && node.range) return lineCounter.linePos(node.range[0]);
  }
  return undefined;
}
