/**
 * The host's user database, for lane users: look a user up, make one, delete one. An
 * implementation only reads and changes the database; which users the agent may make or delete is
 * decided in `lanes/lane-users.ts`. Failures are `LaunchplaneError`s (`LP_CONFLICT` when a name or
 * uid is taken, `LP_BACKEND_FAILED` otherwise).
 */

/** A user as the user database shows it. */
export interface UserAccount {
  name: string;
  uid: number;
  gid: number;
  /** The GECOS field: lane users carry `Launchplane lane <laneId>` here. */
  comment: string;
  home: string;
}

/** A user to make, with a group of the same name (and, when free, the same number). */
export interface NewUser {
  name: string;
  uid: number;
  home: string;
  comment: string;
}

/** The user database port. */
export interface UserAccounts {
  /** The user with this name, or undefined. */
  byName(name: string): Promise<UserAccount | undefined>;
  /** The user with this uid, or undefined. */
  byUid(uid: number): Promise<UserAccount | undefined>;
  /** Every user the database lists (`getent passwd`). */
  list(): Promise<UserAccount[]>;
  /**
   * Which of `ids` some user has as its uid or some group as its gid: the ids a new lane user
   * (uid and group of the same number) may not take. One look-up for the whole list.
   */
  idsInUse(ids: readonly number[]): Promise<Set<number>>;
  /** Makes a user and its group; `LP_CONFLICT` when the name or uid is taken meanwhile. */
  create(user: NewUser): Promise<UserAccount>;
  /** Deletes a user and its group (never its home). Deleting a missing user succeeds. */
  remove(name: string): Promise<void>;
}
