import { describe, expect, it } from 'vitest';
import {
  addCustom,
  initialLabels,
  labelProblem,
  removeCustom,
  satisfies,
  setCustom,
} from './labels.js';

describe('runner labels', () => {
  it('initialLabels() puts read-only defaults first unless suppressed', () => {
    expect(initialLabels(['a'], false)).toEqual([
      { name: 'self-hosted', type: 'read-only' },
      { name: 'Linux', type: 'read-only' },
      { name: 'X64', type: 'read-only' },
      { name: 'a', type: 'custom' },
    ]);
    expect(initialLabels(['a'], true)).toEqual([{ name: 'a', type: 'custom' }]);
  });

  it('addCustom() skips names already present, whatever their case', () => {
    const labels = addCustom(initialLabels(['gpu'], false), ['GPU', 'linux', 'new']);
    expect(labels.map((l) => l.name)).toEqual(['self-hosted', 'Linux', 'X64', 'gpu', 'new']);
  });

  it('setCustom() replaces custom labels and keeps read-only ones', () => {
    const labels = setCustom(initialLabels(['a', 'b'], false), ['c']);
    expect(labels.map((l) => `${l.name}:${l.type}`)).toEqual([
      'self-hosted:read-only',
      'Linux:read-only',
      'X64:read-only',
      'c:custom',
    ]);
  });

  it('removeCustom() refuses read-only labels and reports absent ones', () => {
    const labels = initialLabels(['a'], false);
    expect(removeCustom(labels, 'linux')).toEqual({ ok: false, reason: 'read-only' });
    expect(removeCustom(labels, 'zzz')).toEqual({ ok: false, reason: 'absent' });
    const res = removeCustom(labels, 'A');
    expect(res.ok && res.labels.map((l) => l.name)).toEqual(['self-hosted', 'Linux', 'X64']);
  });

  it('satisfies() needs every wanted label on the runner', () => {
    const labels = initialLabels(['gpu'], false);
    expect(satisfies(labels, ['self-hosted', 'GPU'])).toBe(true);
    expect(satisfies(labels, ['gpu', 'arm64'])).toBe(false);
    expect(satisfies(labels, [])).toBe(true);
  });

  it('labelProblem() refuses empty names, commas and overlong names', () => {
    expect(labelProblem('ok-label')).toBeNull();
    expect(labelProblem(' ')).not.toBeNull();
    expect(labelProblem('a,b')).not.toBeNull();
    expect(labelProblem('x'.repeat(257))).not.toBeNull();
  });
});
