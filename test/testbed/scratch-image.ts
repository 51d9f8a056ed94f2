/**
 * Builds test images offline, `FROM scratch`: the host's `node` and `bash` with the libraries `ldd`
 * lists for them, a static busybox with its applets, `/tmp`, and any extra files (e.g. a runner
 * template); optionally extra users and groups, `ENV` and `USER` (e.g. a stand-in for the official
 * runner image: bash, `USER 1001`). Images are cached by a content hash of everything that goes
 * in, kept as an image label.
 */
import { execFile, spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import {
  chmod,
  copyFile,
  link,
  mkdir,
  mkdtemp,
  readdir,
  realpath,
  rm,
  stat,
  symlink,
  writeFile,
} from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join, relative } from 'node:path';
import { promisify } from 'node:util';

import type Docker from 'dockerode';

import { findBinary } from './find-binary.js';
import { TestbedUnavailableError } from './testbed-unavailable.js';

const run = promisify(execFile);
const HASH_LABEL = 'dev.launchplane.testbed.hash';
// Bump when the layout below changes, so cached images are rebuilt.
const LAYOUT_VERSION = '2';

/** An extra file or directory for the image. */
export interface ImageFile {
  /** Absolute path inside the image. */
  path: string;
  /** Host file or directory to copy (recursively); or give `content` or `symlink`. */
  source?: string;
  /** Make `path` a symbolic link to this target (e.g. `Runner.Worker` → node). */
  symlink?: string;
  content?: string | Buffer;
  /** File mode; default 0o755 for `content` that starts with `#!`, else 0o644. Copies keep theirs. */
  mode?: number;
}

/** A user of the image, added to `/etc/passwd` (root and nobody are always there). */
export interface ImageUser {
  name: string;
  uid: number;
  gid: number;
  /** Default `/home/<name>`. */
  home?: string;
  /** Default `/bin/bash`. */
  shell?: string;
}

/** A group of the image, added to `/etc/group` (root and nogroup are always there). */
export interface ImageGroup {
  name: string;
  gid: number;
}

/** Options of {@link buildScratchImage}. */
export interface ScratchImageOptions {
  /** Image reference, e.g. `launchplane-test/runner:latest`. */
  tag: string;
  files?: readonly ImageFile[];
  /** Extra `/etc/passwd` entries, e.g. `{name: 'runner', uid: 1001, gid: 1001}`. */
  users?: readonly ImageUser[];
  /** Extra `/etc/group` entries, e.g. `{name: 'runner', gid: 1001}`. */
  groups?: readonly ImageGroup[];
  /** The image's `USER`, e.g. `'1001'` or `'runner'`; default root. */
  user?: string;
  /** `ENV` of the image, after `PATH` (which is `/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin`). */
  env?: Readonly<Record<string, string>>;
}

/** Result of {@link buildScratchImage}. */
export interface ScratchImage {
  tag: string;
  /** Content hash the image was built from. */
  hash: string;
  /** False when an image with the same hash was already there. */
  built: boolean;
  /** Absolute path of node inside the image (the same as on the host). */
  nodePath: string;
}

interface Entry {
  /** Path inside the image, absolute. */
  path: string;
  kind: 'file' | 'dir' | 'symlink';
  /** Host source for copies. */
  source?: string;
  content?: Buffer;
  target?: string;
  mode: number;
}

/** Builds (or finds cached) a `FROM scratch` image with node and busybox. */
export async function buildScratchImage(
  docker: Docker,
  options: ScratchImageOptions,
): Promise<ScratchImage> {
  const entries = await collectEntries(options);
  const dockerfile = (hash: string): string =>
    [
      'FROM scratch',
      'COPY rootfs/ /',
      'ENV PATH=/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin',
      ...Object.entries(options.env ?? {}).map(
        ([k, v]) => `ENV ${envName(k)}=${JSON.stringify(v)}`,
      ),
      ...(options.user === undefined ? [] : [`USER ${imageUser(options.user)}`]),
      `LABEL ${HASH_LABEL}=${hash}`,
      'CMD ["/bin/sh"]',
      '',
    ].join('\n');
  const hash = await hashEntries(entries, dockerfile(''));
  const nodePath = process.execPath;
  const existing = await docker
    .getImage(options.tag)
    .inspect()
    .catch(() => undefined);
  if (existing?.Config.Labels?.[HASH_LABEL] === hash)
    return { tag: options.tag, hash, built: false, nodePath };

  const staging = await mkdtemp(join(tmpdir(), 'lp-image-'));
  try {
    const rootfs = join(staging, 'rootfs');
    await mkdir(rootfs);
    for (const entry of entries) await stage(rootfs, entry);
    await writeFile(join(staging, 'Dockerfile'), dockerfile(hash));
    const tar = spawn(
      'tar',
      ['-C', staging, '--numeric-owner', '--owner=0', '--group=0', '-c', '.'],
      {
        stdio: ['ignore', 'pipe', 'inherit'],
      },
    );
    const stream = await docker.buildImage(tar.stdout, { t: options.tag, rm: true, forcerm: true });
    const output = await new Promise<unknown[]>((resolve, reject) => {
      docker.modem.followProgress(stream, (error: Error | null, result: unknown[]) =>
        error === null ? resolve(result) : reject(error),
      );
    });
    const failure = output.find(
      (o): o is { error: string } => typeof (o as { error?: unknown }).error === 'string',
    );
    if (failure !== undefined)
      throw new Error(`docker build of "${options.tag}" failed: ${failure.error}`);
    return { tag: options.tag, hash, built: true, nodePath };
  } finally {
    await rm(staging, { recursive: true, force: true });
  }
}

/** An environment variable name, or an error: it goes into the Dockerfile as is. */
function envName(name: string): string {
  if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(name)) throw new Error(`invalid ENV name: ${name}`);
  return name;
}

/** A `USER` value (name or uid, optionally `:group`), or an error. */
function imageUser(user: string): string {
  if (!/^[A-Za-z0-9_.-]+(:[A-Za-z0-9_.-]+)?$/.test(user)) throw new Error(`invalid USER: ${user}`);
  return user;
}

/** Adds `binary` at `path` and the shared libraries `ldd` lists for it. */
async function addWithLibraries(
  add: (entry: Entry) => void,
  binary: string,
  path: string,
): Promise<void> {
  const { stdout: lddOut } = await run('ldd', [binary]).catch((error: unknown) => {
    throw new TestbedUnavailableError(`ldd failed on ${binary}: ${String(error)}`);
  });
  add({ path, kind: 'file', source: binary, mode: 0o755 });
  for (const line of lddOut.split('\n')) {
    // "libc.so.6 => /lib/x86_64-linux-gnu/libc.so.6 (0x…)" or "/lib64/ld-linux-x86-64.so.2 (0x…)"
    const match = /(?:=>\s*)?(\/\S+)\s+\(0x/.exec(line);
    const lib = match?.[1];
    if (lib !== undefined) add({ path: lib, kind: 'file', source: lib, mode: 0o755 });
  }
}

async function collectEntries(options: ScratchImageOptions): Promise<Entry[]> {
  const entries = new Map<string, Entry>();
  const add = (entry: Entry): void => {
    entries.set(entry.path, entry);
  };
  const busybox = await findBinary('/bin/busybox', '/usr/bin/busybox');
  if (busybox === undefined)
    throw new TestbedUnavailableError(
      'scratch images need busybox (Debian package busybox-static)',
    );
  const bash = await findBinary('/bin/bash', '/usr/bin/bash', 'bash');
  if (bash === undefined) throw new TestbedUnavailableError('scratch images need bash');
  await addWithLibraries(add, process.execPath, process.execPath);
  add({ path: '/bin/busybox', kind: 'file', source: busybox, mode: 0o755 });
  const { stdout: applets } = await run(busybox, ['--list']);
  for (const applet of applets.split('\n').map((a) => a.trim())) {
    if (applet === '' || applet === 'busybox' || applet.includes('/')) continue;
    add({ path: `/bin/${applet}`, kind: 'symlink', target: 'busybox', mode: 0o777 });
  }
  add({ path: '/usr/bin/env', kind: 'symlink', target: '/bin/busybox', mode: 0o777 });
  // After the applets: the real bash, not a busybox alias, is what runner scripts need.
  await addWithLibraries(add, bash, '/bin/bash');
  add({ path: '/tmp', kind: 'dir', mode: 0o1777 });
  const users = [
    'root:x:0:0:root:/root:/bin/sh',
    'nobody:x:65534:65534:nobody:/nonexistent:/bin/false',
    ...(options.users ?? []).map(
      (u) =>
        `${accountName(u.name)}:x:${u.uid}:${u.gid}:${u.name}:${u.home ?? `/home/${u.name}`}:${u.shell ?? '/bin/bash'}`,
    ),
  ];
  const groups = [
    'root:x:0:',
    'nogroup:x:65534:',
    ...(options.groups ?? []).map((g) => `${accountName(g.name)}:x:${g.gid}:`),
  ];
  add({
    path: '/etc/passwd',
    kind: 'file',
    content: Buffer.from(`${users.join('\n')}\n`),
    mode: 0o644,
  });
  add({
    path: '/etc/group',
    kind: 'file',
    content: Buffer.from(`${groups.join('\n')}\n`),
    mode: 0o644,
  });
  add({ path: '/root', kind: 'dir', mode: 0o700 });
  for (const file of options.files ?? []) {
    if (!file.path.startsWith('/')) throw new Error(`image path must be absolute: ${file.path}`);
    if (file.symlink !== undefined) {
      add({ path: file.path, kind: 'symlink', target: file.symlink, mode: 0o777 });
    } else if (file.content !== undefined) {
      const content = Buffer.from(file.content);
      add({
        path: file.path,
        kind: 'file',
        content,
        mode: file.mode ?? (content.subarray(0, 2).toString() === '#!' ? 0o755 : 0o644),
      });
    } else if (file.source !== undefined) {
      await addTree(add, file.source, file.path);
    } else {
      add({ path: file.path, kind: 'dir', mode: file.mode ?? 0o755 });
    }
  }
  return [...entries.values()].sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
}

async function addTree(add: (entry: Entry) => void, source: string, path: string): Promise<void> {
  const info = await stat(source);
  if (info.isDirectory()) {
    add({ path, kind: 'dir', mode: info.mode & 0o7777 });
    for (const name of await readdir(source))
      await addTree(add, join(source, name), join(path, name));
  } else {
    add({ path, kind: 'file', source, mode: info.mode & 0o7777 });
  }
}

/** A user or group name for /etc/passwd and /etc/group, or an error. */
function accountName(name: string): string {
  if (!/^[a-z_][a-z0-9_-]*$/.test(name)) throw new Error(`invalid user or group name: ${name}`);
  return name;
}

async function hashEntries(entries: readonly Entry[], dockerfile: string): Promise<string> {
  const hash = createHash('sha256');
  hash.update(`layout ${LAYOUT_VERSION}\n${dockerfile}\n`);
  for (const entry of entries) {
    hash.update(`${entry.kind} ${entry.path} ${entry.mode.toString(8)} ${entry.target ?? ''}\n`);
    if (entry.content !== undefined) hash.update(entry.content);
    if (entry.source !== undefined && entry.kind === 'file') {
      hash.update(await fileDigest(entry.source));
    }
  }
  return hash.digest('hex');
}

// Digests of files already read in this process, keyed by identity and mtime: node alone is ~100 MB.
const digests = new Map<string, string>();

async function fileDigest(path: string): Promise<string> {
  const info = await stat(path);
  const key = `${path}\0${info.dev}:${info.ino}:${info.size}:${info.mtimeMs}`;
  const known = digests.get(key);
  if (known !== undefined) return known;
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(path)) hash.update(chunk as Buffer);
  const digest = hash.digest('hex');
  digests.set(key, digest);
  return digest;
}

async function stage(rootfs: string, entry: Entry): Promise<void> {
  const dest = join(rootfs, entry.path);
  if (relative(rootfs, dest).startsWith('..'))
    throw new Error(`image path escapes the image: ${entry.path}`);
  switch (entry.kind) {
    case 'dir':
      await mkdir(dest, { recursive: true });
      await chmod(dest, entry.mode);
      return;
    case 'symlink':
      await mkdir(dirname(dest), { recursive: true });
      await symlink(entry.target ?? '', dest);
      return;
    case 'file':
      await mkdir(dirname(dest), { recursive: true });
      if (entry.content !== undefined) {
        await writeFile(dest, entry.content, { mode: entry.mode });
        await chmod(dest, entry.mode);
      } else if (entry.source !== undefined) {
        // A hard link costs nothing for the ~100 MB of node; copy across file systems.
        // link() does not follow symlinks (libstdc++.so.6 is one): link the real file.
        const real = await realpath(entry.source);
        await link(real, dest).catch(() => copyFile(real, dest));
      }
      return;
  }
}
