/**
 * Lane users made by agents under test. Every agent a test starts takes its lane users from
 * {@link TEST_LANE_UID_RANGE}, so a run never touches the range production hosts use, and
 * {@link sweepTestLaneUsers} deletes what a run left behind: only users in that range that carry
 * the agent's mark (`Launchplane lane <laneId>` in GECOS, named `lp-<laneId>`) and whose lane dir
 * (their home) is gone, so the lanes of another run on this machine are never touched.
 */
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { promisify } from 'node:util';

const exec = promisify(execFile);

/** The uid range of lane users in tests (`runner.users.uidRange`). */
export const TEST_LANE_UID_RANGE = '59800-59999';

function bounds(range: string): [number, number] {
  return range.split('-').map(Number) as [number, number];
}

/** A lane user as `getent passwd` lists it. */
export interface TestLaneUser {
  name: string;
  uid: number;
  home: string;
}

/** The users an agent made for lanes in `range` (default: the tests'). */
export async function testLaneUsers(range = TEST_LANE_UID_RANGE): Promise<TestLaneUser[]> {
  const [FIRST, LAST] = bounds(range);
  const { stdout } = await exec('getent', ['passwd']).catch(() => ({ stdout: '' }));
  const out: TestLaneUser[] = [];
  for (const line of stdout.split('\n')) {
    const [name = '', , uidText = '', , gecos = '', home = ''] = line.split(':');
    const uid = Number(uidText);
    const lane = /^Launchplane lane ([0-9a-z]{26})$/.exec(gecos)?.[1];
    if (lane !== undefined && name === `lp-${lane}` && uid >= FIRST && uid <= LAST) {
      out.push({ name, uid, home });
    }
  }
  return out;
}

/** Deletes lane users in `range` whose lane dir is gone; resolves with their names. */
export async function sweepTestLaneUsers(range = TEST_LANE_UID_RANGE): Promise<string[]> {
  const swept: string[] = [];
  for (const u of await testLaneUsers(range)) {
    if (existsSync(u.home)) continue;
    await exec('userdel', ['--', u.name]).then(
      () => swept.push(u.name),
      () => undefined,
    );
  }
  return swept;
}
