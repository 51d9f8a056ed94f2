/**
 * Property-based fuzzing of the command JWS, the one coordinator frame that reaches the agent's
 * ledger: signed payloads (valid signature) that break the schema in every way the mutation set
 * knows, and envelopes that break the header, the signature or the structure. Every case must be
 * answered with a signed `refused` result carrying a stable LP_* code, leave lanes, replay state,
 * systemd and Docker untouched, and record nothing but one refusal audit record.
 */
import { msToSec } from '@launchplane/shared';
import { randomUUID, sign } from 'node:crypto';
import { appendFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  COMMAND_TYP,
  COMMAND_TYPES,
  agentConfigSchema,
  fingerprint,
  generateEd25519KeyPair,
  isErrorCode,
  verifyResult,
  type Ed25519KeyPair,
  type EventPayload,
} from '@launchplane/shared';
import { AgentCore } from '../agent-core.js';
import { ManualClock } from '../ports/clock.js';
import { silentLogger } from '../ports/logger.js';
import { makeTemplate } from '../core-harness.test-helper.js';
import { FakeContainerRuntime } from '../ports/fake-container-runtime.test-helper.js';
import { FakeUnitManager } from '../ports/fake-unit-manager.test-helper.js';
import {
  Raw,
  arbitraryFrame,
  mutatedFrame,
  prototypePolluted,
  render,
  type FrameTemplate,
  type Mutated,
} from '@launchplane/testkit/fuzz';

/** Cases per property; `LP_FUZZ_SCALE` multiplies them (soak runs). */
const SCALE = Number(process.env.LP_FUZZ_SCALE ?? '1');
const runs = (n: number): number => Math.max(1, Math.round(n * SCALE));

const HOST_ID = 'host-a';
const LANE_ID = '01jd0000000000000000000000';

let root: string;
let core: AgentCore;
let keys: { coordinator: Ed25519KeyPair; host: Ed25519KeyPair };
let clock: ManualClock;
const units = new FakeUnitManager();
const containers = new FakeContainerRuntime();

const tally = {
  tried: 0,
  refused: 0,
  byErrorCode: {} as Record<string, number>,
  byMutation: {} as Record<string, number>,
};
const bump = (m: Record<string, number>, k: string): void => {
  m[k] = (m[k] ?? 0) + 1;
};

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'lp-fuzz-'));
  const template = await makeTemplate(root);
  keys = { coordinator: generateEd25519KeyPair(), host: generateEd25519KeyPair() };
  clock = new ManualClock(Date.UTC(2026, 10, 28, 22, 0, 0));
  core = await AgentCore.create({
    config: agentConfigSchema.parse({
      hostId: HOST_ID,
      dataDir: join(root, 'data'),
      optIn: {
        repositories: ['acme/api'],
        organizations: ['acme'],
        backends: ['systemd', 'docker'],
        maxLanes: 3,
      },
      runner: { template },
    }),
    hostKey: keys.host.privateKey,
    coordinatorKey: keys.coordinator.publicKey,
    coordinatorFingerprint: fingerprint(keys.coordinator.publicKey),
    units,
    containers,
    clock,
    logger: silentLogger,
    ledgerPath: ':memory:',
    procRoot: join(root, 'no-proc'),
  });
});

afterAll(async () => {
  // The whole refusal trail is intact and holds refusals only.
  expect(core.verifyAudit()).toEqual({ ok: true });
  const trail = core.auditLog();
  expect(trail.length).toBe(tally.refused);
  expect(trail.every((r) => r.outcome === 'refused')).toBe(true);
  const lanesCreated = core.listLanes().length;
  await core.stop();
  await rm(root, { recursive: true, force: true });
  const out = process.env.LP_RELIABILITY_OUT;
  if (out !== undefined && out !== '') {
    appendFileSync(
      out,
      `${JSON.stringify({
        area: 'bad-input',
        scenario: 'fuzz: signed and mangled commands into AgentCore.handleCommand (in-process)',
        injected: `${tally.tried} mutated or arbitrary inputs`,
        survived: tally.refused === tally.tried,
        counts: {
          tried: tally.tried,
          refused: tally.refused,
          notRefused: tally.tried - tally.refused,
          lanesCreated,
          unitCalls: units.calls.length,
          containerCalls: containers.calls.length,
          ...tally.byErrorCode,
        },
        mutations: tally.byMutation,
      })}\n`,
    );
  }
});

function nowSec(): number {
  return msToSec(clock.nowMs());
}

/** The next seq the agent would accept (nothing below is ever accepted, so it stays put). */
function nextSeq(): number {
  return Number(core.ledger.getMeta('command_last_seq') ?? '0') + 1;
}

const b64Header = (header: Record<string, unknown>): string =>
  Buffer.from(JSON.stringify(header)).toString('base64url');
/** The valid command header, encoded once. */
let goodHeader: string | undefined;

/** Signs raw payload bytes with the coordinator key, as a buggy or hostile signer could. */
function signRaw(payload: Buffer, header?: Record<string, unknown>): string {
  const h =
    header === undefined
      ? (goodHeader ??= b64Header({
          alg: 'EdDSA',
          typ: COMMAND_TYP,
          kid: fingerprint(keys.coordinator.publicKey),
        }))
      : b64Header(header);
  const input = `${h}.${payload.toString('base64url')}`;
  return `${input}.${sign(null, Buffer.from(input, 'latin1'), keys.coordinator.privateKey).toString('base64url')}`;
}

const CREATE = {
  type: 'lane.create',
  laneId: LANE_ID,
  dryRun: false,
  name: 'lp-host-a-build-x',
  scope: { repository: 'acme/api' },
  pool: 'build',
  labels: ['launchplane', 'lp-pool-build'],
  backend: 'systemd',
  ephemeral: false,
  runnerId: 17,
  runner: { url: 'https://github.com/acme/api', registrationToken: 'SECRET-TOKEN-AAAAbbbbCCCC' },
  docker: { image: 'ghcr.io/acme/runner:1', network: 'bridge' },
};

function payloadTemplate(cmd: Record<string, unknown>): FrameTemplate {
  const iat = nowSec();
  return {
    value: {
      iss: 'coord-test',
      aud: HOST_ID,
      iat,
      exp: iat + 120,
      jti: randomUUID(),
      seq: nextSeq(),
      cmd,
    },
    required: [
      'iss',
      'aud',
      'iat',
      'exp',
      'jti',
      'seq',
      'cmd',
      'cmd.type',
      'cmd.laneId',
      'cmd.dryRun',
    ],
    tag: { path: 'cmd.type', valid: COMMAND_TYPES },
  };
}

const TEMPLATES: Record<string, unknown>[] = [
  CREATE,
  { type: 'lane.remove', laneId: LANE_ID, dryRun: false, force: true },
  ...(['lane.start', 'lane.stop', 'lane.restart', 'lane.inspect'] as const).map((type) => ({
    type,
    laneId: LANE_ID,
    dryRun: false,
  })),
];

/**
 * Sends one command JWS and asserts a refusal that changed nothing but the audit trail (and, for a
 * command that `verified`, the replay record).
 */
async function expectRefused(m: Mutated, jws: string, verified = false): Promise<void> {
  const detail = `${m.kind} at "${m.path}": ${m.bytes.subarray(0, 200).toString('utf8')}`;
  const lanes = JSON.stringify(core.listLanes());
  const seq = core.ledger.getMeta('command_last_seq');
  const unitCalls = units.calls.length;
  const containerCalls = containers.calls.length;
  // Start from an empty outbox (a failed case, or fast-check's shrinking, may leave some).
  const stale = core.pendingEvents(1000).at(-1);
  if (stale !== undefined) core.ackEvents(stale.seq);
  tally.tried++;
  bump(tally.byMutation, m.kind);
  const answer = await core.handleCommand(jws);
  const r = verifyResult(answer, { publicKey: keys.host.publicKey, hostId: HOST_ID });
  expect(r.ok, detail).toBe(false);
  expect(r.outcome, detail).toBe('refused');
  const code = r.error?.code;
  expect(code !== undefined && isErrorCode(code) && code !== 'LP_INTERNAL', detail).toBe(true);
  expect(JSON.stringify(core.listLanes()), detail).toBe(lanes);
  // A command that verified and was refused by the host's own rules is remembered (its jti
  // answers replays with the stored refusal); anything that did not verify leaves no trace.
  if (!verified) expect(core.ledger.getMeta('command_last_seq'), detail).toBe(seq);
  expect(units.calls.length, detail).toBe(unitCalls);
  expect(containers.calls.length, detail).toBe(containerCalls);
  expect(prototypePolluted()).toBe(false);
  // Exactly one event went out: the refusal's audit record.
  const pending = core.pendingEvents(10);
  expect(pending.length, detail).toBe(1);
  // Decoded, not verified: the signature of outbox events is the coordinator suite's concern
  // and costs as much as the rest of the case.
  const event = JSON.parse(
    Buffer.from(String(pending[0]?.jws.split('.')[1]), 'base64url').toString('utf8'),
  ) as EventPayload;
  expect(event.event.kind === 'audit' && event.event.record.outcome === 'refused', detail).toBe(
    true,
  );
  core.ackEvents(pending[0]?.seq ?? 0);
  tally.refused++;
  bump(tally.byErrorCode, code ?? 'none');
}

describe('AgentCore.handleCommand under fuzzed commands', () => {
  it('a validly signed payload that breaks the command schema is refused and changes nothing', async () => {
    // One template per command, made once: nothing in this property verifies, so the next seq,
    // the clock and with them the template's iat, exp and seq stay put; its mutations (and their
    // costly renderings, like a 270 KiB string) are made once per template, not once per case.
    const frames = TEMPLATES.map((cmd) => mutatedFrame(payloadTemplate(cmd)));
    await fc.assert(
      fc.asyncProperty(fc.oneof(...frames), (m) => expectRefused(m, signRaw(m.bytes))),
      { numRuns: runs(14_000) },
    );
  }, 180_000);

  it('a validly signed command for another host, too old, too long-lived or out of order is refused', async () => {
    const base = (): Record<string, unknown> => payloadTemplate(CREATE).value;
    const variants: [string, (p: Record<string, unknown>) => Record<string, unknown>][] = [
      ['aud=other', (p) => ({ ...p, aud: 'host-b' })],
      ['aud=HOST-A', (p) => ({ ...p, aud: 'HOST-A' })],
      ['expired', (p) => ({ ...p, iat: nowSec() - 400, exp: nowSec() - 200 })],
      ['future', (p) => ({ ...p, iat: nowSec() + 600, exp: nowSec() + 700 })],
      ['lifetime', (p) => ({ ...p, exp: Number(p.iat) + 301 })],
      ['seq=0', (p) => ({ ...p, seq: 0 })],
      ['seq>max', (p) => ({ ...p, seq: new Raw('9007199254740993') })],
      [
        'scope=not-opted-in',
        (p) => ({ ...p, cmd: { ...CREATE, scope: { repository: 'evil/repo' } } }),
      ],
      [
        'lane=not-owned',
        (p) => ({
          ...p,
          cmd: { type: 'lane.remove', laneId: LANE_ID, dryRun: false, force: false },
        }),
      ],
      ['laneId=../', (p) => ({ ...p, cmd: { ...CREATE, laneId: '../../etc/passwd' } })],
      ['laneId=%2e%2e', (p) => ({ ...p, cmd: { ...CREATE, laneId: '%2e%2e%2f' } })],
      ['laneId=upper', (p) => ({ ...p, cmd: { ...CREATE, laneId: LANE_ID.toUpperCase() } })],
      ['laneId=27', (p) => ({ ...p, cmd: { ...CREATE, laneId: `${LANE_ID}0` } })],
      [
        'laneId=NUL',
        (p) => ({ ...p, cmd: { ...CREATE, laneId: `${LANE_ID.slice(0, 25)}\u0000` } }),
      ],
    ];
    await fc.assert(
      fc.asyncProperty(fc.constantFrom(...variants), async ([what, change]) => {
        const bytes = Buffer.from(render(change(base())));
        const verified = what === 'scope=not-opted-in' || what === 'lane=not-owned';
        await expectRefused({ kind: 'retype', path: what, bytes }, signRaw(bytes), verified);
      }),
      { numRuns: runs(1_500) },
    );
  }, 120_000);

  it('a validly signed payload with invalid UTF-8 anywhere, even inside a string, is refused', async () => {
    const bad = [[0xff], [0xc3], [0xc0, 0xaf], [0xed, 0xa0, 0x80], [0xf4, 0x90, 0x80, 0x80]];
    await fc.assert(
      fc.asyncProperty(fc.nat(), fc.constantFrom(...bad), async (pos, seq) => {
        const text = Buffer.from(render(payloadTemplate(CREATE).value));
        const at = pos % text.length;
        const bytes = Buffer.concat([text.subarray(0, at), Buffer.from(seq), text.subarray(at)]);
        await expectRefused({ kind: 'invalid-utf8', path: `byte ${at}`, bytes }, signRaw(bytes));
      }),
      { numRuns: runs(500) },
    );
  }, 120_000);

  it('a broken envelope (header, signature, structure) or any junk string is refused', async () => {
    const other = generateEd25519KeyPair();
    const fp = fingerprint(keys.coordinator.publicKey);
    const good = (): Buffer => Buffer.from(render(payloadTemplate(CREATE).value));
    const envelopes: fc.Arbitrary<Mutated & { jws: string }> = fc.oneof(
      arbitraryFrame().map((m) => ({ ...m, jws: m.bytes.toString('utf8') })),
      fc
        .constantFrom<[string, Record<string, unknown>]>(
          ['alg=none', { alg: 'none', typ: COMMAND_TYP, kid: fp }],
          ['alg=HS256', { alg: 'HS256', typ: COMMAND_TYP, kid: fp }],
          ['alg=eddsa', { alg: 'eddsa', typ: COMMAND_TYP, kid: fp }],
          ['typ=result', { alg: 'EdDSA', typ: 'launchplane-result', kid: fp }],
          ['kid=other', { alg: 'EdDSA', typ: COMMAND_TYP, kid: fingerprint(other.publicKey) }],
          ['header+jwk', { alg: 'EdDSA', typ: COMMAND_TYP, kid: fp, jwk: { kty: 'OKP' } }],
          ['header-no-kid', { alg: 'EdDSA', typ: COMMAND_TYP }],
        )
        .map(([what, header]) => ({
          kind: 'retype' as const,
          path: what,
          bytes: Buffer.alloc(0),
          jws: signRaw(good(), header),
        })),
      fc
        .constantFrom('other-key', 'no-sig', 'short-sig', 'two-parts', 'four-parts', 'padded')
        .map((what) => {
          const [h, p, s] = signRaw(good()).split('.') as [string, string, string];
          const otherSig = sign(
            null,
            Buffer.from(`${h}.${p}`, 'latin1'),
            other.privateKey,
          ).toString('base64url');
          const jws = {
            'other-key': `${h}.${p}.${otherSig}`,
            'no-sig': `${h}.${p}.`,
            'short-sig': `${h}.${p}.${s.slice(0, 40)}`,
            'two-parts': `${h}.${p}`,
            'four-parts': `${h}.${p}.${s}.${s}`,
            padded: `${h}.${p}=.${s}`,
          }[what];
          return { kind: 'truncated' as const, path: what, bytes: Buffer.alloc(0), jws };
        }),
    );
    await fc.assert(
      fc.asyncProperty(envelopes, (m) => expectRefused(m, m.jws)),
      { numRuns: runs(3_000) },
    );
  }, 120_000);

  it('counts every case as refused', () => {
    expect(tally.tried).toBeGreaterThan(0);
    expect(tally.refused).toBe(tally.tried);
  });
});
