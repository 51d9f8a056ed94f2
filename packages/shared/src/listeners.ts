/**
 * Calls each listener in turn. One that throws is handed to `onError` and the rest still run:
 * whoever announces a change (a stored report, a job heard of) must not fail because of a
 * listener.
 */
export function callEach(listeners: Iterable<() => void>, onError: (err: unknown) => void): void {
  for (const listener of listeners) {
    try {
      listener();
    } catch (err) {
      onError(err);
    }
  }
}
