/**
 * Who runs a host's lanes, and the users the agent makes for them.
 *
 * systemd lanes: when the manager runs as root it can switch users, so each lane runs as a user of
 * its own (`lp-<laneId>`, made from `runner.users.uidRange` and deleted with the lane), or, when
 * the host chose it, as one shared `runner.runAsUser`. A manager that does not run as root runs
 * every lane as its own user. A lane that would run as root needs `runner.allowRoot: true`.
 * Ownership is decided by whether the manager can switch users, never by the bus kind: a root user
 * manager switches users as well as the system manager does.
 *
 * Users the agent makes carry `Launchplane lane <laneId>` in their GECOS field; a user without
 * that mark is never deleted, whatever its name.
 */
import { LaunchplaneError, laneUserModel } from '@launchplane/shared';
import type { AgentConfig } from '@launchplane/shared';
import type { UserAccount, UserAccounts } from '../ports/user-accounts.js';

/** Numeric identity of a user. */
export interface UserIds {
  uid: number;
  gid: number;
}

/** The name of a lane's own user: `lp-<laneId>` (29 characters, within the 32 of useradd). */
export function laneUserName(laneId: string): string {
  return `lp-${laneId}`;
}

/** The GECOS mark of a user the agent made for a lane. */
export function laneUserComment(laneId: string): string {
  return `Launchplane lane ${laneId}`;
}

/** Whether `account` is the user the agent made for `laneId` (name and mark both match). */
export function isLaneUserOf(account: UserAccount, laneId: string): boolean {
  return account.name === laneUserName(laneId) && account.comment === laneUserComment(laneId);
}

/** The lane id a lane user's mark names, or undefined when it carries none. */
export function laneOfUser(account: UserAccount): string | undefined {
  const m = /^Launchplane lane ([0-7][0-9a-hjkmnp-tv-z]{25})$/.exec(account.comment);
  return m?.[1] !== undefined && account.name === laneUserName(m[1]) ? m[1] : undefined;
}

/** How systemd lanes on this host run (see the module comment). */
export type SystemdRunAs =
  | { kind: 'lane-users'; firstUid: number; lastUid: number }
  | { kind: 'shared'; account: UserAccount }
  /** The manager cannot switch users: lanes run as the manager's own user. */
  | { kind: 'manager'; uid: number; gid: number };

/** Whether lanes run this way as root. */
export function runsAsRoot(runAs: SystemdRunAs): boolean {
  if (runAs.kind === 'shared') return runAs.account.uid === 0;
  if (runAs.kind === 'manager') return runAs.uid === 0;
  return false;
}

/**
 * Decides how systemd lanes run, from the config and the uid of the systemd manager. Refuses with
 * `LP_CONFIG_INVALID` a shared user that does not exist, and lanes that would run as root without
 * `runner.allowRoot`.
 */
export async function resolveSystemdRunAs(
  config: Pick<AgentConfig, 'runner' | 'systemd'>,
  managerUid: number,
  accounts: UserAccounts,
): Promise<SystemdRunAs> {
  let runAs: SystemdRunAs;
  if (managerUid !== 0) {
    runAs = {
      kind: 'manager',
      uid: managerUid,
      gid: (await accounts.byUid(managerUid))?.gid ?? managerUid,
    };
  } else {
    const model = laneUserModel(config);
    if (model.kind === 'per-lane') {
      runAs = { kind: 'lane-users', firstUid: model.firstUid, lastUid: model.lastUid };
    } else {
      const key = config.runner.runAsUser === undefined ? 'systemd.runAsUser' : 'runner.runAsUser';
      const account = await accounts.byName(model.user);
      if (account === undefined) {
        throw new LaunchplaneError(
          'LP_CONFIG_INVALID',
          `User "${model.user}" (${key}) does not exist on this host`,
          {
            recovery: `Create the user, or drop ${key} so that each lane gets a user of its own (runner.users)`,
          },
        );
      }
      runAs = { kind: 'shared', account };
    }
  }
  if (runsAsRoot(runAs) && !config.runner.allowRoot) {
    throw new LaunchplaneError(
      'LP_CONFIG_INVALID',
      runAs.kind === 'manager'
        ? 'systemd lanes would run as root: the systemd manager runs as root and cannot be told otherwise'
        : `systemd lanes would run as root: runner.runAsUser names "${runAs.kind === 'shared' ? runAs.account.name : ''}" (uid 0)`,
      {
        recovery:
          'Let each lane run as a user of its own (runner.users, the default), or set runner.allowRoot: true in the agent config to run lanes as root on purpose',
      },
    );
  }
  return runAs;
}

/** How many candidate uids one look-up asks about. */
const UID_BATCH = 64;

/** Options of {@link LaneUsers}. */
export interface LaneUsersOptions {
  accounts: UserAccounts;
  firstUid: number;
  lastUid: number;
  /** Where the next search for a free uid starts (kept in the ledger), and how to move it on. */
  cursor: { get(): number | undefined; set(uid: number): void };
}

/**
 * Makes and deletes lane users. Uids are handed out round-robin through the range, so a uid that
 * was just freed is not given to the next lane at once (anything the old lane left behind that is
 * owned by that uid stays out of the new lane's reach for as long as possible).
 */
export class LaneUsers {
  readonly #o: LaneUsersOptions;

  constructor(options: LaneUsersOptions) {
    this.#o = options;
  }

  /**
   * The lane's user, made now, or the one made for it before (an interrupted create). A user of
   * that name without the lane's mark is `LP_CONFLICT`: it is not ours.
   */
  async ensure(laneId: string, home: string): Promise<UserAccount> {
    const { accounts, firstUid, lastUid } = this.#o;
    const name = laneUserName(laneId);
    const existing = await accounts.byName(name);
    if (existing !== undefined) {
      if (isLaneUserOf(existing, laneId) && existing.uid >= firstUid && existing.uid <= lastUid) {
        return existing;
      }
      throw new LaunchplaneError(
        'LP_CONFLICT',
        `Cannot make user "${name}" for lane "${laneId}": a user of that name exists and is not this lane's`,
        {
          recovery: `It is left alone; inspect it (\`getent passwd ${name}\`) and delete it by hand if nothing uses it`,
          details: { laneId, user: name },
        },
      );
    }
    const size = lastUid - firstUid + 1;
    const start = this.#o.cursor.get();
    const offset =
      start === undefined || start < firstUid || start > lastUid ? 0 : start - firstUid;
    // Candidates in round-robin order from the cursor, looked up a batch at a time: a range
    // crowded with users (other agents', or lanes left behind) costs one look-up per batch.
    for (let i = 0; i < size; i += UID_BATCH) {
      const batch: number[] = [];
      for (let j = i; j < Math.min(size, i + UID_BATCH); j++) {
        batch.push(firstUid + ((offset + j) % size));
      }
      const inUse = await accounts.idsInUse(batch);
      for (const uid of batch) {
        if (inUse.has(uid)) continue;
        try {
          const made = await accounts.create({
            name,
            uid,
            home,
            comment: laneUserComment(laneId),
          });
          this.#o.cursor.set(uid + 1 > lastUid ? firstUid : uid + 1);
          return made;
        } catch (error) {
          // Taken meanwhile (another process made a user): try the next one.
          if (error instanceof LaunchplaneError && error.code === 'LP_CONFLICT') {
            if ((await accounts.byName(name)) !== undefined) throw error;
            continue;
          }
          throw error;
        }
      }
    }
    throw new LaunchplaneError(
      'LP_CAPACITY',
      `Cannot make a user for lane "${laneId}": every uid in ${firstUid}-${lastUid} is taken`,
      {
        recovery:
          'Widen runner.users.uidRange in the agent config, or delete lane users left behind (`launchplane-agent doctor` lists them)',
        details: { laneId },
      },
    );
  }
}

/**
 * Deletes the user the agent made for `laneId`, if there is one. A user of that name without the
 * lane's mark is left alone. Resolves with what was done.
 */
export async function releaseLaneUser(
  accounts: UserAccounts,
  laneId: string,
): Promise<'deleted' | 'absent' | 'not-ours'> {
  const account = await accounts.byName(laneUserName(laneId));
  if (account === undefined) return 'absent';
  if (!isLaneUserOf(account, laneId) || account.uid === 0) return 'not-ours';
  await accounts.remove(account.name);
  return 'deleted';
}
