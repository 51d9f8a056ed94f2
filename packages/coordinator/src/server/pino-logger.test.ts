import { describe, expect, it } from 'vitest';
import { SECRET_SAMPLES, logSampleEveryWay } from '@launchplane/testkit/redact-vectors';
import { createPinoLogger } from './pino-logger.js';

function capture(): { destination: NodeJS.WritableStream; text: () => Promise<string> } {
  const lines: string[] = [];
  return {
    destination: { write: (l: string) => lines.push(l) } as unknown as NodeJS.WritableStream,
    text: async () => {
      await new Promise((r) => setImmediate(r));
      return lines.join('');
    },
  };
}

describe("the coordinator's pino logger", () => {
  // Most samples sit where no pino path reaches (a PEM under `tls.key`, `.credentials`, a token
  // three levels down, anything in the message or in an error's stack): only the shared
  // redaction the adapter applies to every line removes them, so this fails if it stopped.
  it.each(SECRET_SAMPLES.map((s) => [s.kind, s] as const))(
    'writes no %s, whether in fields, nested deeper, in the message or in an error',
    async (_kind, sample) => {
      const out = capture();
      const log = createPinoLogger({ destination: out.destination });
      const lines = logSampleEveryWay(log, sample);
      const text = await out.text();
      expect(text).not.toContain(sample.secret);
      expect(text.trim().split('\n')).toHaveLength(lines);
      expect(text).toContain('[redacted]');
    },
  );

  it('keeps what is not secret', async () => {
    const out = capture();
    createPinoLogger({ destination: out.destination }).info(
      { hostId: 'host-a', req: { method: 'GET', url: '/v1/plan', headers: { accept: 'x' } } },
      'request',
    );
    expect(JSON.parse(await out.text())).toMatchObject({
      msg: 'request',
      hostId: 'host-a',
      req: { method: 'GET', url: '/v1/plan', headers: { accept: 'x' } },
    });
  });
});
