import { LaunchplaneError, UNIT_MARKER_KEY, unitName } from '@launchplane/shared';

import type { ProbeSpec, UnitSpec } from '../../ports/unit-manager.js';
import { HARDENING_NAMES, LANE_SANDBOX, hardeningLines } from './unit-hardening.js';

/** Key of the lane marker in a unit's `[Unit]` section. */
export const LANE_MARKER_KEY = UNIT_MARKER_KEY;

/** Defaults of the optional {@link UnitSpec} fields. */
export const UNIT_DEFAULTS = {
  timeoutStopSec: 300,
  startLimitIntervalSec: 600,
  startLimitBurst: 10,
} as const;

const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;
const USER_NAME = /^[a-z_][a-z0-9_-]{0,31}$/;
// Control characters have no safe spelling in a unit file line.
// eslint-disable-next-line no-control-regex
const CONTROL = /[\u0000-\u001f\u007f]/;
// eslint-disable-next-line no-control-regex
const CONTROL_CHARS = /[\u0001-\u001f\u007f]/g;
// eslint-disable-next-line no-control-regex
const CONTROL_RUNS = /[\u0000-\u001f\u007f]+/g;

function invalid(laneId: string, what: string): LaunchplaneError {
  return new LaunchplaneError(
    'LP_INVALID_MESSAGE',
    `Cannot write unit for lane "${laneId}": ${what}`,
    {
      details: { laneId },
    },
  );
}

/** `%` starts a specifier in most unit settings; `%%` is a literal percent. */
function escapeSpecifiers(value: string): string {
  return value.replaceAll('%', '%%');
}

/**
 * One word of a command line or path list: double-quoted, with control characters as C escapes
 * and `%` specifiers and `$` expansion (ExecStart) neutralised, so every byte reaches the process
 * as written.
 */
function quoteWord(value: string): string {
  const escaped = value
    .replaceAll('\\', '\\\\')
    .replaceAll('"', '\\"')
    .replaceAll('%', '%%')
    .replaceAll('$', () => '$$') // a function: in a replacement string '$$' means one '$'
    .replace(CONTROL_CHARS, (c) => `\\x${c.charCodeAt(0).toString(16).padStart(2, '0')}`);
  return `"${escaped}"`;
}

function assertPath(laneId: string, what: string, value: string): void {
  if (!value.startsWith('/') || CONTROL.test(value)) {
    throw invalid(laneId, `${what} must be an absolute path without control characters`);
  }
}

function positiveInt(laneId: string, what: string, value: number): number {
  if (!Number.isSafeInteger(value) || value < 0)
    throw invalid(laneId, `${what} must be a non-negative integer`);
  return value;
}

/**
 * Renders the unit file of a lane. Environment values are not in it: they go to the lane's
 * environment file (see {@link renderEnvironmentFile}), because unit files are world-readable and
 * systemd publishes `Environment=` on the bus.
 *
 * With `exitFile`, the unit records how its main process ended (`$SERVICE_RESULT $EXIT_CODE
 * $EXIT_STATUS`, see {@link parseExitRecord}) there after every run, and clears it before each
 * start: systemd forgets a unit's exit status once it unloads the stopped unit, and the health loop
 * needs it (exit 0 without `.runner`, exit 7). Both commands run with full privileges (`+`), so
 * the lane's user can neither write nor remove the record.
 */
export function renderUnitFile(
  spec: UnitSpec,
  options: { environmentFile: string; exitFile?: string },
): string {
  const { laneId } = spec;
  unitName(laneId); // throws LP_INVALID_MESSAGE unless laneId is a canonical lane id
  const exe = spec.execStart[0];
  if (exe === undefined) throw invalid(laneId, 'execStart is empty');
  assertPath(laneId, 'execStart[0]', exe);
  for (const arg of spec.execStart) {
    if (arg.includes('\0')) {
      throw invalid(laneId, 'execStart arguments may not contain NUL');
    }
  }
  assertPath(laneId, 'workingDirectory', spec.workingDirectory);
  assertPath(laneId, 'environment file', options.environmentFile);
  if (options.exitFile !== undefined) assertPath(laneId, 'exit file', options.exitFile);
  const readWrite = [spec.workingDirectory, ...(spec.readWritePaths ?? [])];
  for (const p of readWrite) assertPath(laneId, 'readWritePaths', p);
  if (spec.user !== undefined && !USER_NAME.test(spec.user))
    throw invalid(laneId, 'user is not a valid user name');
  if (spec.group !== undefined && !USER_NAME.test(spec.group))
    throw invalid(laneId, 'group is not a valid group name');
  const hardening = spec.hardening ?? [];
  for (const name of hardening) {
    if (!HARDENING_NAMES.includes(name)) {
      throw invalid(laneId, `hardening setting ${JSON.stringify(name.slice(0, 64))} is not known`);
    }
  }
  const timeoutStopSec = positiveInt(
    laneId,
    'timeoutStopSec',
    spec.timeoutStopSec ?? UNIT_DEFAULTS.timeoutStopSec,
  );
  const intervalSec = positiveInt(
    laneId,
    'startLimitIntervalSec',
    spec.startLimitIntervalSec ?? UNIT_DEFAULTS.startLimitIntervalSec,
  );
  const burst = positiveInt(
    laneId,
    'startLimitBurst',
    spec.startLimitBurst ?? UNIT_DEFAULTS.startLimitBurst,
  );
  // A description is one line.
  const description = escapeSpecifiers(spec.description.replace(CONTROL_RUNS, ' ').trim());

  const lines = [
    '# Written by launchplane-agent. Do not edit: the agent rewrites or removes this file.',
    '[Unit]',
    `Description=${description || `Launchplane lane ${laneId}`}`,
    `${LANE_MARKER_KEY}=${laneId}`,
    'After=network-online.target',
    'Wants=network-online.target',
    // The agent's health loop owns restarts; this limit only stops a tight start loop, and a
    // refused start is reported as a failure by the adapter.
    `StartLimitIntervalSec=${intervalSec}`,
    `StartLimitBurst=${burst}`,
    '',
    '[Service]',
    // `exec`: the start job fails when the binary cannot be executed, instead of succeeding at fork.
    'Type=exec',
    `ExecStart=${spec.execStart.map(quoteWord).join(' ')}`,
    `WorkingDirectory=${escapeSpecifiers(spec.workingDirectory)}`,
    `EnvironmentFile=${escapeSpecifiers(options.environmentFile)}`,
    ...(options.exitFile === undefined
      ? []
      : [
          `ExecStartPre=+${['/bin/rm', '-f', '--', options.exitFile].map(quoteWord).join(' ')}`,
          `ExecStopPost=+${[
            '/bin/sh',
            '-c',
            'echo "$SERVICE_RESULT $EXIT_CODE $EXIT_STATUS" > "$0"',
            options.exitFile,
          ]
            .map(quoteWord)
            .join(' ')}`,
        ]),
    ...(spec.user === undefined ? [] : [`User=${spec.user}`]),
    ...(spec.group === undefined ? [] : [`Group=${spec.group}`]),
    'Restart=no',
    // mixed: SIGTERM to the main process only: run.sh, which (RUNNER_MANUALLY_TRAP_SIG=1) passes
    // it on as SIGINT to Runner.Listener's process group and waits for the listener to finish or
    // cancel its job. Whatever is left after that, or after TimeoutStopSec, gets SIGKILL.
    'KillMode=mixed',
    'KillSignal=SIGTERM',
    `TimeoutStopSec=${timeoutStopSec}`,
    // run.sh ends a stop it trapped with 128 + the signal (actions/runner run.sh,
    // runWithManualTrap): a stop we asked for, not a failure.
    'SuccessExitStatus=130 143',
    // The sandbox (unit-hardening.ts): what every lane gets, then what this host supports.
    ...LANE_SANDBOX,
    `ReadWritePaths=${readWrite.map(quoteWord).join(' ')}`,
    ...hardeningLines(hardening),
    '',
  ];
  return lines.join('\n');
}

/**
 * Renders a hardening probe: a unit that runs `/bin/true` once, with a lane's sandbox and the
 * probed settings, as the user lanes run as. If the sandbox cannot be set up on this host, the
 * probe fails before its command runs (e.g. exit status 226/NAMESPACE).
 */
export function renderProbeUnit(spec: ProbeSpec): string {
  for (const p of spec.readWritePaths) {
    if (!p.startsWith('/') || CONTROL.test(p)) {
      throw new LaunchplaneError('LP_INVALID_MESSAGE', 'Cannot write a probe unit: bad path');
    }
  }
  if (spec.user !== undefined && !USER_NAME.test(spec.user)) {
    throw new LaunchplaneError('LP_INVALID_MESSAGE', 'Cannot write a probe unit: bad user name');
  }
  for (const name of spec.settings) {
    if (!HARDENING_NAMES.includes(name)) {
      throw new LaunchplaneError(
        'LP_INVALID_MESSAGE',
        `Cannot write a probe unit: hardening setting ${JSON.stringify(name.slice(0, 64))} is not known`,
      );
    }
  }
  return [
    '# Written by launchplane-agent: a short-lived hardening probe, deleted once it ran.',
    '[Unit]',
    `Description=Launchplane hardening probe (${spec.settings.join(' ') || 'sandbox'})`,
    '',
    '[Service]',
    'Type=oneshot',
    'ExecStart=/bin/true',
    'WorkingDirectory=/',
    ...(spec.user === undefined ? [] : [`User=${spec.user}`]),
    ...LANE_SANDBOX,
    ...(spec.readWritePaths.length === 0
      ? []
      : [`ReadWritePaths=${spec.readWritePaths.map(quoteWord).join(' ')}`]),
    ...hardeningLines(spec.settings),
    '',
  ].join('\n');
}

/**
 * Renders the `EnvironmentFile=` of a lane: one `KEY="value"` per line, double-quoted with the
 * characters systemd's parser treats specially escaped, so spaces, `%`, `$`, quotes and newlines
 * survive as written.
 */
export function renderEnvironmentFile(
  laneId: string,
  environment: Readonly<Record<string, string>>,
): string {
  const lines = ['# Written by launchplane-agent.'];
  for (const [name, value] of Object.entries(environment)) {
    if (!ENV_NAME.test(name))
      throw invalid(laneId, `environment name ${JSON.stringify(name)} is not valid`);
    // Never echo the value: it may be a token.
    if (value.includes('\0')) throw invalid(laneId, `environment value of "${name}" contains NUL`);
    const escaped = value.replace(/[\\"$`]/g, (c) => `\\${c}`);
    lines.push(`${name}="${escaped}"`);
  }
  lines.push('');
  return lines.join('\n');
}

/**
 * The `X-Launchplane-Lane=` value in the `[Unit]` section of a unit file's text, or undefined.
 * Only the `[Unit]` section counts, so a marker smuggled into `[Service]` does not.
 */
export function parseLaneMarker(text: string): string | undefined {
  let section = '';
  let marker: string | undefined;
  for (const raw of text.split(/\r?\n/)) {
    const line = raw.trim();
    if (line === '' || line.startsWith('#') || line.startsWith(';')) continue;
    if (line.startsWith('[') && line.endsWith(']')) {
      section = line.slice(1, -1);
      continue;
    }
    if (section !== 'Unit') continue;
    const eq = line.indexOf('=');
    if (eq < 0) continue;
    if (line.slice(0, eq).trim() === LANE_MARKER_KEY) {
      const value = line.slice(eq + 1).trim();
      // systemd keeps the last assignment; so do we.
      marker = value === '' ? undefined : value;
    }
  }
  return marker;
}

/** How a unit's main process last ended, as its exit record (see {@link renderUnitFile}) says. */
export interface ExitRecord {
  /** `ExecMainCode`: 1 exited, 2 killed, 3 dumped. */
  code: number;
  /** Exit status, or the signal number. */
  status: number;
  /** `$SERVICE_RESULT`: `success`, `exit-code`, `signal`, … */
  result: string;
}

const EXIT_CODES: Record<string, number> = { exited: 1, killed: 2, dumped: 3 };

/**
 * Parses an exit record, `<result> <exited|killed|dumped> <status or signal name>`; undefined
 * when it is not one (e.g. the unit never ran its main process).
 */
export function parseExitRecord(
  text: string,
  signals: Readonly<Record<string, number>>,
): ExitRecord | undefined {
  const [result, how, status] = text.trim().split(/\s+/);
  const code = how === undefined ? undefined : EXIT_CODES[how];
  if (result === undefined || !/^[a-z-]+$/.test(result) || code === undefined) return undefined;
  if (status === undefined) return undefined;
  const n =
    code === 1 ? (/^\d{1,3}$/.test(status) ? Number(status) : undefined) : signals[`SIG${status}`];
  return n === undefined ? undefined : { code, status: n, result };
}
