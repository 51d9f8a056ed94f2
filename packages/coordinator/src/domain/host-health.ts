/**
 * Whether a host's health loop still runs. An agent whose loop is wedged (e.g. blocked on a
 * file a job planted) still answers heartbeats, so a live session proves nothing: the agent
 * reports when its last health pass finished (`health` frames), and a host whose last pass is
 * older than a few intervals is degraded — shown so by `launchplane hosts`, and the plan makes no
 * lane on it (guardrail `host-degraded`). Pure: the time is passed in.
 */

/** A host's last health report, in the coordinator's clock (Unix seconds). */
export interface HostHealth {
  /** The agent's `health.intervalSec`. */
  intervalSec: number;
  /** When the agent started. */
  startedAt: number;
  /** When its last pass finished; undefined when none has since it started. */
  lastPassAt?: number | undefined;
  /** Since when the pass in progress runs, as of the report. */
  passStartedAt?: number | undefined;
  /** When the report arrived. */
  reportedAt: number;
}

/** A host whose health loop is this many intervals late is degraded… */
export const HEALTH_STALE_INTERVALS = 3;
/** …and never sooner than this many seconds. */
export const HEALTH_STALE_MIN_SEC = 30;

/** How late a host's health loop is, when it is late enough to count as degraded. */
export interface StaleHealth {
  /** Seconds since the last pass finished (or the agent started, when none has). */
  ageSec: number;
  /** An operator's sentence. */
  message: string;
}

/** The seconds after which a loop with `intervalSec` is degraded. */
export function staleAfterSec(intervalSec: number): number {
  return Math.max(HEALTH_STALE_INTERVALS * intervalSec, HEALTH_STALE_MIN_SEC);
}

/**
 * Whether the host's health loop is late (see the module comment); undefined when it is not, or
 * when the agent never reported (an agent too old to send `health` frames).
 */
export function staleHealth(
  hostId: string,
  health: HostHealth | undefined,
  now: number,
): StaleHealth | undefined {
  if (health === undefined) return undefined;
  const since = health.lastPassAt ?? health.startedAt;
  const ageSec = Math.max(0, now - since);
  if (ageSec <= staleAfterSec(health.intervalSec)) return undefined;
  const what =
    health.lastPassAt === undefined
      ? `has finished no health pass since its agent started ${ageSec}s ago`
      : `has finished no health pass for ${ageSec}s`;
  return {
    ageSec,
    message: `Host "${hostId}" ${what} (interval ${health.intervalSec}s): its agent may be wedged`,
  };
}
