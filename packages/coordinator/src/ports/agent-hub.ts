/**
 * The live agent sessions, as the rest of the coordinator sees them. The server implements it
 * over WebSocket sessions; the executor and planner only use this port.
 */
import type { Command, InventoryMessage, ResultPayload } from '@launchplane/shared';
import type { HostHealth } from '../domain/host-health.js';

export interface HostSessionInfo {
  hostId: string;
  /** Unix seconds. */
  connectedAt: number;
  lastSeenAt: number;
  agentVersion: string;
  /** The last inventory the agent sent; undefined until the first one arrives. */
  inventory: InventoryMessage | undefined;
  /** The agent's last health report; undefined until one arrives (or from an older agent). */
  health?: HostHealth | undefined;
}

export interface SendOptions {
  /** How long to wait for the agent's result (default 30 s). */
  timeoutMs?: number;
  /** Token id, `reconciler`, …: recorded with the command. */
  actor: string;
}

export interface AgentHub {
  /**
   * Signs `cmd` for `hostId` (fresh jti, next seq, exp ≤ 300 s), sends it over the host's live
   * session, and resolves with the verified result. Rejects with `LP_HOST_OFFLINE` when the host
   * has no session, `LP_TIMEOUT` when no result came in time, `LP_HOST_REVOKED` for a revoked
   * host. A result with `ok: false` resolves (it is an answer), it does not reject.
   */
  send(hostId: string, cmd: Command, opts: SendOptions): Promise<ResultPayload>;
  /** The live session of a host, if it has one. */
  session(hostId: string): HostSessionInfo | undefined;
  /** Every live session. */
  sessions(): HostSessionInfo[];
  /**
   * Calls `listener` after a host's report changed the recorded state of one of its lanes (a lane
   * came online, took a job or finished one). Optional: a hub without reports never calls it.
   */
  onLaneChange?(listener: () => void): void;
}
