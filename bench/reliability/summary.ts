/**
 * Sums the reliability scenario lines into the report's figures and renders them (plain table
 * for the terminal, Markdown for the README). Pure: no I/O.
 *
 * Lines come from three suites written by different hands, so the reader is lenient: `injected`
 * is a number or words starting with one (`"4 agent SIGKILLs …"`, `"100,000 frames"`); counts
 * are summed by name.
 */

/** One line of `$LP_RELIABILITY_OUT`. */
export interface ScenarioLine {
  area: string;
  scenario: string;
  injected?: unknown;
  survived?: unknown;
  counts?: Record<string, unknown>;
  figures?: Record<string, unknown>;
  at?: string;
}

/** The report's figures. */
export interface Summary {
  scenarios: { total: number; survived: number; notSurvived: number };
  faults: { scenarios: number; survived: number; injected: number };
  badInput: { scenarios: number; survived: number; tried: number; refused: number };
  load: { scenarios: number; held: number; maxAgents: number; injected: number };
  /** The four counts the issue names, summed over every scenario; each must be zero. */
  headline: {
    lanesLost: number;
    jobsKilled: number;
    auditRecordsLost: number;
    unmanagedObjectsTouched: number;
  };
  /** Every other must-be-zero count, summed by name. */
  mustBeZero: Record<string, number>;
}

/** Count names that must be zero: something lost, killed, touched, dropped, crashed, leaked, wedged, readable where it must not be… */
const MUST_BE_ZERO =
  /(lost|killed|touched|duplicated|dropped|orphan|crash|died|followed|leftpending|withouthint|corrupt|leak|accepted|unrefused|notrefused|executed|wedged|readable|escapes)/i;
const HEADLINE: Record<keyof Summary['headline'], RegExp> = {
  lanesLost: /^lanes?lost$/i,
  jobsKilled: /^jobs?killed$/i,
  auditRecordsLost: /^audit(records?)?lost$/i,
  unmanagedObjectsTouched: /^unmanaged/i,
};

/** How many faults or inputs a line says it injected. */
export function injectedCount(injected: unknown): number {
  if (typeof injected === 'number' && Number.isFinite(injected)) return injected;
  if (typeof injected === 'string') {
    const m = /^\s*(\d[\d,_]*)/.exec(injected);
    if (m?.[1] !== undefined) return Number(m[1].replace(/[,_]/g, ''));
    return injected.trim() === '' ? 0 : 1;
  }
  return injected === undefined ? 0 : 1;
}

function num(v: unknown): number {
  return typeof v === 'number' && Number.isFinite(v) ? v : 0;
}

function firstCount(counts: Record<string, unknown>, names: RegExp): number | undefined {
  for (const [k, v] of Object.entries(counts)) if (names.test(k) && typeof v === 'number') return v;
  return undefined;
}

function areaKind(area: string): 'faults' | 'load' | 'badInput' {
  if (/^fault/i.test(area)) return 'faults';
  if (/^load/i.test(area)) return 'load';
  return 'badInput';
}

/** Sums the lines. */
export function aggregate(lines: readonly ScenarioLine[]): Summary {
  const s: Summary = {
    scenarios: { total: 0, survived: 0, notSurvived: 0 },
    faults: { scenarios: 0, survived: 0, injected: 0 },
    badInput: { scenarios: 0, survived: 0, tried: 0, refused: 0 },
    load: { scenarios: 0, held: 0, maxAgents: 0, injected: 0 },
    headline: { lanesLost: 0, jobsKilled: 0, auditRecordsLost: 0, unmanagedObjectsTouched: 0 },
    mustBeZero: {},
  };
  for (const line of lines) {
    const survived = line.survived === true;
    const counts = line.counts ?? {};
    s.scenarios.total++;
    if (survived) s.scenarios.survived++;
    else s.scenarios.notSurvived++;
    const injected = injectedCount(line.injected);
    switch (areaKind(line.area)) {
      case 'faults':
        s.faults.scenarios++;
        if (survived) s.faults.survived++;
        s.faults.injected += injected;
        break;
      case 'load': {
        s.load.scenarios++;
        if (survived) s.load.held++;
        s.load.injected += injected;
        const agents = num(counts.agents) || num(line.figures?.agents);
        s.load.maxAgents = Math.max(s.load.maxAgents, agents);
        break;
      }
      case 'badInput': {
        s.badInput.scenarios++;
        if (survived) s.badInput.survived++;
        const tried = firstCount(counts, /^(tried|cases|inputs|attempts|frames|requests)$/i);
        const t = tried ?? injected;
        s.badInput.tried += t;
        s.badInput.refused += firstCount(counts, /^refused$/i) ?? (survived ? t : 0);
        break;
      }
    }
    for (const [key, value] of Object.entries(counts)) {
      if (typeof value !== 'number') continue;
      const head = (Object.keys(HEADLINE) as (keyof Summary['headline'])[]).find((h) =>
        HEADLINE[h].test(key),
      );
      if (head !== undefined) s.headline[head] += value;
      else if (MUST_BE_ZERO.test(key)) s.mustBeZero[key] = (s.mustBeZero[key] ?? 0) + value;
    }
  }
  return s;
}

const fmt = (n: number): string => n.toLocaleString('en-US');

/** The figures shown for a scenario, in order of interest. */
const SHOWN_FIGURES = [
  'agents',
  'downtimeMs',
  'allBackMs',
  'allBackAfterUpMs',
  'peakAcceptsPerSecond',
  'peakAcceptsPer100ms',
  'meanAttemptsPerAgent',
  'maxAttemptsPerAgent',
  'firstRetryP50Ms',
  'rssPerConnectionBytes',
  'cutOffMs',
  'bufferedAtCutBytes',
  'othersBaselineP50Ms',
  'othersDuringP50Ms',
  'othersDuringP99Ms',
];

function figuresText(line: ScenarioLine, max = 8): string {
  const f = line.figures ?? {};
  const keys = [
    ...SHOWN_FIGURES.filter((k) => k in f),
    ...Object.keys(f).filter((k) => !SHOWN_FIGURES.includes(k)),
  ].slice(0, max);
  return keys.map((k) => `${k}=${String(f[k])}`).join(' ');
}

function nonZero(line: ScenarioLine): string {
  return Object.entries(line.counts ?? {})
    .filter(
      ([k, v]) =>
        typeof v === 'number' &&
        v !== 0 &&
        (MUST_BE_ZERO.test(k) || Object.values(HEADLINE).some((r) => r.test(k))),
    )
    .map(([k, v]) => `${k}=${String(v)}`)
    .join(' ');
}

function headlineRows(s: Summary): [string, string][] {
  const rows: [string, string][] = [
    [
      'faults injected / survived',
      `${fmt(s.faults.injected)} faults in ${s.faults.scenarios} scenarios; ${s.faults.survived} of ${s.faults.scenarios} survived`,
    ],
    [
      'bad inputs tried / refused',
      `${fmt(s.badInput.tried)} tried, ${fmt(s.badInput.refused)} refused (${s.badInput.survived} of ${s.badInput.scenarios} scenarios held)`,
    ],
    [
      'load held',
      `${s.load.held} of ${s.load.scenarios} scenarios held, up to ${fmt(s.load.maxAgents)} agents, ${fmt(s.load.injected)} faults under load (restarts, a slow agent)`,
    ],
    ['lanes lost (must be 0)', String(s.headline.lanesLost)],
    ['jobs killed (must be 0)', String(s.headline.jobsKilled)],
    ['audit records lost (must be 0)', String(s.headline.auditRecordsLost)],
    ['unmanaged objects touched (must be 0)', String(s.headline.unmanagedObjectsTouched)],
  ];
  for (const [k, v] of Object.entries(s.mustBeZero)) rows.push([`${k} (must be 0)`, String(v)]);
  return rows;
}

/** A plain table for the terminal. */
export function renderTable(s: Summary, lines: readonly ScenarioLine[]): string {
  const rows = headlineRows(s);
  const w = Math.max(...rows.map(([k]) => k.length));
  const out = ['Reliability', ...rows.map(([k, v]) => `  ${k.padEnd(w)}  ${v}`), '', 'Scenarios'];
  const aw = Math.max(4, ...lines.map((l) => l.area.length));
  const sw = Math.max(8, ...lines.map((l) => l.scenario.length));
  for (const l of lines) {
    const nz = nonZero(l);
    out.push(
      `  ${l.area.padEnd(aw)}  ${l.scenario.padEnd(sw)}  ${l.survived === true ? 'survived' : 'FAILED  '}  ${figuresText(l)}${nz === '' ? '' : `  NONZERO ${nz}`}`,
    );
  }
  return out.join('\n');
}

const cell = (t: string): string => t.replace(/\|/g, '\\|');
const text = (v: unknown): string =>
  typeof v === 'string' || typeof v === 'number'
    ? String(v)
    : v === undefined
      ? ''
      : JSON.stringify(v);

/** The Markdown section for bench/reliability/README.md. */
export function renderMarkdown(
  s: Summary,
  lines: readonly ScenarioLine[],
  meta: {
    startedAt: string;
    machine: Record<string, unknown>;
    runs: {
      what: string;
      exitCode: number;
      ms: number;
      tests?: { passed: number; failed: number; skipped: number; failedNames: string[] };
    }[];
  },
): string {
  const out = [
    `Latest run: ${meta.startedAt} · Node ${text(meta.machine.node)} · ${text(meta.machine.cpus)} CPUs ${text(meta.machine.cpu)}`.trim(),
    '',
    ...meta.runs.flatMap((r) => [
      `- ${r.what}: ${r.exitCode === 0 ? 'passed' : `exit ${r.exitCode}`} in ${Math.round(r.ms / 1000)} s${
        r.tests === undefined
          ? ''
          : ` (${r.tests.passed} tests passed, ${r.tests.failed} failed, ${r.tests.skipped} skipped)`
      }`,
      ...(r.tests?.failedNames ?? []).map((n) => `  - failed (no scenario line): ${n}`),
    ]),
    '',
    '| | |',
    '|---|---|',
    ...headlineRows(s).map(([k, v]) => `| ${cell(k)} | ${cell(v)} |`),
    '',
    '| area | scenario | outcome | injected | figures |',
    '|---|---|---|---|---|',
    ...lines.map((l) => {
      const nz = nonZero(l);
      return `| ${cell(l.area)} | ${cell(l.scenario)} | ${l.survived === true ? 'survived' : '**failed**'}${nz === '' ? '' : ` (${cell(nz)})`} | ${cell(text(l.injected))} | ${cell(figuresText(l, 10))} |`;
    }),
  ];
  return out.join('\n');
}
