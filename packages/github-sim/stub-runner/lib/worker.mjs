// The job body of the stub runner. It runs as `bin/Runner.Worker` (a symlink to node), so
// /proc/<pid>/comm reads "Runner.Worker" like the real runner's worker process.
import { mkdirSync } from 'node:fs';

const durationMs = Number(process.argv[2] ?? '0');
const parent = process.ppid;
const workspace = process.env.GITHUB_WORKSPACE;
if (workspace) mkdirSync(workspace, { recursive: true });

// A worker whose listener died (SIGKILL) must not outlive it, as the real worker does not.
const watch = setInterval(() => {
  if (process.ppid !== parent) process.exit(1);
}, 200);
setTimeout(() => {
  clearInterval(watch);
  process.exit(0);
}, durationMs);
process.on('SIGTERM', () => process.exit(143));
process.on('SIGINT', () => process.exit(130));
