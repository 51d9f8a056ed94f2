// Console output of the stub's Runner.Listener and Runner.Worker: one line per message, prefixed
// with a UTC time like the real runner's terminal output. Secrets are never passed in here.

function stamp() {
  return new Date()
    .toISOString()
    .replace('T', ' ')
    .replace(/\.\d+Z$/, 'Z');
}

/** Writes `message` to stdout. */
export function log(message) {
  process.stdout.write(`${stamp()}: ${message}\n`);
}

/** Writes `message` to stderr. */
export function logError(message) {
  process.stderr.write(`${stamp()}: ${message}\n`);
}
