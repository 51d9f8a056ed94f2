import { describe, expect, it } from 'vitest';
import { parseCreated } from './created-filter.js';

describe('parseCreated', () => {
  const at = (s: string): number => Date.parse(s);
  it('reads GitHub date syntax; a date is its whole day', () => {
    expect(parseCreated('2026-01-02')).toEqual({
      from: at('2026-01-02T00:00:00Z'),
      to: at('2026-01-02T23:59:59.999Z'),
    });
    expect(parseCreated('>=2026-01-02T10:00:00Z')).toEqual({
      from: at('2026-01-02T10:00:00Z'),
      to: null,
    });
    expect(parseCreated('>2026-01-02')).toEqual({ from: at('2026-01-03T00:00:00Z'), to: null });
    expect(parseCreated('<2026-01-02')).toEqual({ from: null, to: at('2026-01-02T00:00:00Z') - 1 });
    expect(parseCreated('<=2026-01-02T10:00:00+02:00')).toEqual({
      from: null,
      to: at('2026-01-02T08:00:00Z'),
    });
    expect(parseCreated('2026-01-01..*')).toEqual({ from: at('2026-01-01T00:00:00Z'), to: null });
    expect(parseCreated('*..2026-01-01')?.to).toBe(at('2026-01-01T23:59:59.999Z'));
  });

  it('refuses what is not a date', () => {
    for (const bad of [
      'yesterday',
      '>=',
      '2026-13-45',
      '..',
      '2026-01-01..later',
      '>=1700000000',
    ]) {
      expect(parseCreated(bad), bad).toBeNull();
    }
  });
});
