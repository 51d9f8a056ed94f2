/**
 * The sandbox of a lane's unit. A lane runs its job's code as the lane's user; the unit keeps that
 * user away from the host: no capabilities (even through a setuid binary), no other process in
 * `/proc`, no devices, no kernel knobs, no new namespaces, only the system calls of an ordinary
 * service.
 *
 * {@link LANE_SANDBOX} is what every lane unit gets, on every host. {@link LANE_HARDENING} is
 * applied where the host supports it: some of these settings fail on some hosts (a container or VM
 * without the namespaces they need; measured under the testbed's user manager,
 * `ProtectKernelLogs=` and `ProtectKernelTunables=` fail there with exit status 226/NAMESPACE), and
 * a unit whose sandbox cannot be set up never runs. So the agent probes each setting once at start
 * (`hardening-probe.ts`), applies those that work, and says which it left out and why.
 *
 * What a job loses with them, and what breaks: `RestrictNamespaces=` stops `unshare`, rootless
 * containers and Chromium's sandbox (run it with `--no-sandbox`); `SystemCallFilter=` answers
 * system calls outside `@system-service` (e.g. `ptrace`, `mount`, `perf_event_open`) with EPERM
 * rather than killing the process, so `strace`/`gdb` fail cleanly; `PrivateDevices=` leaves only
 * pseudo devices (`/dev/null`, `/dev/zero`, `/dev/urandom`, …).
 */

/** One setting the agent probes and applies when it works. */
export interface HardeningSetting {
  /** The setting's name, as `doctor` and the logs show it. */
  name: string;
  /** The unit lines it adds to `[Service]`. */
  lines: readonly string[];
}

/** What every lane unit gets (`[Service]`), besides `ReadWritePaths=` and `User=`. */
export const LANE_SANDBOX: readonly string[] = [
  'NoNewPrivileges=yes',
  'PrivateTmp=yes',
  'ProtectSystem=strict',
  'ProtectHome=read-only',
  'RestrictSUIDSGID=yes',
  'LockPersonality=yes',
];

/** Settings applied where the host supports them, in the order they are rendered. */
export const LANE_HARDENING: readonly HardeningSetting[] = [
  // No capability at all, not even through a setuid-root binary (NoNewPrivileges= stops those too).
  { name: 'CapabilityBoundingSet', lines: ['CapabilityBoundingSet=', 'AmbientCapabilities='] },
  // Other users' processes (the agent's, other lanes') are not in /proc at all.
  { name: 'ProtectProc', lines: ['ProtectProc=invisible'] },
  { name: 'PrivateDevices', lines: ['PrivateDevices=yes'] },
  { name: 'ProtectKernelModules', lines: ['ProtectKernelModules=yes'] },
  { name: 'ProtectKernelLogs', lines: ['ProtectKernelLogs=yes'] },
  { name: 'ProtectKernelTunables', lines: ['ProtectKernelTunables=yes'] },
  { name: 'ProtectControlGroups', lines: ['ProtectControlGroups=yes'] },
  { name: 'RestrictNamespaces', lines: ['RestrictNamespaces=yes'] },
  {
    name: 'SystemCallFilter',
    lines: [
      'SystemCallFilter=@system-service',
      'SystemCallErrorNumber=EPERM',
      'SystemCallArchitectures=native',
    ],
  },
  { name: 'ProtectClock', lines: ['ProtectClock=yes'] },
  { name: 'ProtectHostname', lines: ['ProtectHostname=yes'] },
  { name: 'RestrictRealtime', lines: ['RestrictRealtime=yes'] },
  {
    name: 'RestrictAddressFamilies',
    lines: ['RestrictAddressFamilies=AF_UNIX AF_INET AF_INET6 AF_NETLINK'],
  },
];

/** The names of every setting in {@link LANE_HARDENING}. */
export const HARDENING_NAMES: readonly string[] = LANE_HARDENING.map((s) => s.name);

/** The unit lines of the named settings, in catalogue order; unknown names are ignored. */
export function hardeningLines(names: readonly string[]): string[] {
  const wanted = new Set(names);
  return LANE_HARDENING.filter((s) => wanted.has(s.name)).flatMap((s) => s.lines);
}

/** Names of systemd's own exit statuses (systemd `exit-status.h`) that a sandbox can end with. */
const EXIT_STATUS_NAMES: Readonly<Record<number, string>> = {
  200: 'CHDIR',
  203: 'EXEC',
  204: 'MEMORY',
  216: 'GROUP',
  217: 'USER',
  218: 'CAPABILITIES',
  219: 'CGROUP',
  226: 'NAMESPACE',
  227: 'NO_NEW_PRIVILEGES',
  228: 'SECCOMP',
  230: 'PERSONALITY',
  232: 'ADDRESS_FAMILIES',
};

/** `exit status 226/NAMESPACE`, `exit status 3`, or `killed by signal 31`. */
export function describeExit(code: number, status: number): string {
  if (code === 1) {
    const name = EXIT_STATUS_NAMES[status];
    return `exit status ${status}${name === undefined ? '' : `/${name}`}`;
  }
  if (code === 2 || code === 3) return `killed by signal ${status}`;
  return 'no exit status';
}
