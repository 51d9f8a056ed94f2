import { randomBytes } from 'node:crypto';
import { open, mkdir, readFile, readdir, rename, rm } from 'node:fs/promises';
import type { EventEmitter } from 'node:events';
import { constants as osConstants } from 'node:os';
import { basename, join } from 'node:path';

import * as dbus from 'dbus-next';
import type { MessageBus, Variant } from 'dbus-next';
import { LaunchplaneError, coalescing, unitName } from '@launchplane/shared';

import type {
  ProbeOutcome,
  ProbeSpec,
  UnitManager,
  UnitSpec,
  UnitStatus,
} from '../../ports/unit-manager.js';
import {
  parseExitRecord,
  parseLaneMarker,
  renderEnvironmentFile,
  renderProbeUnit,
  renderUnitFile,
  type ExitRecord,
} from './unit-file.js';
import { describeExit } from './unit-hardening.js';
import { LANE_UNIT_PATTERN, assertLaneUnitName, isLaneUnitName } from './unit-name.js';

const DEST = 'org.freedesktop.systemd1';
const MANAGER_PATH = '/org/freedesktop/systemd1';
const MANAGER = 'org.freedesktop.systemd1.Manager';
const UNIT = 'org.freedesktop.systemd1.Unit';
const SERVICE = 'org.freedesktop.systemd1.Service';
const PROPERTIES = 'org.freedesktop.DBus.Properties';
const NO_SUCH_UNIT = 'org.freedesktop.systemd1.NoSuchUnit';
const LOAD_FAILED = 'org.freedesktop.systemd1.LoadFailed';
// Errors that mean systemd (or the bus) is not there, rather than that it refused.
const UNAVAILABLE_ERRORS = new Set([
  'org.freedesktop.DBus.Error.ServiceUnknown',
  'org.freedesktop.DBus.Error.NameHasNoOwner',
  'org.freedesktop.DBus.Error.NoReply',
  'org.freedesktop.DBus.Error.Disconnected',
  'org.freedesktop.DBus.Error.NoServer',
  'org.freedesktop.DBus.Error.Timeout',
]);
// Remembered job results, for signals that arrive before the caller learned its job path.
const MAX_REMEMBERED_JOBS = 512;
/** How long one hardening probe may take to run `/bin/true`, in ms. */
const PROBE_TIMEOUT_MS = 30_000;

/** Options of {@link DbusUnitManager.create}. */
export interface DbusUnitManagerOptions {
  /** `system` in production; `user` for a user manager (tests). */
  bus: 'system' | 'user';
  /**
   * Where lane unit files go: `/etc/systemd/system` for the system manager,
   * `$XDG_CONFIG_HOME/systemd/user` for a user manager.
   */
  unitDir: string;
  /**
   * Where lane environment files (mode 0600, may hold tokens) go. Default: `/etc/launchplane/lanes`
   * for the system bus, `<unitDir>/../../launchplane/lanes` (i.e. `$XDG_CONFIG_HOME/launchplane/lanes`)
   * for a user manager.
   */
  envDir?: string;
  /** D-Bus address (`unix:path=…`). Default: the standard system bus, or `DBUS_SESSION_BUS_ADDRESS`. */
  busAddress?: string;
  /** Deadline for connecting and for each method call, in ms. Default 30 000. */
  callTimeoutMs?: number;
  /** Deadline for a start/stop/restart job to finish, in ms. Default 900 000 (stops may take `TimeoutStopSec`). */
  jobTimeoutMs?: number;
}

interface JobWaiter {
  resolve: (result: string) => void;
  reject: (error: Error) => void;
}

const RECOVERY_UNAVAILABLE_SYSTEM =
  'Is systemd running and the system bus reachable? Check `systemctl is-system-running`';
const RECOVERY_UNAVAILABLE_USER =
  'Is the user manager running? Check `systemctl --user is-system-running`';

/**
 * {@link UnitManager} over D-Bus (`org.freedesktop.systemd1`), on the system bus in production or a
 * user manager's session bus in tests. Start/stop/restart wait for the job's `JobRemoved` signal and
 * then check `ActiveState`, so a refused start (start-limit hit, bad unit, failed exec) is an error,
 * never a silent success.
 */
export class DbusUnitManager implements UnitManager {
  readonly #bus: MessageBus;
  readonly #unitDir: string;
  readonly #envDir: string;
  readonly #callTimeoutMs: number;
  readonly #jobTimeoutMs: number;
  readonly #recovery: string;
  readonly #finishedJobs = new Map<string, string>();
  readonly #jobWaiters = new Map<string, JobWaiter>();
  #broken: unknown;
  #rejectLost: (error: unknown) => void = () => undefined;
  // Rejects when the connection is lost, so calls in flight fail at once rather than at their timeout.
  readonly #lostSignal = new Promise<never>((_, reject) => {
    this.#rejectLost = reject;
  });
  #closed = false;
  /**
   * A `Reload` that begins after the call. A burst of lane creates on a host shares reloads
   * instead of making one each: a reload stalls the whole manager (every other lane's start and
   * stop waits for it) and runs the manager's generators again.
   */
  readonly #reloadAfterNow = coalescing(async () => {
    await this.#call(MANAGER_PATH, MANAGER, 'Reload', '', []);
  });
  /** Unique bus name of systemd, the only sender whose JobRemoved signals are trusted. */
  #managerName: string | undefined;

  private constructor(bus: MessageBus, options: DbusUnitManagerOptions) {
    this.#lostSignal.catch(() => undefined); // observed through the races in #call
    this.#bus = bus;
    this.#unitDir = options.unitDir;
    this.#envDir =
      options.envDir ??
      (options.bus === 'system'
        ? '/etc/launchplane/lanes'
        : join(options.unitDir, '..', '..', 'launchplane', 'lanes'));
    this.#callTimeoutMs = options.callTimeoutMs ?? 30_000;
    this.#jobTimeoutMs = options.jobTimeoutMs ?? 900_000;
    this.#recovery =
      options.bus === 'system' ? RECOVERY_UNAVAILABLE_SYSTEM : RECOVERY_UNAVAILABLE_USER;
  }

  /**
   * Connects to the bus, subscribes to job signals and checks that systemd answers. Rejects with
   * `LP_BACKEND_UNAVAILABLE` when the bus or the manager cannot be reached.
   */
  static async create(options: DbusUnitManagerOptions): Promise<DbusUnitManager> {
    const busAddress =
      options.busAddress ??
      (options.bus === 'user' ? process.env['DBUS_SESSION_BUS_ADDRESS'] : undefined);
    const bus =
      options.bus === 'system' && busAddress === undefined
        ? dbus.systemBus()
        : dbus.sessionBus(busAddress === undefined ? {} : { busAddress });
    const manager = new DbusUnitManager(bus, options);
    try {
      await manager.#connect(bus);
      await manager.#call(MANAGER_PATH, 'org.freedesktop.DBus', 'AddMatch', 's', [
        `type='signal',sender='${DEST}',path='${MANAGER_PATH}',interface='${MANAGER}',member='JobRemoved'`,
      ]);
      await manager.#call(MANAGER_PATH, 'org.freedesktop.DBus', 'AddMatch', 's', [
        `type='signal',sender='org.freedesktop.DBus',interface='org.freedesktop.DBus',member='NameOwnerChanged',arg0='${DEST}'`,
      ]);
      const [owner] = await manager.#call(
        MANAGER_PATH,
        'org.freedesktop.DBus',
        'GetNameOwner',
        's',
        [DEST],
      );
      if (typeof owner === 'string') manager.#managerName = owner;
      await manager.#call(MANAGER_PATH, MANAGER, 'Subscribe', '', []);
      await manager.ping();
    } catch (error) {
      await manager.close();
      throw manager.#unavailable('connect to systemd', error);
    }
    return manager;
  }

  #connect(bus: MessageBus): Promise<void> {
    bus.on('message', (msg) => {
      if (msg.interface === MANAGER && msg.member === 'JobRemoved' && msg.path === MANAGER_PATH) {
        // Any bus client may emit a signal; only the manager's own count.
        if (this.#managerName !== undefined && msg.sender !== this.#managerName) return;
        const [, jobPath, , result] = msg.body as [number, string, string, string];
        this.#jobFinished(jobPath, result);
      } else if (
        msg.interface === 'org.freedesktop.DBus' &&
        msg.member === 'NameOwnerChanged' &&
        msg.sender === 'org.freedesktop.DBus'
      ) {
        // systemd re-executed (e.g. on upgrade) and came back under a new unique name.
        const [name, , newOwner] = msg.body as [string, string, string];
        if (name === DEST && newOwner !== '') this.#managerName = newOwner;
      }
    });
    return new Promise<void>((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new Error('timed out connecting to the bus')),
        this.#callTimeoutMs,
      );
      bus.once('connect', () => {
        clearTimeout(timer);
        resolve();
      });
      bus.on('error', (error: unknown) => {
        clearTimeout(timer);
        this.#lost(error);
        reject(error instanceof Error ? error : new Error(String(error)));
      });
      // dbus-next does not surface the end of the stream (bus or manager restarted); without this,
      // calls would wait for their timeout. `_connection` is internal, hence the guard.
      const connection = (bus as unknown as { _connection?: { on?: unknown } })._connection;
      if (connection !== undefined && typeof connection.on === 'function') {
        (connection as EventEmitter).on('end', () => {
          this.#lost(new Error('the bus connection was closed'));
        });
      }
    });
  }

  /** Marks the connection unusable and fails everything that waits on it. */
  #lost(error: unknown): void {
    this.#broken ??= error;
    const failure = this.#unavailable('reach systemd', error);
    this.#rejectLost(failure);
    for (const waiter of this.#jobWaiters.values()) waiter.reject(failure);
    this.#jobWaiters.clear();
  }

  #jobFinished(jobPath: string, result: string): void {
    const waiter = this.#jobWaiters.get(jobPath);
    if (waiter !== undefined) {
      this.#jobWaiters.delete(jobPath);
      waiter.resolve(result);
      return;
    }
    this.#finishedJobs.set(jobPath, result);
    if (this.#finishedJobs.size > MAX_REMEMBERED_JOBS) {
      const oldest = this.#finishedJobs.keys().next();
      if (oldest.done !== true) this.#finishedJobs.delete(oldest.value);
    }
  }

  #waitJob(jobPath: string, what: string): Promise<string> {
    const known = this.#finishedJobs.get(jobPath);
    if (known !== undefined) {
      this.#finishedJobs.delete(jobPath);
      return Promise.resolve(known);
    }
    return new Promise<string>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#jobWaiters.delete(jobPath);
        reject(
          new LaunchplaneError(
            'LP_TIMEOUT',
            `Cannot ${what}: job "${jobPath}" did not finish within ${this.#jobTimeoutMs} ms`,
            {
              recovery: 'Check the unit with `systemctl status`; the job may still be running',
            },
          ),
        );
      }, this.#jobTimeoutMs);
      this.#jobWaiters.set(jobPath, {
        resolve: (result) => {
          clearTimeout(timer);
          resolve(result);
        },
        reject: (error) => {
          clearTimeout(timer);
          reject(error);
        },
      });
    });
  }

  async #call(
    path: string,
    iface: string,
    member: string,
    signature: string,
    body: unknown[],
  ): Promise<unknown[]> {
    if (this.#closed)
      throw new LaunchplaneError(
        'LP_BACKEND_UNAVAILABLE',
        'Cannot reach systemd: the connection is closed',
      );
    if (this.#broken !== undefined) throw this.#unavailable('reach systemd', this.#broken);
    const destination = iface === 'org.freedesktop.DBus' ? 'org.freedesktop.DBus' : DEST;
    const message = new dbus.Message({
      destination,
      path: iface === 'org.freedesktop.DBus' ? '/org/freedesktop/DBus' : path,
      interface: iface,
      member,
      signature,
      body,
    });
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(
        () =>
          reject(
            new dbus.DBusError(
              'org.freedesktop.DBus.Error.Timeout',
              `no reply to ${member} within ${this.#callTimeoutMs} ms`,
            ),
          ),
        this.#callTimeoutMs,
      );
    });
    try {
      const reply = await Promise.race([this.#bus.call(message), timeout, this.#lostSignal]);
      return (reply?.body as unknown[] | undefined) ?? [];
    } finally {
      clearTimeout(timer);
    }
  }

  #unavailable(what: string, error: unknown): LaunchplaneError {
    if (error instanceof LaunchplaneError) return error;
    return new LaunchplaneError('LP_BACKEND_UNAVAILABLE', `Cannot ${what}: ${describe(error)}`, {
      recovery: this.#recovery,
      cause: error,
    });
  }

  /** Maps a D-Bus failure to UNAVAILABLE (bus/manager gone) or FAILED (systemd said no). */
  #failure(what: string, error: unknown, details: Record<string, unknown> = {}): LaunchplaneError {
    if (error instanceof LaunchplaneError) return error;
    if (
      this.#broken !== undefined ||
      (error instanceof dbus.DBusError && UNAVAILABLE_ERRORS.has(error.type))
    ) {
      return this.#unavailable(what, error);
    }
    return new LaunchplaneError('LP_BACKEND_FAILED', `Cannot ${what}: ${describe(error)}`, {
      details,
      cause: error,
    });
  }

  /** {@inheritDoc UnitManager.ping} */
  async ping(): Promise<void> {
    try {
      await this.#call(MANAGER_PATH, PROPERTIES, 'Get', 'ss', [MANAGER, 'Version']);
    } catch (error) {
      throw this.#unavailable('reach systemd', error);
    }
  }

  /** {@inheritDoc UnitManager.managerUid} */
  async managerUid(): Promise<number> {
    try {
      const owner = this.#managerName ?? DEST;
      const [uid] = await this.#call(
        MANAGER_PATH,
        'org.freedesktop.DBus',
        'GetConnectionUnixUser',
        's',
        [owner],
      );
      if (typeof uid === 'number' && Number.isSafeInteger(uid)) return uid;
      throw new Error(`the bus answered ${JSON.stringify(uid)} for the manager's uid`);
    } catch (error) {
      throw this.#failure('find the uid of the systemd manager', error);
    }
  }

  /** {@inheritDoc UnitManager.writeUnit} */
  async writeUnit(spec: UnitSpec): Promise<string> {
    const name = unitName(spec.laneId);
    const envFile = this.#envFile(name);
    const unitText = renderUnitFile(spec, {
      environmentFile: envFile,
      exitFile: this.#exitFile(name),
    });
    const envText = renderEnvironmentFile(spec.laneId, spec.environment);
    try {
      await mkdir(this.#envDir, { recursive: true, mode: 0o700 });
      await mkdir(this.#unitDir, { recursive: true, mode: 0o755 });
      await writeAtomic(envFile, envText, 0o600);
      await writeAtomic(join(this.#unitDir, name), unitText, 0o644);
    } catch (error) {
      throw new LaunchplaneError(
        'LP_BACKEND_FAILED',
        `Cannot write unit "${name}": ${describe(error)}`,
        {
          details: { unit: name, unitDir: this.#unitDir },
          cause: error,
        },
      );
    }
    await this.#reload(`write unit "${name}"`);
    return name;
  }

  async #reload(what: string): Promise<void> {
    try {
      await this.#reloadAfterNow();
    } catch (error) {
      throw this.#failure(`${what}: reload failed`, error);
    }
  }

  /** {@inheritDoc UnitManager.start} */
  async start(name: string): Promise<void> {
    await this.#runStartJob(name, 'StartUnit', 'start');
  }

  /** {@inheritDoc UnitManager.restart} */
  async restart(name: string): Promise<void> {
    await this.#runStartJob(name, 'RestartUnit', 'restart');
  }

  async #runStartJob(
    name: string,
    member: 'StartUnit' | 'RestartUnit',
    verb: string,
  ): Promise<void> {
    assertLaneUnitName(name);
    const what = `${verb} unit "${name}"`;
    let jobPath: string;
    try {
      [jobPath] = (await this.#call(MANAGER_PATH, MANAGER, member, 'ss', [name, 'replace'])) as [
        string,
      ];
    } catch (error) {
      throw this.#failure(what, error, { unit: name });
    }
    const result = await this.#waitJob(jobPath, what);
    const status = await this.status(name);
    const state = status === undefined ? 'not-found' : `${status.activeState}/${status.subState}`;
    if (
      result !== 'done' ||
      status === undefined ||
      !['active', 'activating', 'reloading'].includes(status.activeState)
    ) {
      throw new LaunchplaneError(
        'LP_BACKEND_FAILED',
        `Cannot ${what}: job ${result}, unit is ${state}` +
          (status !== undefined && status.execMainStatus !== 0
            ? ` (exit status ${status.execMainStatus})`
            : ''),
        {
          recovery: `Check \`systemctl status ${name}\`; after fixing it, clear a start limit with \`systemctl reset-failed ${name}\``,
          details: {
            unit: name,
            jobResult: result,
            activeState: status?.activeState,
            subState: status?.subState,
          },
        },
      );
    }
  }

  /** {@inheritDoc UnitManager.stop} */
  async stop(name: string): Promise<void> {
    assertLaneUnitName(name);
    const what = `stop unit "${name}"`;
    let jobPath: string;
    try {
      [jobPath] = (await this.#call(MANAGER_PATH, MANAGER, 'StopUnit', 'ss', [
        name,
        'replace',
      ])) as [string];
    } catch (error) {
      if (error instanceof dbus.DBusError && error.type === NO_SUCH_UNIT) return;
      throw this.#failure(what, error, { unit: name });
    }
    const result = await this.#waitJob(jobPath, what);
    const status = await this.status(name);
    if (
      result !== 'done' ||
      (status !== undefined &&
        ['active', 'activating', 'deactivating'].includes(status.activeState))
    ) {
      throw new LaunchplaneError(
        'LP_BACKEND_FAILED',
        `Cannot ${what}: job ${result}, unit is ${status === undefined ? 'gone' : `${status.activeState}/${status.subState}`}`,
        {
          recovery: `Check \`systemctl status ${name}\``,
          details: { unit: name, jobResult: result },
        },
      );
    }
  }

  /** {@inheritDoc UnitManager.removeUnit} */
  async removeUnit(name: string): Promise<void> {
    assertLaneUnitName(name);
    const status = await this.status(name);
    if (
      status !== undefined &&
      status.activeState !== 'inactive' &&
      status.activeState !== 'failed'
    ) {
      await this.stop(name);
    }
    try {
      await rm(join(this.#unitDir, name), { force: true });
      await rm(this.#envFile(name), { force: true });
      await rm(this.#exitFile(name), { force: true });
    } catch (error) {
      throw new LaunchplaneError(
        'LP_BACKEND_FAILED',
        `Cannot remove unit "${name}": ${describe(error)}`,
        {
          details: { unit: name },
          cause: error,
        },
      );
    }
    await this.#reload(`remove unit "${name}"`);
    try {
      await this.#call(MANAGER_PATH, MANAGER, 'ResetFailedUnit', 's', [name]);
    } catch (error) {
      // Nothing to reset: the unit is already unloaded.
      if (!(
        error instanceof dbus.DBusError &&
        (error.type === NO_SUCH_UNIT || error.type === LOAD_FAILED)
      )) {
        throw this.#failure(`remove unit "${name}": reset-failed`, error, { unit: name });
      }
    }
  }

  /** {@inheritDoc UnitManager.status} */
  async status(name: string): Promise<UnitStatus | undefined> {
    assertLaneUnitName(name);
    const what = `read status of unit "${name}"`;
    try {
      const [path] = (await this.#call(MANAGER_PATH, MANAGER, 'LoadUnit', 's', [name])) as [string];
      const [unitProps] = (await this.#call(path, PROPERTIES, 'GetAll', 's', [UNIT])) as [
        Record<string, Variant>,
      ];
      const [serviceProps] = (await this.#call(path, PROPERTIES, 'GetAll', 's', [SERVICE])) as [
        Record<string, Variant>,
      ];
      const loadState = str(unitProps['LoadState']);
      const fragmentPath = str(unitProps['FragmentPath']);
      const marker = await this.#readMarker(
        fragmentPath === '' ? join(this.#unitDir, name) : fragmentPath,
      );
      const fileExists = marker.exists;
      if (loadState === 'not-found' && !fileExists) return undefined;
      const activeState = str(unitProps['ActiveState']);
      let exit = {
        code: num(serviceProps['ExecMainCode']),
        status: num(serviceProps['ExecMainStatus']),
        result: str(serviceProps['Result']),
      };
      // systemd unloads a unit that stopped cleanly and forgets how it ended: the unit's own
      // record (ExecStopPost=) keeps it.
      if (exit.code === 0 && (activeState === 'inactive' || activeState === 'failed')) {
        exit = (await this.#readExitRecord(name)) ?? exit;
      }
      return {
        name,
        loadState,
        activeState,
        subState: str(unitProps['SubState']),
        nRestarts: num(serviceProps['NRestarts']),
        mainPid: num(serviceProps['MainPID']),
        execMainCode: exit.code,
        execMainStatus: exit.status,
        result: exit.result,
        controlGroup: str(serviceProps['ControlGroup']),
        marker: marker.value,
        fragmentPath,
      };
    } catch (error) {
      throw this.#failure(what, error, { unit: name });
    }
  }

  async #readMarker(path: string): Promise<{ exists: boolean; value: string | undefined }> {
    try {
      return { exists: true, value: parseLaneMarker(await readFile(path, 'utf8')) };
    } catch (error) {
      if (isErrno(error, 'ENOENT')) return { exists: false, value: undefined };
      throw error;
    }
  }

  /** {@inheritDoc UnitManager.list} */
  async list(): Promise<UnitStatus[]> {
    const names = new Set<string>();
    try {
      const [units] = (await this.#call(MANAGER_PATH, MANAGER, 'ListUnitsByPatterns', 'asas', [
        [],
        [LANE_UNIT_PATTERN],
      ])) as [unknown[][]];
      for (const unit of units) {
        const unitName = unit[0];
        if (typeof unitName === 'string' && isLaneUnitName(unitName)) names.add(unitName);
      }
      // Unit files anywhere in the manager's search path, loaded or not (e.g. a hand-made lane
      // in /run/systemd/system that nothing has loaded yet).
      const [files] = (await this.#call(MANAGER_PATH, MANAGER, 'ListUnitFilesByPatterns', 'asas', [
        [],
        [LANE_UNIT_PATTERN],
      ])) as [[string, string][]];
      for (const [path] of files) {
        const file = basename(path);
        if (isLaneUnitName(file)) names.add(file);
      }
    } catch (error) {
      throw this.#failure('list lane units', error);
    }
    try {
      for (const file of await readdir(this.#unitDir)) {
        if (isLaneUnitName(file)) names.add(file);
      }
    } catch (error) {
      if (!isErrno(error, 'ENOENT')) {
        throw new LaunchplaneError(
          'LP_BACKEND_FAILED',
          `Cannot list lane units: ${describe(error)}`,
          { cause: error },
        );
      }
    }
    const statuses: UnitStatus[] = [];
    for (const name of [...names].sort()) {
      const status = await this.status(name);
      if (status !== undefined) statuses.push(status);
    }
    return statuses;
  }

  /** {@inheritDoc UnitManager.pids} */
  async pids(name: string): Promise<number[]> {
    assertLaneUnitName(name);
    try {
      const [processes] = (await this.#call(MANAGER_PATH, MANAGER, 'GetUnitProcesses', 's', [
        name,
      ])) as [[string, number, string][]];
      return [...new Set(processes.map(([, pid]) => pid))].sort((a, b) => a - b);
    } catch (error) {
      if (error instanceof dbus.DBusError && error.type === NO_SUCH_UNIT) return [];
      throw this.#failure(`list processes of unit "${name}"`, error, { unit: name });
    }
  }

  /** {@inheritDoc UnitManager.probe} */
  async probe(specs: readonly ProbeSpec[]): Promise<ProbeOutcome[]> {
    if (specs.length === 0) return [];
    const id = randomBytes(4).toString('hex');
    const names = specs.map((_, i) => `launchplane-probe-${id}-${i}.service`);
    const texts = specs.map((spec) => renderProbeUnit(spec));
    try {
      await mkdir(this.#unitDir, { recursive: true, mode: 0o755 });
      for (const [i, name] of names.entries()) {
        await writeAtomic(join(this.#unitDir, name), texts[i] ?? '', 0o644);
      }
    } catch (error) {
      await this.#removeProbes(names, false);
      throw new LaunchplaneError(
        'LP_BACKEND_FAILED',
        `Cannot write hardening probes: ${describe(error)}`,
        { details: { unitDir: this.#unitDir }, cause: error },
      );
    }
    try {
      await this.#reload('write hardening probes');
      return await Promise.all(names.map((name) => this.#runProbe(name)));
    } finally {
      await this.#removeProbes(names, true);
    }
  }

  async #runProbe(name: string): Promise<ProbeOutcome> {
    let jobPath: string;
    try {
      [jobPath] = (await this.#call(MANAGER_PATH, MANAGER, 'StartUnit', 'ss', [
        name,
        'replace',
      ])) as [string];
    } catch (error) {
      const e = this.#failure(`start probe "${name}"`, error);
      if (e.code === 'LP_BACKEND_UNAVAILABLE') throw e;
      return { ok: false, detail: `refused: ${describe(error)}` };
    }
    let timer: NodeJS.Timeout | undefined;
    const result = await Promise.race([
      this.#waitJob(jobPath, `run probe "${name}"`),
      new Promise<string>((resolve) => {
        timer = setTimeout(() => resolve('timeout'), PROBE_TIMEOUT_MS);
      }),
    ]).finally(() => clearTimeout(timer));
    if (result === 'done') return { ok: true, detail: 'ran' };
    try {
      const [path] = (await this.#call(MANAGER_PATH, MANAGER, 'LoadUnit', 's', [name])) as [string];
      const [props] = (await this.#call(path, PROPERTIES, 'GetAll', 's', [SERVICE])) as [
        Record<string, Variant>,
      ];
      const code = num(props['ExecMainCode']);
      return {
        ok: false,
        detail: code === 0 ? `job ${result}` : describeExit(code, num(props['ExecMainStatus'])),
      };
    } catch {
      return { ok: false, detail: `job ${result}` };
    }
  }

  /** Stops and deletes probe units, and forgets them (best effort: they ran /bin/true). */
  async #removeProbes(names: readonly string[], loaded: boolean): Promise<void> {
    for (const name of names) {
      if (loaded) {
        await this.#call(MANAGER_PATH, MANAGER, 'StopUnit', 'ss', [name, 'replace']).catch(
          () => undefined,
        );
      }
      await rm(join(this.#unitDir, name), { force: true }).catch(() => undefined);
    }
    if (!loaded) return;
    await this.#reload('remove hardening probes').catch(() => undefined);
    for (const name of names) {
      await this.#call(MANAGER_PATH, MANAGER, 'ResetFailedUnit', 's', [name]).catch(
        () => undefined,
      );
    }
  }

  /** {@inheritDoc UnitManager.close} */
  close(): Promise<void> {
    if (!this.#closed) {
      this.#closed = true;
      this.#bus.disconnect();
    }
    return Promise.resolve();
  }

  #envFile(name: string): string {
    return join(this.#envDir, `${name.slice(0, -'.service'.length)}.env`);
  }

  /** Where the unit records how its main process ended (beside its environment file, root only). */
  #exitFile(name: string): string {
    return join(this.#envDir, `${name.slice(0, -'.service'.length)}.exit`);
  }

  async #readExitRecord(name: string): Promise<ExitRecord | undefined> {
    try {
      return parseExitRecord(await readFile(this.#exitFile(name), 'utf8'), osConstants.signals);
    } catch (error) {
      if (isErrno(error, 'ENOENT')) return undefined;
      throw error;
    }
  }
}

async function writeAtomic(path: string, text: string, mode: number): Promise<void> {
  const tmp = `${path}.${randomBytes(6).toString('hex')}.tmp`;
  const handle = await open(tmp, 'wx', mode);
  try {
    await handle.writeFile(text, 'utf8');
    await handle.chmod(mode);
    await handle.sync();
  } finally {
    await handle.close();
  }
  try {
    await rename(tmp, path);
  } catch (error) {
    await rm(tmp, { force: true });
    throw error;
  }
}

function str(variant: Variant | undefined): string {
  const value: unknown = variant?.value;
  return typeof value === 'string' ? value : '';
}

function num(variant: Variant | undefined): number {
  const value: unknown = variant?.value;
  if (typeof value === 'number') return value;
  if (typeof value === 'bigint') return Number(value);
  return 0;
}

function isErrno(error: unknown, code: string): boolean {
  return typeof error === 'object' && error !== null && (error as { code?: unknown }).code === code;
}

function describe(error: unknown): string {
  if (error instanceof dbus.DBusError) return `${error.text || error.type} (${error.type})`;
  if (error instanceof Error) return error.message;
  return String(error);
}
