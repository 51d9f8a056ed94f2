/**
 * The reliability report (issue 7 "Output"): runs the fuzzers (`*.fuzz.test.ts`) and the
 * reliability suites (test/reliability/**) with `LP_RELIABILITY_OUT` pointing at a temporary JSON-lines file (each scenario appends one
 * line: `{area, scenario, injected, survived, counts, figures?}`), then the 1,000-agent load run
 * (the reconnect storm with `LP_LOAD_AGENTS=1000`, and the slow agent among 100 busy ones), and
 * writes:
 *
 * - `bench/results/reliability.json`: every scenario line plus the summary;
 * - a table on stdout: faults injected and survived, bad inputs tried and refused, load held,
 *   and the counts that must be zero (lanes lost, jobs killed, audit records lost, unmanaged
 *   objects touched, …) summed over the scenarios;
 * - the same table into `bench/reliability/README.md` (between the results markers).
 *
 * Run after a build: `npm run bench:reliability` (= `npm run build && tsx bench/reliability/run.ts`).
 * Options: `--agents N` (default 1000), `--skip-suites` (only the load run), `--skip-load`
 * (only the suites), `--soak` (the suites with LP_SOAK=1), `--render` (sum and render the last
 * results file again, running nothing). Exits 1 when a suite failed or a
 * scenario did not survive.
 */
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { aggregate, renderMarkdown, renderTable, type ScenarioLine } from './summary.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const RESULTS = join(ROOT, 'bench', 'results', 'reliability.json');
const README = join(ROOT, 'bench', 'reliability', 'README.md');
const START = '<!-- reliability-results:start -->';
const END = '<!-- reliability-results:end -->';

interface Options {
  agents: number;
  suites: boolean;
  load: boolean;
  soak: boolean;
  /** Re-render the last results file (new summary rules) without running anything. */
  render: boolean;
}

function parseArgs(argv: string[]): Options {
  const o: Options = { agents: 1000, suites: true, load: true, soak: false, render: false };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--agents') o.agents = Number(argv[++i]);
    else if (a === '--skip-suites') o.suites = false;
    else if (a === '--skip-load') o.load = false;
    else if (a === '--soak') o.soak = true;
    else if (a === '--render') o.render = true;
    else throw new Error(`unknown option "${a}"`);
  }
  if (!(Number.isInteger(o.agents) && o.agents > 0)) throw new Error('--agents must be > 0');
  return o;
}

/**
 * The attack suites outside test/reliability that record the "hostile host" and "hostile job"
 * scenario families (real lanes and a real coordinator): their counts of runners touched without
 * proof, agents wedged, secrets readable across lanes and host keys readable from a lane must be 0.
 */
const HOSTILE_SUITES = [
  'test/coordinator-control/hostile-host.test.ts',
  'test/e2e/wedged-host.test.ts',
  'test/agent/lane-escape-systemd.test.ts',
  'test/agent/lane-escape-docker.test.ts',
  'test/agent/hostile-lane-dir.test.ts',
];

/** One vitest run's outcome. */
interface RunOutcome {
  what: string;
  exitCode: number;
  ms: number;
  tests?: { passed: number; failed: number; skipped: number; failedNames: string[] };
}

/** Test counts from vitest's JSON report (a failed test may have recorded no scenario line). */
function testCounts(file: string): RunOutcome['tests'] {
  if (!existsSync(file)) return undefined;
  const r = JSON.parse(readFileSync(file, 'utf8')) as {
    numPassedTests: number;
    numFailedTests: number;
    numPendingTests: number;
    testResults: { assertionResults: { fullName: string; status: string }[] }[];
  };
  return {
    passed: r.numPassedTests,
    failed: r.numFailedTests,
    skipped: r.numPendingTests,
    failedNames: r.testResults.flatMap((f) =>
      f.assertionResults.filter((a) => a.status === 'failed').map((a) => a.fullName),
    ),
  };
}

/** Runs one vitest project on `paths`; resolves with its exit code. */
function vitest(
  paths: string[],
  env: Record<string, string>,
  jsonOut: string,
  project: 'unit' | 'integration' = 'integration',
): Promise<number> {
  return new Promise((resolve) => {
    const child = spawn(
      process.execPath,
      [
        join(ROOT, 'node_modules', 'vitest', 'vitest.mjs'),
        'run',
        '--project',
        project,
        '--reporter=default',
        '--reporter=json',
        `--outputFile.json=${jsonOut}`,
        ...paths,
      ],
      { cwd: ROOT, stdio: ['ignore', 'inherit', 'inherit'], env: { ...process.env, ...env } },
    );
    const stop = () => child.kill('SIGTERM');
    process.once('SIGINT', stop);
    process.once('SIGTERM', stop);
    child.on('exit', (code, signal) => {
      process.off('SIGINT', stop);
      process.off('SIGTERM', stop);
      resolve(code ?? (signal === null ? 1 : 128));
    });
  });
}

function readLines(file: string): ScenarioLine[] {
  if (!existsSync(file)) return [];
  return readFileSync(file, 'utf8')
    .split('\n')
    .filter((l) => l.trim() !== '')
    .flatMap((l) => {
      try {
        return [JSON.parse(l) as ScenarioLine];
      } catch {
        process.stderr.write(`bench/reliability: ignoring a malformed line: ${l.slice(0, 120)}\n`);
        return [];
      }
    });
}

/** `--render`: the last run's lines and runs, summed and rendered again. */
function rerender(): number {
  const last = JSON.parse(readFileSync(RESULTS, 'utf8')) as {
    startedAt: string;
    finishedAt: string;
    machine: Record<string, unknown>;
    runs: RunOutcome[];
    scenarios: ScenarioLine[];
  };
  return publish({ ...last, lines: last.scenarios });
}

/** Writes the results file, prints the table and updates the README section. */
function publish(run: {
  startedAt: string;
  finishedAt: string;
  machine: Record<string, unknown>;
  runs: RunOutcome[];
  lines: ScenarioLine[];
}): number {
  const { lines, runs } = run;
  const summary = aggregate(lines);
  const doc = {
    startedAt: run.startedAt,
    finishedAt: run.finishedAt,
    machine: run.machine,
    runs,
    summary,
    scenarios: lines,
  };
  mkdirSync(dirname(RESULTS), { recursive: true });
  writeFileSync(RESULTS, `${JSON.stringify(doc, null, 2)}\n`);
  process.stdout.write(`${renderTable(summary, lines)}\n`);
  for (const r of runs) {
    process.stdout.write(`${runText(r)}\n`);
    for (const name of r.tests?.failedNames ?? []) process.stdout.write(`  FAILED ${name}\n`);
  }
  process.stdout.write(`wrote ${RESULTS}\n`);
  if (existsSync(README)) {
    const text = readFileSync(README, 'utf8');
    const a = text.indexOf(START);
    const b = text.indexOf(END);
    if (a >= 0 && b > a) {
      const md = renderMarkdown(summary, lines, doc);
      writeFileSync(README, `${text.slice(0, a + START.length)}\n${md}\n${text.slice(b)}`);
      process.stdout.write(`updated ${README}\n`);
    }
  }
  const failed = runs.some((r) => r.exitCode !== 0) || summary.scenarios.notSurvived > 0;
  return failed ? 1 : 0;
}

async function main(): Promise<number> {
  const opts = parseArgs(process.argv.slice(2));
  if (opts.render) return rerender();
  const work = mkdtempSync(join(tmpdir(), 'lp-reliability-'));
  const out = join(work, 'scenarios.jsonl');
  const runs: RunOutcome[] = [];
  try {
    const startedAt = new Date().toISOString();
    if (opts.suites) {
      // The property-based fuzzers of every inbound message (agent and coordinator, unit
      // project): they count their cases into the same file.
      const tf = Date.now();
      const fuzzJson = join(work, 'fuzz.json');
      const fuzzCode = await vitest(
        ['.fuzz.test.ts'],
        { LP_RELIABILITY_OUT: out, ...(opts.soak ? { LP_FUZZ_SCALE: '10' } : {}) },
        fuzzJson,
        'unit',
      );
      const fuzzTests = testCounts(fuzzJson);
      runs.push({
        what: `vitest *.fuzz.test.ts${opts.soak ? ' (LP_FUZZ_SCALE=10)' : ''}`,
        exitCode: fuzzCode,
        ms: Date.now() - tf,
        ...(fuzzTests === undefined ? {} : { tests: fuzzTests }),
      });
      const t = Date.now();
      const json = join(work, 'suites.json');
      const code = await vitest(
        ['test/reliability', ...HOSTILE_SUITES],
        { LP_RELIABILITY_OUT: out, ...(opts.soak ? { LP_SOAK: '1' } : {}) },
        json,
      );
      const tests = testCounts(json);
      runs.push({
        what: `vitest test/reliability and the hostile-host and hostile-job suites${opts.soak ? ' (LP_SOAK=1)' : ''}`,
        exitCode: code,
        ms: Date.now() - t,
        ...(tests === undefined ? {} : { tests }),
      });
    }
    if (opts.load) {
      const t = Date.now();
      const code = await vitest(
        [
          'test/reliability/load/reconnect-storm.test.ts',
          'test/reliability/load/slow-agent.test.ts',
        ],
        {
          LP_RELIABILITY_OUT: out,
          LP_LOAD_AGENTS: String(opts.agents),
          // Restart only once the sessions are stable (backoff reset), unlike CI's flapping case.
          LP_LOAD_STABLE: '1',
          // The slow agent among more busy ones than in CI.
          LP_SLOW_OTHERS: String(Math.min(opts.agents, 100)),
        },
        join(work, 'load.json'),
      );
      const tests = testCounts(join(work, 'load.json'));
      runs.push({
        what: `load run, ${opts.agents} agents`,
        exitCode: code,
        ms: Date.now() - t,
        ...(tests === undefined ? {} : { tests }),
      });
    }
    return publish({
      startedAt,
      finishedAt: new Date().toISOString(),
      machine: machine(),
      runs,
      lines: readLines(out),
    });
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}

/** `vitest test/reliability: exit 1 in 474 s (17 passed, 4 failed, 3 skipped)`. */
function runText(r: RunOutcome): string {
  const t = r.tests;
  const counts =
    t === undefined ? '' : ` (${t.passed} passed, ${t.failed} failed, ${t.skipped} skipped)`;
  return `${r.what}: ${r.exitCode === 0 ? 'passed' : `exit ${r.exitCode}`} in ${Math.round(r.ms / 1000)} s${counts}`;
}

function machine(): Record<string, unknown> {
  let cpu = '';
  try {
    cpu = /model name\s*:\s*(.*)/.exec(readFileSync('/proc/cpuinfo', 'utf8'))?.[1] ?? '';
  } catch {
    // Not Linux: the model is optional.
  }
  return {
    node: process.version,
    platform: process.platform,
    cpus: cpus().length,
    cpu,
  };
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    process.stderr.write(
      `bench/reliability: ${err instanceof Error ? err.message : String(err)}\n`,
    );
    process.exit(2);
  },
);
