/**
 * Which of the lane hardening settings (`adapters/systemd/unit-hardening.ts`) this host supports,
 * found out once when the agent starts: short-lived probe units, one per setting (and one with the
 * sandbox alone), started through the same systemd manager the lanes use and run as the user the
 * lanes run as. The settings that work alone are then probed together; should that fail, they are
 * added one by one and kept while the probe still runs. The agent applies what works to every
 * lane unit it writes, logs what it left out and why, and `launchplane-agent doctor` and `status`
 * show it.
 */
import { LANE_HARDENING } from '../adapters/systemd/unit-hardening.js';
import type { UnitManager } from '../ports/unit-manager.js';
import type { UserAccounts } from '../ports/user-accounts.js';
import type { SystemdRunAs } from './lane-users.js';

/** What the probe found. */
export interface HardeningReport {
  /** Settings every new lane unit gets, by name. */
  applied: string[];
  /** Settings left out, each with why. */
  omitted: { setting: string; reason: string }[];
  /** The user the probes ran as; undefined: the manager's own user. */
  probedAs?: string;
}

/**
 * The user a probe runs as: a lane's own user does not exist before its lane, so on a host with
 * a user per lane the probe runs as `nobody` (an unprivileged user like them); otherwise as the
 * shared user, or as the manager itself.
 */
export async function probeUser(
  runAs: SystemdRunAs,
  accounts: UserAccounts,
): Promise<string | undefined> {
  switch (runAs.kind) {
    case 'lane-users':
      return (await accounts.byName('nobody')) === undefined ? undefined : 'nobody';
    case 'shared':
      return runAs.account.name;
    case 'manager':
      return undefined;
  }
}

/** Probes every setting (see the module comment). Rejects only when the manager cannot be reached. */
export async function probeLaneHardening(
  units: Pick<UnitManager, 'probe'>,
  options: { user?: string | undefined; readWritePaths: readonly string[] },
): Promise<HardeningReport> {
  const base = {
    readWritePaths: options.readWritePaths,
    ...(options.user === undefined ? {} : { user: options.user }),
  };
  const report: HardeningReport = {
    applied: [],
    omitted: [],
    ...(options.user === undefined ? {} : { probedAs: options.user }),
  };
  const [sandbox, ...alone] = await units.probe([
    { ...base, settings: [] },
    ...LANE_HARDENING.map((s) => ({ ...base, settings: [s.name] })),
  ]);
  if (sandbox !== undefined && !sandbox.ok) {
    for (const s of LANE_HARDENING) {
      report.omitted.push({
        setting: s.name,
        reason: `the lane sandbox alone does not run here (${sandbox.detail})`,
      });
    }
    return report;
  }
  const working: string[] = [];
  LANE_HARDENING.forEach((s, i) => {
    const outcome = alone[i];
    if (outcome?.ok === true) working.push(s.name);
    else report.omitted.push({ setting: s.name, reason: outcome?.detail ?? 'not probed' });
  });
  if (working.length === 0) return report;
  const [together] = await units.probe([{ ...base, settings: working }]);
  if (together?.ok === true) {
    report.applied = working;
    return report;
  }
  for (const name of working) {
    const [outcome] = await units.probe([{ ...base, settings: [...report.applied, name] }]);
    if (outcome?.ok === true) report.applied.push(name);
    else {
      report.omitted.push({
        setting: name,
        reason: `works alone, not with ${report.applied.join(', ') || 'the others'} (${outcome?.detail ?? 'not probed'})`,
      });
    }
  }
  return report;
}
