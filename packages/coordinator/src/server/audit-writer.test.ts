import { describe, expect, it } from 'vitest';
import { SqliteCoordinatorStore } from '../adapters/sqlite/sqlite-store.js';
import { redact, writeAudit } from './audit-writer.js';
import { createPinoLogger } from './pino-logger.js';

describe('audit writer', () => {
  it('redact replaces secret-named members at any depth', () => {
    expect(
      redact({
        cmd: { runner: { jitConfig: 'J', url: 'u', registrationToken: 'R' } },
        list: [{ token: 'T' }],
        keep: 1,
      }),
    ).toEqual({
      cmd: { runner: { jitConfig: '[redacted]', url: 'u', registrationToken: '[redacted]' } },
      list: [{ token: '[redacted]' }],
      keep: 1,
    });
  });

  it('an enrollment proof is redacted like every other secret, in audit and in logs', async () => {
    expect(redact({ request: { tokenId: 'id', proof: 'P' } })).toEqual({
      request: { tokenId: 'id', proof: '[redacted]' },
    });
    const lines: string[] = [];
    const logger = createPinoLogger({
      level: 'info',
      destination: { write: (l: string) => lines.push(l) } as unknown as NodeJS.WritableStream,
    });
    logger.info({ proof: 'P1', request: { proof: 'P2' } }, 'enrollment');
    await new Promise((r) => setTimeout(r, 20));
    expect(lines.join('')).not.toMatch(/P1|P2/);
    expect(lines.join('')).toContain('[redacted]');
  });

  it('writeAudit stores a redacted record and omits absent fields', async () => {
    const store = SqliteCoordinatorStore.open(':memory:');
    const r = await writeAudit(store, 42, {
      actor: 'tok',
      action: 'x',
      outcome: 'refused',
      params: { token: 'secret' },
      code: 'LP_FORBIDDEN',
    });
    expect(r).toEqual({
      seq: 1,
      at: 42,
      actor: 'tok',
      action: 'x',
      params: { token: '[redacted]' },
      dryRun: false,
      outcome: 'refused',
      code: 'LP_FORBIDDEN',
    });
    await store.close();
  });
});
