import { describe, expect, it } from 'vitest';
import { SECRET_SAMPLES } from '@launchplane/testkit/redact-vectors';
import { SqliteCoordinatorStore } from '../adapters/sqlite/sqlite-store.js';
import { writeAudit } from './audit-writer.js';

describe('audit writer', () => {
  // Every caller hands writeAudit what it has (a command, a request, an error's text); none
  // redacts first. Were writeAudit to stop using shared's redactAuditEntry, the store would hold
  // each sample.
  it.each(SECRET_SAMPLES.map((s) => [s.kind, s] as const))(
    'stores no %s, in parameters at any depth, message or recovery',
    async (_kind, sample) => {
      const store = SqliteCoordinatorStore.open(':memory:');
      await writeAudit(store, 42, {
        actor: 'tok-1',
        action: 'command.lane.create',
        outcome: 'failed',
        params: { ...sample.fields, list: [{ deeper: sample.fields }] },
        code: 'LP_BACKEND_FAILED',
        message: `Create failed: ${sample.text}`,
        recovery: `Retry without ${sample.text}`,
      });
      const stored = JSON.stringify(await store.listAudit({}));
      expect(stored).not.toContain(sample.secret);
      expect(stored).toContain('[redacted]');
      await store.close();
    },
  );

  it('stores a redacted record, keeps what is not secret and omits absent fields', async () => {
    const store = SqliteCoordinatorStore.open(':memory:');
    const r = await writeAudit(store, 42, {
      actor: 'tok',
      action: 'x',
      outcome: 'refused',
      params: {
        token: 'secret',
        cmd: {
          runner: { url: 'https://github.com/acme', registrationToken: 'R', runnerGroup: 'g' },
        },
      },
      code: 'LP_FORBIDDEN',
    });
    expect(r).toEqual({
      seq: 1,
      at: 42,
      actor: 'tok',
      action: 'x',
      params: {
        token: '[redacted]',
        cmd: {
          runner: {
            url: 'https://github.com/acme',
            registrationToken: '[redacted]',
            runnerGroup: 'g',
          },
        },
      },
      dryRun: false,
      outcome: 'refused',
      code: 'LP_FORBIDDEN',
    });
    await store.close();
  });
});
