import { describe, expect, it } from 'vitest';
import { formatTime, parseDurationSec, parseSince } from './duration.js';

describe('durations', () => {
  it('parse units and bare seconds; refuse anything else with LP_USAGE', () => {
    expect(parseDurationSec('90s')).toBe(90);
    expect(parseDurationSec('15m')).toBe(900);
    expect(parseDurationSec('2h')).toBe(7200);
    expect(parseDurationSec('45')).toBe(45);
    expect(() => parseDurationSec('15 minutes')).toThrow(
      expect.objectContaining({ code: 'LP_USAGE' }),
    );
  });

  it('--since takes a duration ago, Unix seconds or an ISO date', () => {
    expect(parseSince('1h', 10_000)).toBe(6400);
    expect(parseSince('1764370000', 0)).toBe(1764370000);
    expect(parseSince('2026-01-01T00:00:00Z', 0)).toBe(1767225600);
    expect(() => parseSince('yesterday', 0)).toThrow(expect.objectContaining({ code: 'LP_USAGE' }));
    expect(formatTime(1767225600)).toBe('2026-01-01T00:00:00Z');
    expect(formatTime(undefined)).toBe('-');
  });
});
