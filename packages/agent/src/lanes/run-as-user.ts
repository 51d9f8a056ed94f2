/**
 * The user that runs lane processes under the system manager (`systemd.runAsUser`): its lane
 * directory and `config.sh` run as that user, never as root.
 */
import { readFile } from 'node:fs/promises';
import { LaunchplaneError } from '@launchplane/shared';

/** Numeric identity of a user. */
export interface UserIds {
  uid: number;
  gid: number;
}

/** Looks a user up in `passwdPath` (default `/etc/passwd`); LP_CONFIG_INVALID when it is missing. */
export async function resolveUser(name: string, passwdPath = '/etc/passwd'): Promise<UserIds> {
  const text = await readFile(passwdPath, 'utf8').catch((error: unknown) => {
    throw new LaunchplaneError(
      'LP_CONFIG_INVALID',
      `Cannot read "${passwdPath}" to find user "${name}"`,
      { cause: error },
    );
  });
  for (const line of text.split('\n')) {
    const [user, , uid, gid] = line.split(':');
    if (user === name && uid !== undefined && gid !== undefined) {
      const ids = { uid: Number(uid), gid: Number(gid) };
      if (Number.isSafeInteger(ids.uid) && Number.isSafeInteger(ids.gid)) return ids;
    }
  }
  throw new LaunchplaneError(
    'LP_CONFIG_INVALID',
    `User "${name}" (systemd.runAsUser) does not exist on this host`,
    {
      recovery: 'Create the user, or change systemd.runAsUser in the agent config',
    },
  );
}
