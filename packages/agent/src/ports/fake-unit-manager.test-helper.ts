/**
 * An in-memory {@link UnitManager} for unit tests: units, their marker and state, and a log of
 * every call, with knobs to kill a unit, refuse starts, or plant a hand-made look-alike.
 */
import { LaunchplaneError, unitName } from '@launchplane/shared';
import type { ProbeOutcome, ProbeSpec, UnitManager, UnitSpec, UnitStatus } from './unit-manager.js';

/** One fake unit. */
export interface FakeUnit {
  name: string;
  marker: string | undefined;
  spec: UnitSpec | undefined;
  activeState: string;
  subState: string;
  pids: number[];
  /** How the main process last ended: `ExecMainCode`, `ExecMainStatus`, `Result`. */
  exit: { code: number; status: number; result: string };
}

const NO_EXIT = { code: 0, status: 0, result: 'success' };

/** Fake systemd. */
export class FakeUnitManager implements UnitManager {
  readonly units = new Map<string, FakeUnit>();
  /** Every mutating call, `op name`. */
  readonly calls: string[] = [];
  /** When set, start/restart reject with this error. */
  startError: LaunchplaneError | undefined;
  /** When true, every call rejects with LP_BACKEND_UNAVAILABLE. */
  down = false;
  /** The uid the fake manager runs as (0: it can switch users). */
  uid = 0;
  /** Hardening settings whose probe fails here, with the reason. */
  readonly unsupported = new Map<string, string>();
  /** Every probe run. */
  readonly probes: ProbeSpec[] = [];

  #check(): void {
    if (this.down) throw new LaunchplaneError('LP_BACKEND_UNAVAILABLE', 'systemd is not reachable');
  }

  /** Plants a unit that the agent did not make (a look-alike). */
  plant(name: string, options: { marker?: string; active?: boolean } = {}): FakeUnit {
    const u: FakeUnit = {
      name,
      marker: options.marker,
      spec: undefined,
      activeState: options.active === false ? 'inactive' : 'active',
      subState: options.active === false ? 'dead' : 'running',
      pids: [],
      exit: NO_EXIT,
    };
    this.units.set(name, u);
    return u;
  }

  /** Makes a unit's process die of SIGKILL, as if the runner crashed. */
  kill(name: string): void {
    const u = this.units.get(name);
    if (u !== undefined) {
      u.activeState = 'failed';
      u.subState = 'failed';
      u.pids = [];
      u.exit = { code: 2, status: 9, result: 'signal' };
    }
  }

  /** Makes a unit's process exit with `status` (run.sh's exit status). */
  exit(name: string, status: number): void {
    const u = this.units.get(name);
    if (u !== undefined) {
      const ok = status === 0 || status === 130 || status === 143;
      u.activeState = ok ? 'inactive' : 'failed';
      u.subState = ok ? 'dead' : 'failed';
      u.pids = [];
      u.exit = { code: 1, status, result: ok ? 'success' : 'exit-code' };
    }
  }

  writeUnit(spec: UnitSpec): Promise<string> {
    this.#check();
    const name = unitName(spec.laneId);
    this.calls.push(`write ${name}`);
    const prev = this.units.get(name);
    this.units.set(name, {
      name,
      marker: spec.laneId,
      spec,
      activeState: prev?.activeState ?? 'inactive',
      subState: prev?.subState ?? 'dead',
      pids: prev?.pids ?? [],
      exit: prev?.exit ?? NO_EXIT,
    });
    return Promise.resolve(name);
  }

  /** When set, a start waits for what it returns before the unit runs (a slow start). */
  beforeStart: ((name: string) => Promise<void>) | undefined;

  async start(name: string): Promise<void> {
    this.#check();
    this.calls.push(`start ${name}`);
    await this.beforeStart?.(name);
    const u = this.units.get(name);
    if (u === undefined)
      return Promise.reject(new LaunchplaneError('LP_BACKEND_FAILED', `Unit "${name}" not found`));
    if (this.startError !== undefined) {
      u.activeState = 'failed';
      u.subState = 'failed';
      return Promise.reject(this.startError);
    }
    u.exit = NO_EXIT;
    u.activeState = 'active';
    u.subState = 'running';
    return Promise.resolve();
  }

  stop(name: string): Promise<void> {
    this.#check();
    this.calls.push(`stop ${name}`);
    const u = this.units.get(name);
    if (u !== undefined) {
      const wasRunning = u.activeState === 'active';
      u.activeState = 'inactive';
      u.subState = 'dead';
      u.pids = [];
      // run.sh under RUNNER_MANUALLY_TRAP_SIG ends a stop with 128 + SIGTERM.
      if (wasRunning) u.exit = { code: 1, status: 143, result: 'success' };
    }
    return Promise.resolve();
  }

  async restart(name: string): Promise<void> {
    this.#check();
    this.calls.push(`restart ${name}`);
    await this.stop(name);
    this.calls.pop();
    await this.start(name);
    this.calls.pop();
  }

  removeUnit(name: string): Promise<void> {
    this.#check();
    this.calls.push(`remove ${name}`);
    this.units.delete(name);
    return Promise.resolve();
  }

  status(name: string): Promise<UnitStatus | undefined> {
    this.#check();
    const u = this.units.get(name);
    if (u === undefined) return Promise.resolve(undefined);
    return Promise.resolve({
      name,
      loadState: 'loaded',
      activeState: u.activeState,
      subState: u.subState,
      nRestarts: 0,
      mainPid: u.pids[0] ?? 0,
      execMainCode: u.exit.code,
      execMainStatus: u.exit.status,
      result: u.exit.result,
      controlGroup: `/app.slice/${name}`,
      marker: u.marker,
      fragmentPath: `/fake/${name}`,
    });
  }

  async list(): Promise<UnitStatus[]> {
    const out: UnitStatus[] = [];
    for (const name of this.units.keys()) {
      const s = await this.status(name);
      if (s !== undefined) out.push(s);
    }
    return out;
  }

  pids(name: string): Promise<number[]> {
    this.#check();
    return Promise.resolve([...(this.units.get(name)?.pids ?? [])]);
  }

  ping(): Promise<void> {
    this.#check();
    return Promise.resolve();
  }

  managerUid(): Promise<number> {
    this.#check();
    return Promise.resolve(this.uid);
  }

  probe(specs: readonly ProbeSpec[]): Promise<ProbeOutcome[]> {
    this.#check();
    this.probes.push(...specs);
    return Promise.resolve(
      specs.map((spec) => {
        const failing = spec.settings.find((name) => this.unsupported.has(name));
        return failing === undefined
          ? { ok: true, detail: 'ran' }
          : { ok: false, detail: this.unsupported.get(failing) ?? 'failed' };
      }),
    );
  }

  close(): Promise<void> {
    return Promise.resolve();
  }
}
