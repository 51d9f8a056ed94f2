import { access, constants } from 'node:fs/promises';
import { delimiter, join } from 'node:path';

/** The first executable among `candidates` (absolute paths, or names looked up on PATH and sbin dirs). */
export async function findBinary(...candidates: string[]): Promise<string | undefined> {
  const dirs = [
    ...(process.env['PATH'] ?? '').split(delimiter),
    '/usr/local/sbin',
    '/usr/sbin',
    '/sbin',
  ];
  for (const candidate of candidates) {
    const paths = candidate.startsWith('/')
      ? [candidate]
      : dirs.filter(Boolean).map((d) => join(d, candidate));
    for (const path of paths) {
      try {
        await access(path, constants.X_OK);
        return path;
      } catch {
        // try the next one
      }
    }
  }
  return undefined;
}
