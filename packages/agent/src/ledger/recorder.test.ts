import { generateKeyPairSync } from 'node:crypto';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { auditRecordHash } from '@launchplane/shared';
import { BARE_SECRETS, SECRET_SAMPLES } from '@launchplane/testkit/redact-vectors';
import { silentLogger } from '../ports/logger.js';
import { captureIo, enrolledHost } from '../cli/enrolled-host.test-helper.js';
import type { EnrolledHostFixture } from '../cli/enrolled-host.test-helper.js';
import { ledgerPath } from '../cli/local-ledger.js';
import { runCli } from '../cli/program.js';
import { Ledger } from './ledger.js';
import { Recorder } from './recorder.js';

const LANE = '01jabcdefghjkmnpqrstvwxyz0';

/** The text of every signed event in the outbox, payloads decoded. */
function outboxText(ledger: Ledger): string {
  return ledger.outbox
    .pending()
    .map((e) => {
      const [header = '', payload = ''] = e.jws.split('.');
      return `${e.jws}\n${Buffer.from(header, 'base64url').toString()}\n${Buffer.from(payload, 'base64url').toString()}`;
    })
    .join('\n');
}

describe("the agent's audit log", () => {
  let host: EnrolledHostFixture;
  let ledger: Ledger;
  let recorder: Recorder;

  beforeEach(async () => {
    host = await enrolledHost();
    ledger = Ledger.open(ledgerPath(host.dataDir));
    recorder = new Recorder({
      ledger,
      hostId: 'host-a',
      hostKey: generateKeyPairSync('ed25519').privateKey,
      now: () => 1_764_370_000,
      onAppend: () => undefined,
    });
  });
  afterEach(async () => {
    ledger.close();
    await host.cleanup();
  });

  async function cli(...argv: string[]): Promise<{ code: number; out: string; err: string }> {
    const io = captureIo();
    const code = await runCli(['--config', host.configPath, ...argv], io, {
      env: {},
      logger: silentLogger,
    });
    return { code, out: io.out(), err: io.err() };
  }

  // The recorder is handed every sample raw, in parameters, message and recovery. Were it to stop
  // redacting (shared's redactAuditEntry), the stored records, the signed events bound for the
  // coordinator and `launchplane-agent audit --json` would all carry them.
  it.each(SECRET_SAMPLES.map((s) => [s.kind, s] as const))(
    'stores no %s: not in the record, the signed event or `audit --json`; the chain verifies',
    async (_kind, sample) => {
      recorder.audit({
        actor: 'coordinator',
        laneId: LANE,
        action: 'lane.create',
        params: { ...sample.fields, nested: { again: sample.fields } },
        dryRun: false,
        outcome: 'failed',
        code: 'LP_BACKEND_FAILED',
        message: `Create failed: ${sample.text}`,
        recovery: `Retry without ${sample.text}`,
      });
      recorder.audit({
        actor: 'coordinator',
        laneId: LANE,
        action: 'lane.start',
        params: {},
        dryRun: false,
        outcome: 'ok',
      });
      const records = ledger.audit.all();
      expect(records).toHaveLength(2);
      expect(JSON.stringify(records)).not.toContain(sample.secret);
      expect(JSON.stringify(records)).toContain('[redacted]');
      expect(outboxText(ledger)).not.toContain(sample.secret);
      // The chain is over what was stored: it verifies, and each hash is the stored record's.
      expect(ledger.audit.verify()).toEqual({ ok: true });
      for (const r of records) expect(auditRecordHash(r.prevHash!, r)).toBe(r.hash);

      const json = await cli('audit', '--json', '--verify');
      expect(json.code).toBe(0);
      expect(json.out).not.toContain(sample.secret);
      expect(JSON.parse(json.out)).toMatchObject({ verify: { ok: true } });
      const table = await cli('audit');
      expect(table.out + table.err).not.toContain(sample.secret);
    },
  );

  it('removes the exact values a caller names, even where no known shape gives them away', () => {
    recorder.audit(
      {
        actor: 'coordinator',
        action: 'lane.create',
        params: { note: `config.sh said ${BARE_SECRETS.join(' ')}` },
        dryRun: false,
        outcome: 'failed',
        message: `config.sh said ${BARE_SECRETS.join(' ')}`,
      },
      BARE_SECRETS,
    );
    const text = JSON.stringify(ledger.audit.all()) + outboxText(ledger);
    for (const s of BARE_SECRETS) expect(text).not.toContain(s);
    expect(ledger.audit.verify()).toEqual({ ok: true });
  });

  it('keeps what is not secret', () => {
    const r = recorder.audit({
      actor: 'cli:local',
      laneId: LANE,
      action: 'lane.remove',
      params: { force: true, local: true, runner: { url: 'https://github.com/acme' } },
      dryRun: true,
      outcome: 'dry-run',
    });
    expect(r).toMatchObject({
      seq: 1,
      hostId: 'host-a',
      params: { force: true, local: true, runner: { url: 'https://github.com/acme' } },
    });
  });
});
