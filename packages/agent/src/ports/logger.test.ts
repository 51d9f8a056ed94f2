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
    log.info({ child: { ACTIONS_RUNNER_INPUT_TOKEN: 'INPUT-SECRET' } }, 'config.sh');
    await new Promise((r) => setImmediate(r));
    const out = lines.join('');
    expect(out).toContain('"hostId":"host-a"');
    expect(out).toContain('lane.create');
    for (const s of ['JIT-SECRET', 'REG-SECRET', 'TOK-SECRET', 'ENV-SECRET', 'INPUT-SECRET'])
      expect(out).not.toContain(s);
    expect(out).toContain('[redacted]');
  });
});

describe('redactSecrets()', () => {
  it('removes the runner inputs passed in an environment from free text', async () => {
    const { redactSecrets } = await import('../errors.js');
    const text =
      'env: ACTIONS_RUNNER_INPUT_TOKEN=AAAREGTOKEN ACTIONS_RUNNER_INPUT_JITCONFIG="eyJJIT" done';
    const out = redactSecrets(text);
    expect(out).not.toContain('AAAREGTOKEN');
    expect(out).not.toContain('eyJJIT');
    expect(out).toContain('ACTIONS_RUNNER_INPUT_TOKEN=[redacted]');
  });
});
