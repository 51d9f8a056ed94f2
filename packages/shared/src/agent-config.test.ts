import { describe, expect, it } from 'vitest';
import { DEFAULT_LANE_UID_RANGE, laneUserModel, parseAgentConfig } from './agent-config.js';

function parse(yaml: string) {
  return parseAgentConfig(`hostId: host-a\n${yaml}`);
}

describe('the runner section of the agent config', () => {
  it('gives each lane a user of its own by default, never root, with a 300 s stop', () => {
    const r = parse('');
    expect(r.ok).toBe(true);
    if (!r.ok) return;
    expect(r.value.runner).toMatchObject({ allowRoot: false, stopTimeoutSec: 300 });
    expect(laneUserModel(r.value)).toEqual({ kind: 'per-lane', firstUid: 60600, lastUid: 61099 });
    expect(DEFAULT_LANE_UID_RANGE).toBe('60600-61099');
  });

  it('takes a uid range, a shared user, and the deprecated systemd.runAsUser as its alias', () => {
    const range = parse('runner: { users: { uidRange: "70000-70099" } }');
    expect(range.ok && laneUserModel(range.value)).toEqual({
      kind: 'per-lane',
      firstUid: 70000,
      lastUid: 70099,
    });
    const shared = parse('runner: { runAsUser: builder }');
    expect(shared.ok && laneUserModel(shared.value)).toEqual({ kind: 'shared', user: 'builder' });
    const legacy = parse('systemd: { bus: system, runAsUser: builder }');
    expect(legacy.ok && laneUserModel(legacy.value)).toEqual({ kind: 'shared', user: 'builder' });
    // The alias and the key may both be there when they agree.
    expect(parse('systemd: { runAsUser: b }\nrunner: { runAsUser: b }').ok).toBe(true);
  });

  it('refuses what cannot be meant, naming the path', () => {
    const cases: [string, string][] = [
      ['runner: { users: { uidRange: "0-99" } }', 'runner.users.uidRange'],
      ['runner: { users: { uidRange: "61000-60000" } }', 'runner.users.uidRange'],
      ['runner: { users: { uidRange: "65000-65600" } }', 'runner.users.uidRange'],
      ['runner: { users: { uidRange: "lots" } }', 'runner.users.uidRange'],
      ['runner: { users: {}, runAsUser: builder }', 'runner.users'],
      ['systemd: { runAsUser: a }\nrunner: { runAsUser: b }', 'systemd.runAsUser'],
      ['runner: { runAsUser: "Bad Name" }', 'runner.runAsUser'],
      ['runner: { stopTimeoutSec: 5 }', 'runner.stopTimeoutSec'],
      ['runner: { allowRoot: "yes" }', 'runner.allowRoot'],
    ];
    for (const [yaml, path] of cases) {
      const r = parse(yaml);
      expect({ yaml, ok: r.ok }).toEqual({ yaml, ok: false });
      if (!r.ok) expect(r.issues.map((i) => i.path)).toContain(path);
    }
  });
});
