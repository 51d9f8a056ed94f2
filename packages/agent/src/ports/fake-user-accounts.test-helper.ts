/**
 * An in-memory {@link UserAccounts} for unit tests: a user database with `root` and `nobody`, a log
 * of every change, and knobs to plant users and make a call fail.
 */
import { LaunchplaneError } from '@launchplane/shared';
import type { NewUser, UserAccount, UserAccounts } from './user-accounts.js';

/** Fake user database. */
export class FakeUserAccounts implements UserAccounts {
  readonly users = new Map<string, UserAccount>();
  readonly groups = new Set<number>();
  /** Every change, `create name uid` / `remove name`. */
  readonly calls: string[] = [];
  /** When set, `remove` rejects with this error. */
  removeError: LaunchplaneError | undefined;

  constructor() {
    this.plant({ name: 'root', uid: 0, gid: 0, comment: 'root', home: '/root' });
    this.plant({ name: 'nobody', uid: 65534, gid: 65534, comment: 'nobody', home: '/nonexistent' });
  }

  /** Adds a user the agent did not make. */
  plant(user: UserAccount): UserAccount {
    this.users.set(user.name, user);
    this.groups.add(user.gid);
    return user;
  }

  byName(name: string): Promise<UserAccount | undefined> {
    return Promise.resolve(this.users.get(name));
  }

  byUid(uid: number): Promise<UserAccount | undefined> {
    return Promise.resolve([...this.users.values()].find((u) => u.uid === uid));
  }

  list(): Promise<UserAccount[]> {
    return Promise.resolve([...this.users.values()]);
  }

  /** Every list {@link idsInUse} was asked about, in order. */
  readonly idLookups: number[][] = [];

  idsInUse(ids: readonly number[]): Promise<Set<number>> {
    this.idLookups.push([...ids]);
    const uids = new Set([...this.users.values()].map((u) => u.uid));
    return Promise.resolve(new Set(ids.filter((id) => uids.has(id) || this.groups.has(id))));
  }

  async create(user: NewUser): Promise<UserAccount> {
    if (this.users.has(user.name) || (await this.byUid(user.uid)) !== undefined) {
      throw new LaunchplaneError('LP_CONFLICT', `User "${user.name}" or uid ${user.uid} is taken`);
    }
    this.calls.push(`create ${user.name} ${user.uid}`);
    const made = {
      name: user.name,
      uid: user.uid,
      gid: user.uid,
      comment: user.comment,
      home: user.home,
    };
    this.users.set(user.name, made);
    this.groups.add(made.gid);
    return made;
  }

  remove(name: string): Promise<void> {
    if (this.removeError !== undefined) return Promise.reject(this.removeError);
    this.calls.push(`remove ${name}`);
    const u = this.users.get(name);
    if (u !== undefined) {
      this.users.delete(name);
      this.groups.delete(u.gid);
    }
    return Promise.resolve();
  }
}
