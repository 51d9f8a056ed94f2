/**
 * Durations and times on the command line: `90s`, `15m`, `2h`, `1d` (or bare seconds), and for
 * `--since` also an ISO date or Unix seconds.
 */
import { LaunchplaneError, msToSec } from '@launchplane/shared';

const UNIT_SEC: Record<string, number> = { s: 1, m: 60, h: 3600, d: 86_400 };

/** Parses `15m` → 900. Throws LP_USAGE. */
export function parseDurationSec(text: string): number {
  const m = /^(\d+)([smhd]?)$/.exec(text.trim());
  if (m === null) {
    throw new LaunchplaneError('LP_USAGE', `Duration "${text}" is not like 90s, 15m, 2h or 1d`);
  }
  return Number(m[1]) * (UNIT_SEC[m[2] === '' ? 's' : (m[2] ?? 's')] ?? 1);
}

/** Parses `--since`: a duration ago (`1h`), an ISO date, or Unix seconds. */
export function parseSince(text: string, now: number): number {
  if (/^\d+[smhd]$/.test(text.trim())) return now - parseDurationSec(text);
  if (/^\d{9,}$/.test(text.trim())) return Number(text.trim());
  const ms = Date.parse(text);
  if (Number.isNaN(ms)) {
    throw new LaunchplaneError(
      'LP_USAGE',
      `--since "${text}" is not a duration (1h), an ISO date or Unix seconds`,
    );
  }
  return msToSec(ms);
}

/** Unix seconds as `2026-11-28T22:05:01Z`. */
export function formatTime(sec: number | null | undefined): string {
  if (sec === null || sec === undefined) return '-';
  return new Date(sec * 1000).toISOString().replace(/\.\d{3}Z$/, 'Z');
}
