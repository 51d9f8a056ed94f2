/**
 * {@link UserAccounts} over the host's own tools: `getent` (so users from every NSS source count as
 * taken, not only `/etc/passwd`), `useradd` and `userdel` from the passwd package (shadow-utils).
 * Nothing goes through a shell; every argument is passed as one word.
 */
import { execFile } from 'node:child_process';
import { access, constants } from 'node:fs/promises';
import { LaunchplaneError } from '@launchplane/shared';
import { parseGroup, parsePasswd } from '../../domain/passwd.js';
import type { NewUser, UserAccount, UserAccounts } from '../../ports/user-accounts.js';

/** Options of {@link SystemUserAccounts}. */
export interface SystemUserAccountsOptions {
  /** Deadline of each tool run, in ms. Default 30 000. */
  timeoutMs?: number;
}

interface RunResult {
  code: number;
  stdout: string;
  stderr: string;
}

// useradd(8): 4 = UID already in use, 9 = username or group name already in use.
const USERADD_TAKEN = new Set([4, 9]);
// userdel(8): 6 = the user does not exist.
const USERDEL_MISSING = 6;
// getent(1): 2 = no such key.
const GETENT_MISSING = 2;

const SHELLS = ['/usr/sbin/nologin', '/sbin/nologin', '/bin/false'];

/** The host's user database through getent, useradd and userdel. */
export class SystemUserAccounts implements UserAccounts {
  readonly #timeoutMs: number;
  #shell: string | undefined;

  constructor(options: SystemUserAccountsOptions = {}) {
    this.#timeoutMs = options.timeoutMs ?? 30_000;
  }

  async byName(name: string): Promise<UserAccount | undefined> {
    return this.#getentPasswd(name);
  }

  async byUid(uid: number): Promise<UserAccount | undefined> {
    return this.#getentPasswd(String(uid));
  }

  async list(): Promise<UserAccount[]> {
    const r = await this.#run('getent', ['passwd']);
    if (r.code !== 0) throw this.#failed('list users', 'passwd', r);
    return parsePasswd(r.stdout);
  }

  async idsInUse(ids: readonly number[]): Promise<Set<number>> {
    const inUse = new Set<number>();
    if (ids.length === 0) return inUse;
    // getent takes many keys at once: it prints the entries it found and exits 2 when some key
    // had none. Two tool runs for the whole list, however many of its ids are taken.
    const keys = ids.map(String);
    const wanted = new Set(ids);
    const [users, groups] = await Promise.all([
      this.#run('getent', ['passwd', ...keys]),
      this.#run('getent', ['group', ...keys]),
    ]);
    const answered = (r: RunResult): boolean => r.code === 0 || r.code === GETENT_MISSING;
    if (!answered(users)) throw this.#failed('look up users', keys.join(','), users);
    if (!answered(groups)) throw this.#failed('look up groups', keys.join(','), groups);
    for (const u of parsePasswd(users.stdout)) if (wanted.has(u.uid)) inUse.add(u.uid);
    for (const g of parseGroup(groups.stdout)) if (wanted.has(g.gid)) inUse.add(g.gid);
    return inUse;
  }

  async create(user: NewUser): Promise<UserAccount> {
    const shell = await this.#nologin();
    const r = await this.#run('useradd', [
      // A system account: no password aging, no mail spool, no subordinate ids.
      '--system',
      '--uid',
      String(user.uid),
      '--user-group',
      '--home-dir',
      user.home,
      '--no-create-home',
      '--shell',
      shell,
      '--comment',
      user.comment,
      // The login records under /var/log are not this agent's to write.
      '--no-log-init',
      '--',
      user.name,
    ]);
    if (USERADD_TAKEN.has(r.code)) {
      throw new LaunchplaneError(
        'LP_CONFLICT',
        `Cannot make user "${user.name}" with uid ${user.uid}: the name or uid is taken`,
        { details: { user: user.name, uid: user.uid } },
      );
    }
    if (r.code !== 0) throw this.#failed('make user', user.name, r);
    const made = await this.byName(user.name);
    if (made === undefined) {
      throw new LaunchplaneError(
        'LP_BACKEND_FAILED',
        `User "${user.name}" is missing right after useradd made it`,
      );
    }
    return made;
  }

  async remove(name: string): Promise<void> {
    const r = await this.#run('userdel', ['--', name]);
    if (r.code === 0 || r.code === USERDEL_MISSING) return;
    throw this.#failed('delete user', name, r, {
      ...(r.code === 8
        ? {
            recovery: `A process of "${name}" still runs: find it with \`ps -u ${name}\`, stop it, then delete the user with \`userdel ${name}\``,
          }
        : {}),
    });
  }

  async #getentPasswd(key: string): Promise<UserAccount | undefined> {
    const r = await this.#run('getent', ['passwd', key]);
    if (r.code === GETENT_MISSING) return undefined;
    if (r.code !== 0) throw this.#failed('look up user', key, r);
    return parsePasswd(r.stdout)[0];
  }

  async #nologin(): Promise<string> {
    if (this.#shell !== undefined) return this.#shell;
    for (const s of SHELLS) {
      try {
        await access(s, constants.X_OK);
        this.#shell = s;
        return s;
      } catch {
        // next
      }
    }
    this.#shell = '/bin/false';
    return this.#shell;
  }

  #failed(
    what: string,
    subject: string,
    r: RunResult,
    extra: { recovery?: string } = {},
  ): LaunchplaneError {
    const output = `${r.stderr}${r.stdout}`.trim().slice(-300);
    return new LaunchplaneError(
      'LP_BACKEND_FAILED',
      `Cannot ${what} "${subject}": exit ${r.code}${output === '' ? '' : `: ${output}`}`,
      {
        recovery:
          extra.recovery ??
          'Check that the passwd package (useradd, userdel) is installed and that the agent may write /etc',
        details: { subject, exit: r.code },
      },
    );
  }

  #run(cmd: string, args: string[]): Promise<RunResult> {
    return new Promise((resolve, reject) => {
      execFile(
        cmd,
        args,
        {
          timeout: this.#timeoutMs,
          env: {
            PATH: '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin',
            LC_ALL: 'C',
          },
        },
        (error, stdout, stderr) => {
          if (error === null) {
            resolve({ code: 0, stdout, stderr });
            return;
          }
          const code = (error as { code?: unknown }).code;
          if (typeof code === 'number') {
            resolve({ code, stdout, stderr });
            return;
          }
          reject(
            new LaunchplaneError('LP_BACKEND_FAILED', `Cannot run ${cmd}: ${error.message}`, {
              recovery:
                'Install the passwd package (useradd, userdel) and libc-bin (getent) on this host',
              cause: error,
            }),
          );
        },
      );
    });
  }
}
