import { Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { createPinoLogger } from './logger.js';

describe('createPinoLogger()', () => {
  it('redacts tokens, JIT configs and environments by path', async () => {
    const lines: string[] = [];
    const destination = new Writable({
      write(chunk: Buffer, _enc, cb) {
        lines.push(chunk.toString());
        cb();
      },
    });
    const log = createPinoLogger({ destination, bindings: { hostId: 'host-a' } });
    log.info({ cmd: { type: 'lane.create', runner: { jitConfig: 'JIT-SECRET' } } }, 'command');
    log.info(
      {
        runner: { registrationToken: 'REG-SECRET' },
        token: 'TOK-SECRET',
        env: { X: 'ENV-SECRET' },
      },
      'x',
    );
    await new Promise((r) => setImmediate(r));
    const out = lines.join('');
    expect(out).toContain('"hostId":"host-a"');
    expect(out).toContain('lane.create');
    for (const s of ['JIT-SECRET', 'REG-SECRET', 'TOK-SECRET', 'ENV-SECRET'])
      expect(out).not.toContain(s);
    expect(out).toContain('[redacted]');
  });
});
