/**
 * Where every bench keeps its figures: `bench/results/<name>.json`, the JSON document it prints,
 * so runs compare side by side with `git diff` (and the READMEs link the files). `--no-write`
 * (each bench takes it) prints only.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const RESULTS_DIR = fileURLToPath(new URL('./results/', import.meta.url));

/** Writes `doc` to `bench/results/<name>.json` unless `write` is false; returns the path or undefined. */
export function writeResult(name, doc, write = true) {
  if (!write) return undefined;
  mkdirSync(RESULTS_DIR, { recursive: true });
  const path = join(RESULTS_DIR, `${name}.json`);
  writeFileSync(path, `${JSON.stringify(doc, null, 2)}\n`);
  return path;
}
