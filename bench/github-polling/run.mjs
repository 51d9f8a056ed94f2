// Polling cost against GitHub's primary rate limit: the coordinator's ETag-cached client next to
// naive polling (unconditional GETs, the way existing runner managers poll), both against the
// simulator in one run. Time is simulated: the sim's clock moves one interval per round and
// rounds run back to back.
//
//   npm run build && node bench/github-polling/run.mjs [--repos 50] [--runners 20]
//     [--interval-sec 30] [--duration-sec 3600] [--changes 5]
//
// Prints JSON on stdout and a short table on stderr.
import { performance } from 'node:perf_hooks';
import process from 'node:process';
import { parseArgs } from 'node:util';
import { writeResult } from '../results.mjs';
import { OctokitGitHubRunners } from '@launchplane/coordinator';
import { startGitHubSim } from '@launchplane/github-sim';

const { values } = parseArgs({
  options: {
    repos: { type: 'string', default: '50' },
    runners: { type: 'string', default: '20' },
    'interval-sec': { type: 'string', default: '30' },
    'duration-sec': { type: 'string', default: '3600' },
    changes: { type: 'string', default: '5' },
    'no-write': { type: 'boolean', default: false },
  },
});
const REPOS = Number(values.repos);
const RUNNERS = Number(values.runners);
const INTERVAL_MS = Number(values['interval-sec']) * 1000;
const POLLS = Math.floor(Number(values['duration-sec']) / Number(values['interval-sec']));
const CHANGES = Number(values.changes);
/** GitHub's hourly budget for a personal access token (an App installation gets 5 000–15 000). */
const GITHUB_BUDGET_PER_HOUR = 5000;
const TOKEN = 'ghp_benchpolling000000000000000000000';
const OP = 'actions/list-self-hosted-runners-for-repo';

const clock = { now: Date.UTC(2026, 0, 1) };
const gh = await startGitHubSim({
  tokens: [TOKEN],
  now: () => clock.now,
  // The bench measures what polling would spend, so the sim must not stop it half-way.
  config: { rateLimit: 1_000_000_000 },
});

async function control(method, path, body) {
  const res = await fetch(`${gh.url}/_sim/${path}`, {
    method,
    headers: { 'content-type': 'application/json' },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  if (res.status >= 400)
    throw new Error(`${method} /_sim/${path}: ${res.status} ${await res.text()}`);
  return res.status === 204 ? undefined : res.json();
}

async function listCount() {
  const counts = await control('GET', 'requests');
  return counts[OP] ?? { total: 0, counted: 0, notModified: 0 };
}

const repos = Array.from({ length: REPOS }, (_, i) => ({ repository: `bench/repo-${i}` }));
/** Every runner's id and the busy state the bench set, so each poll's answer can be checked. */
const runners = [];
for (const scope of repos) {
  for (let r = 0; r < RUNNERS; r++) {
    const made = await control('POST', 'runners', {
      repository: scope.repository,
      name: `runner-${r}`,
      labels: ['bench'],
    });
    runners.push({ id: made.id, repository: scope.repository, busy: false });
  }
}

/** Deterministic choice of runners to flip, so both clients see the same changes. */
function* lcg(seed) {
  let x = seed;
  for (;;) {
    x = (x * 1103515245 + 12345) % 2 ** 31;
    yield x;
  }
}

/**
 * Polls every repository POLLS times with one client; `changes` runners flip busy before each
 * round after the first. Returns the sim's counts for the list operation in this phase.
 */
async function phase(name, client, changes) {
  const before = await listCount();
  const rand = lcg(42);
  let mismatches = 0;
  const started = performance.now();
  for (let round = 0; round < POLLS; round++) {
    if (round > 0) {
      clock.now += INTERVAL_MS;
      for (let c = 0; c < changes; c++) {
        const r = runners[rand.next().value % runners.length];
        r.busy = !r.busy;
        await control('PATCH', `runners/${r.id}`, { busy: r.busy });
      }
    }
    const seen = await Promise.all(repos.map((scope) => client.listRunners(scope)));
    const busyIds = new Set(
      seen
        .flat()
        .filter((r) => r.busy)
        .map((r) => r.id),
    );
    for (const r of runners) if (r.busy !== busyIds.has(r.id)) mismatches++;
  }
  const after = await listCount();
  return {
    name,
    requests: after.total - before.total,
    counted: after.counted - before.counted,
    notModified: after.notModified - before.notModified,
    clientRequests: client.stats().requests,
    mismatches,
    wallMs: Math.round(performance.now() - started),
  };
}

function makeClient(etagCache) {
  return new OctokitGitHubRunners({
    auth: { kind: 'token', token: TOKEN },
    apiUrl: gh.url,
    now: () => clock.now,
    ...(etagCache ? {} : { etagCache: false }),
  });
}

/** Resets the runners' busy flags so each phase starts from the same state. */
async function resetBusy() {
  for (const r of runners) {
    if (!r.busy) continue;
    r.busy = false;
    await control('PATCH', `runners/${r.id}`, { busy: false });
  }
}

function compare(naive, etag) {
  return {
    naive: { requests: naive.requests, counted: naive.counted },
    etag: { requests: etag.requests, counted: etag.counted, notModified: etag.notModified },
    savedPct: Math.round((1000 * (naive.counted - etag.counted)) / naive.counted) / 10,
    naiveFitsHourlyBudget: naive.counted <= GITHUB_BUDGET_PER_HOUR,
    etagFitsHourlyBudget: etag.counted <= GITHUB_BUDGET_PER_HOUR,
    consistent: naive.mismatches === 0 && etag.mismatches === 0,
    wallMs: { naive: naive.wallMs, etag: etag.wallMs },
  };
}

const steadyNaive = await phase('naive', makeClient(false), 0);
const steadyEtag = await phase('etag', makeClient(true), 0);
await resetBusy();
const churnNaive = await phase('naive+changes', makeClient(false), CHANGES);
await resetBusy();
const churnEtag = await phase('etag+changes', makeClient(true), CHANGES);
await gh.close();

const steady = compare(steadyNaive, steadyEtag);
const withChanges = compare(churnNaive, churnEtag);
const result = {
  ...steady,
  withChanges: { changesPerPoll: CHANGES, ...withChanges },
  setup: {
    repositories: REPOS,
    runnersPerRepository: RUNNERS,
    intervalSec: INTERVAL_MS / 1000,
    pollsPerRepository: POLLS,
    simulatedSec: (POLLS * INTERVAL_MS) / 1000,
    githubBudgetPerHour: GITHUB_BUDGET_PER_HOUR,
  },
};
process.stdout.write(`${JSON.stringify(result, null, 2)}\n`);
writeResult('github-polling', result, !values['no-write']);

const row = (label, n, e) =>
  `${label.padEnd(24)}${String(n).padStart(10)}${String(e).padStart(10)}`;
process.stderr.write(
  `${[
    `github-polling: ${REPOS} repos × ${RUNNERS} runners, every ${INTERVAL_MS / 1000} s for ${(POLLS * INTERVAL_MS) / 1000} s simulated (${POLLS} polls/repo)`,
    row('', 'naive', 'etag'),
    row('steady: requests', steady.naive.requests, steady.etag.requests),
    row('steady: counted', steady.naive.counted, steady.etag.counted),
    row('steady: 304', 0, steady.etag.notModified),
    row(`${CHANGES} changes/poll: counted`, withChanges.naive.counted, withChanges.etag.counted),
    row(`${CHANGES} changes/poll: 304`, 0, withChanges.etag.notModified),
    `saved: ${steady.savedPct}% steady, ${withChanges.savedPct}% with changes; GitHub budget ${GITHUB_BUDGET_PER_HOUR}/h; answers consistent: ${steady.consistent && withChanges.consistent}`,
  ].join('\n')}\n`,
);
if (!steady.consistent || !withChanges.consistent) process.exitCode = 1;
