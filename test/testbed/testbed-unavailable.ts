/** Thrown when a part of the testbed cannot run on this machine; the reason is printed on skip. */
export class TestbedUnavailableError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'TestbedUnavailableError';
  }
}
