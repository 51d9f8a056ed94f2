#!/usr/bin/env node
// Signing benchmark: commands signed/s and verified/s through @launchplane/shared's envelope
// (signCommand with its schema check; verifyCommand with the header checks, strict JSON, zod
// schema parse, time checks and the replay lookup in the in-memory store) next to bare
// node:crypto Ed25519 sign/verify of the same signing-input bytes, in one run.
//
// Machines running this are often busy (CI, other test suites), and interference only ever adds
// time. So the measurement takes many short batches, pairing a batch through the envelope with a
// batch of the bare operation back to back (alternating which goes first), and compares the
// fastest decile of each: the batches that ran undisturbed. The median of per-pair ratios is
// reported next to it; on a quiet machine the two agree.
//
// Usage (after a build): node bench/signing/run.mjs [--pairs 1000] [--batch 10]
// Prints JSON on stdout and a short table on stderr. Target: envelope overhead under 20%.
import { Buffer } from 'node:buffer';
import { randomUUID, sign, verify } from 'node:crypto';
import os from 'node:os';
import process from 'node:process';
import { parseArgs } from 'node:util';
import { writeResult } from '../results.mjs';
import {
  fingerprint,
  generateEd25519KeyPair,
  InMemoryReplayStore,
  signCommand,
  verifyCommand,
} from '@launchplane/shared';

const { values } = parseArgs({
  options: {
    pairs: { type: 'string', default: '1000' },
    batch: { type: 'string', default: '10' },
    'no-write': { type: 'boolean', default: false },
  },
});
const PAIRS = Number(values.pairs);
const BATCH = Number(values.batch);
const POOL = 512;
const NOW = 1_764_370_060;
const HOST = 'host-a';

const { privateKey, publicKey } = generateEd25519KeyPair();
const kid = fingerprint(publicKey);

/** A realistic JIT config: base64 of a ~1.6 KB JSON blob, as GitHub returns it. */
const jitConfig = Buffer.from(
  JSON.stringify({
    '.runner': 'x'.repeat(600),
    '.credentials': 'y'.repeat(500),
    '.credentials_rsaparams': 'z'.repeat(400),
  }),
).toString('base64');

const commands = {
  'lane.inspect': (seq) => ({
    iss: 'coord-test',
    aud: HOST,
    iat: NOW - 10,
    exp: NOW + 110,
    jti: randomUUID(),
    seq,
    cmd: { type: 'lane.inspect', laneId: '01jd3xk5m8q2w7r9t4v6y0z1ab', dryRun: false },
  }),
  'lane.create': (seq) => ({
    iss: 'coord-test',
    aud: HOST,
    iat: NOW - 10,
    exp: NOW + 110,
    jti: randomUUID(),
    seq,
    cmd: {
      type: 'lane.create',
      laneId: '01jd3xk5m8q2w7r9t4v6y0z1ab',
      dryRun: false,
      name: 'lp-host-a-ci-01',
      scope: { repository: 'acme/widgets' },
      pool: 'ci',
      labels: ['self-hosted', 'linux', 'x64', 'launchplane'],
      backend: 'docker',
      ephemeral: true,
      runner: { jitConfig },
      docker: { image: 'ghcr.io/actions/actions-runner:2.320.0' },
    },
  }),
};

/** Times one batch of `op`; returns nanoseconds. */
function timeBatch(op, offset) {
  const start = process.hrtime.bigint();
  for (let i = 0; i < BATCH; i++) op(offset + i);
  return Number(process.hrtime.bigint() - start);
}

const median = (xs) => {
  const sorted = [...xs].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
};

/** Paired comparison of `envelope` against `bare`. */
function compare(envelope, bare) {
  const envNs = [];
  const bareNs = [];
  const ratios = [];
  for (let pair = 0; pair < PAIRS; pair++) {
    const offset = pair * BATCH;
    let e;
    let b;
    if (pair % 2 === 0) {
      e = timeBatch(envelope, offset);
      b = timeBatch(bare, offset);
    } else {
      b = timeBatch(bare, offset);
      e = timeBatch(envelope, offset);
    }
    envNs.push(e);
    bareNs.push(b);
    ratios.push(e / b);
  }
  const quantile = (xs, f) => [...xs].sort((x, y) => x - y)[Math.floor(f * (xs.length - 1))];
  const perSec = (ns) => Math.round(BATCH / (ns / 1e9));
  const pct = (r) => Math.round((r - 1) * 1000) / 10;
  const envFast = quantile(envNs, 0.1);
  const bareFast = quantile(bareNs, 0.1);
  return {
    envelopePerSec: perSec(envFast),
    barePerSec: perSec(bareFast),
    overheadPct: pct(envFast / bareFast),
    medianPairOverheadPct: pct(median(ratios)),
    medianPerSec: { envelope: perSec(median(envNs)), bare: perSec(median(bareNs)) },
  };
}

function benchKind(kind) {
  const payloads = Array.from({ length: POOL }, (_, i) => commands[kind](10_000 + i));
  const jwss = payloads.map((p) => signCommand(p, { privateKey, kid }));
  // The bare baseline signs and verifies exactly the bytes the envelope signs.
  const inputs = jwss.map((j) => Buffer.from(j.slice(0, j.lastIndexOf('.')), 'latin1'));
  const sigs = jwss.map((j) => Buffer.from(j.slice(j.lastIndexOf('.') + 1), 'base64url'));

  // A replay store in a realistic state: many remembered jtis, seq below the pool's.
  const replay = new InMemoryReplayStore();
  for (let i = 0; i < 1000; i++) {
    replay.remember({ jti: randomUUID(), seq: i + 1, forgetAfter: NOW + 300, result: undefined });
  }
  const verifyOptions = { publicKey, pinnedKid: kid, hostId: HOST, now: NOW, replay };

  // Sanity: every command verifies, and the baseline agrees.
  for (let i = 0; i < POOL; i++) {
    verifyCommand(jwss[i], verifyOptions);
    if (!verify(null, inputs[i], publicKey, sigs[i])) throw new Error('baseline mismatch');
  }

  const ops = {
    envelopeSign: (i) => signCommand(payloads[i % POOL], { privateKey, kid }),
    bareSign: (i) => sign(null, inputs[i % POOL], privateKey),
    envelopeVerify: (i) => verifyCommand(jwss[i % POOL], verifyOptions),
    bareVerify: (i) => verify(null, inputs[i % POOL], publicKey, sigs[i % POOL]),
  };
  for (const op of Object.values(ops)) for (let i = 0; i < 2000; i++) op(i); // warm-up
  return {
    kind,
    jwsChars: jwss[0].length,
    sign: compare(ops.envelopeSign, ops.bareSign),
    verify: compare(ops.envelopeVerify, ops.bareVerify),
  };
}

const results = Object.keys(commands).map(benchKind);
const targetPct = 20;
const report = {
  benchmark: 'signing',
  node: process.version,
  cpu: os.cpus()[0]?.model ?? 'unknown',
  cpus: os.cpus().length,
  loadAverage: os.loadavg().map((x) => Math.round(x * 100) / 100),
  pairs: PAIRS,
  batch: BATCH,
  statistic:
    'ops/s and overheadPct from the fastest decile of batch times (envelope vs bare); medianPairOverheadPct = median over pairs of envelope/bare time - 1',
  targetOverheadPct: targetPct,
  results,
  withinTarget: results.every(
    (r) => r.sign.overheadPct < targetPct && r.verify.overheadPct < targetPct,
  ),
};
process.stdout.write(`${JSON.stringify(report, null, 2)}\n`);
writeResult('signing', report, !values['no-write']);

const row = (cells) => cells.map((c, i) => String(c).padStart(i === 0 ? 14 : 12)).join(' ');
const lines = [
  row(['command', 'op', 'envelope/s', 'bare/s', 'overhead', 'median pair']),
  ...results.flatMap((r) =>
    ['sign', 'verify'].map((op) => {
      const m = r[op];
      const pair = `${m.medianPairOverheadPct}%`;
      return row([r.kind, op, m.envelopePerSec, m.barePerSec, `${m.overheadPct}%`, pair]);
    }),
  ),
  `load average ${report.loadAverage.join(' ')}; target: overhead < ${targetPct}% -> ${report.withinTarget ? 'met' : 'NOT met'}`,
];
process.stderr.write(`${lines.join('\n')}\n`);
