/**
 * Parsing of `passwd(5)` and `group(5)` text: the host's, as `getent` prints it, and an image's own
 * `/etc/passwd`, read from the image. Pure.
 */

/** One `passwd` entry. */
export interface PasswdEntry {
  name: string;
  uid: number;
  gid: number;
  comment: string;
  home: string;
}

/** One `group` entry. */
export interface GroupEntry {
  name: string;
  gid: number;
}

function id(text: string | undefined): number | undefined {
  if (text === undefined || !/^\d{1,10}$/.test(text)) return undefined;
  const n = Number(text);
  return n <= 4_294_967_294 ? n : undefined;
}

/** The entries of `passwd` text; malformed lines are skipped. */
export function parsePasswd(text: string): PasswdEntry[] {
  const out: PasswdEntry[] = [];
  for (const line of text.split('\n')) {
    const f = line.split(':');
    if (f.length < 7 || f[0] === undefined || f[0] === '') continue;
    const uid = id(f[2]);
    const gid = id(f[3]);
    if (uid === undefined || gid === undefined) continue;
    out.push({ name: f[0], uid, gid, comment: f[4] ?? '', home: f[5] ?? '' });
  }
  return out;
}

/** The entries of `group` text; malformed lines are skipped. */
export function parseGroup(text: string): GroupEntry[] {
  const out: GroupEntry[] = [];
  for (const line of text.split('\n')) {
    const f = line.split(':');
    if (f.length < 3 || f[0] === undefined || f[0] === '') continue;
    const gid = id(f[2]);
    if (gid !== undefined) out.push({ name: f[0], gid });
  }
  return out;
}

/**
 * What an image's `User` setting (Docker's `Config.User`: `name`, `uid`, `name:group`,
 * `uid:gid`, or empty) means, resolved against the image's own `passwd` and `group`:
 * `{ uid, gid }`, or an error message when a name is not in them. Docker runs a user that has no
 * `passwd` entry with gid 0, and so does this.
 */
export function resolveImageUser(
  user: string,
  passwd: readonly PasswdEntry[],
  group: readonly GroupEntry[],
): { uid: number; gid: number } | { error: string } {
  const [u = '', g] = user.split(':', 2);
  let uid: number;
  let gid: number;
  if (u === '') {
    uid = 0;
    gid = 0;
  } else {
    const numeric = id(u);
    const entry =
      numeric === undefined
        ? passwd.find((p) => p.name === u)
        : passwd.find((p) => p.uid === numeric);
    if (numeric === undefined && entry === undefined) {
      return { error: `user "${u}" is not in the image's /etc/passwd` };
    }
    uid = numeric ?? entry?.uid ?? 0;
    gid = entry?.gid ?? 0;
  }
  if (g !== undefined && g !== '') {
    const numeric = id(g);
    const entry = numeric === undefined ? group.find((x) => x.name === g) : undefined;
    if (numeric === undefined && entry === undefined) {
      return { error: `group "${g}" is not in the image's /etc/group` };
    }
    gid = numeric ?? entry?.gid ?? 0;
  }
  return { uid, gid };
}
