#!/usr/bin/env node
// The `launchplane` command. npm links it at install time, before `npm run build` has made dist/,
// so a fresh clone gets a working `npx launchplane` once it is built.
import { existsSync } from 'node:fs';

const cli = new URL('../dist/cli.js', import.meta.url);
if (!existsSync(cli)) {
  process.stderr.write(
    'error LP_USAGE: launchplane is not built\nhint: run `npm run build` in the repository first\n',
  );
  process.exit(2);
}
await import(cli.href);
