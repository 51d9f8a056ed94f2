import { Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { LaunchplaneError } from '@launchplane/shared';
import { SECRET_SAMPLES, logSampleEveryWay } from '@launchplane/testkit/redact-vectors';
import { createPinoLogger } from './pino-logger.js';

function capture(): { destination: Writable; text: () => Promise<string> } {
  const lines: string[] = [];
  const destination = new Writable({
    write(chunk: Buffer, _enc, cb) {
      lines.push(chunk.toString());
      cb();
    },
  });
  return {
    destination,
    text: async () => {
      await new Promise((r) => setImmediate(r));
      return lines.join('');
    },
  };
}

describe("the agent's pino logger", () => {
  // Most samples sit where no pino path reaches (a PEM under `tls.key`, `.credentials`, a token
  // three levels down, a JIT config in the message or in an error's stack): only the shared
  // redaction the adapter applies to every line removes them, so this fails if it stopped.
  it.each(SECRET_SAMPLES.map((s) => [s.kind, s] as const))(
    'writes no %s, whether in fields, nested deeper, in the message or in an error',
    async (_kind, sample) => {
      const out = capture();
      const log = createPinoLogger({
        destination: out.destination,
        bindings: { hostId: 'host-a' },
      });
      const lines = logSampleEveryWay(log, sample);
      const text = await out.text();
      expect(text).not.toContain(sample.secret);
      expect(text.trim().split('\n')).toHaveLength(lines);
      for (const line of text.trim().split('\n')) {
        expect(JSON.parse(line)).toMatchObject({ hostId: 'host-a' });
      }
      expect(text).toContain('[redacted]');
    },
  );

  it('keeps what is not secret, and an error keeps its type, code and stack', async () => {
    const out = capture();
    const log = createPinoLogger({ destination: out.destination });
    log.info(
      { cmd: { type: 'lane.create', laneId: 'L1', runner: { url: 'https://github.com/acme' } } },
      'command',
    );
    log.error({ err: new LaunchplaneError('LP_NOT_OWNED', 'Lane "L1" is not owned') }, 'refused');
    const [first, second] = (await out.text())
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as { err?: { stack?: string } });
    expect(first).toMatchObject({
      msg: 'command',
      cmd: { type: 'lane.create', laneId: 'L1', runner: { url: 'https://github.com/acme' } },
    });
    expect(second?.err).toMatchObject({
      type: 'LaunchplaneError',
      code: 'LP_NOT_OWNED',
      message: 'Lane "L1" is not owned',
    });
    expect(second?.err?.stack).toContain('Lane "L1" is not owned');
  });

  it('drops a line below its level before redacting it (pino says which levels it writes)', async () => {
    const out = capture();
    const log = createPinoLogger({ destination: out.destination, level: 'info' });
    log.debug(
      {
        get cmd(): never {
          throw new Error('the fields of a dropped line were read');
        },
      },
      'dropped',
    );
    log.info({ n: 1 }, 'written');
    const lines = (await out.text()).trim().split('\n');
    expect(lines).toHaveLength(1);
    expect(JSON.parse(lines[0] ?? '')).toMatchObject({ msg: 'written', n: 1 });
  });
});
