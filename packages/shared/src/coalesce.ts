/**
 * Runs of an idempotent action that callers may share. Each call to the returned function
 * resolves (or rejects) with a run of `fn` that began after the call was made: the run queued
 * behind the one under way, which every call made meanwhile joins. At most one run is under way
 * at a time, and at most one waits behind it, however many calls come.
 *
 * For actions like systemd's daemon reload: whoever changed a file before calling needs a
 * reload that reads the file afterwards, and one reload serves every change made before it began.
 */
export function coalescing(fn: () => Promise<void>): () => Promise<void> {
  let running: Promise<void> | undefined;
  let queued: Promise<void> | undefined;
  return () => {
    if (queued !== undefined) return queued;
    const next: Promise<void> = (running ?? Promise.resolve())
      .catch(() => undefined)
      .then(async () => {
        // Begun: a call made from now on may come after what this run reads, so it needs the next.
        queued = undefined;
        running = next;
        try {
          await fn();
        } finally {
          if (running === next) running = undefined;
        }
      });
    queued = next;
    return next;
  };
}
