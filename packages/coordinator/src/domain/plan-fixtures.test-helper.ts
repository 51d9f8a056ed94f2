/**
 * Builders for planner inputs in tests: hosts, lane records, agent reports and GitHub runners
 * that are consistent with each other unless a test says otherwise.
 */
import { laneLabels, runnerName, type LaneReport, type Policy } from '@launchplane/shared';
import type { GitHubRunner } from '../ports/github-runners.js';
import type { LaneRecord } from '../ports/store.js';
import type { PlanHost } from './plan.js';

export const COORDINATOR_ID = 'coord-test-0001';
export const NOW = 1_764_370_000;

/** A valid lowercase ULID whose order follows `n`. */
export function laneIdOf(n: number): string {
  return `01hzzzzzzzzzzzzzzzzzzz${String(n).padStart(4, '0')}`;
}

/** A policy object (not parsed: tests may build ones the schema would refuse). */
export function policyOf(over: Partial<Policy> = {}): Policy {
  return {
    version: 1,
    allowedHosts: ['host-a', 'host-b'],
    allowedRepositories: ['acme/api'],
    allowedOrganizations: [],
    pools: {
      build: {
        repository: 'acme/api',
        labels: ['linux'],
        backend: 'systemd',
        ephemeral: false,
        runnerGroupId: 1,
        lanes: { 'host-a': 2 },
      },
    },
    ...over,
  };
}

export function hostOf(hostId: string, over: Partial<PlanHost> = {}): PlanHost {
  return {
    hostId,
    enrolled: true,
    revoked: false,
    connected: true,
    optIn: {
      repositories: ['acme/api'],
      organizations: [],
      backends: ['systemd', 'docker'],
      maxLanes: 4,
    },
    capabilities: [],
    lanes: [],
    ...over,
  };
}

export function laneOf(n: number, over: Partial<LaneRecord> = {}): LaneRecord {
  const laneId = over.laneId ?? laneIdOf(n);
  const hostId = over.hostId ?? 'host-a';
  const pool = over.pool ?? 'build';
  return {
    laneId,
    hostId,
    pool,
    purpose: 'pool',
    scope: { repository: 'acme/api' },
    backend: 'systemd',
    ephemeral: false,
    runnerName: runnerName(hostId, pool, laneId),
    runnerId: 1000 + n,
    labels: laneLabels({ coordinatorId: COORDINATOR_ID, laneId, pool, poolLabels: ['linux'] }),
    state: 'online',
    recovery: undefined,
    lastError: undefined,
    createdAt: NOW - 1000 + n,
    updatedAt: NOW - 1000 + n,
    ...over,
  };
}

/** The GitHub runner of a lane, as GitHub would show it when all is well. */
export function runnerOf(lane: LaneRecord, over: Partial<GitHubRunner> = {}): GitHubRunner {
  return {
    id: lane.runnerId ?? 1,
    name: lane.runnerName,
    os: 'Linux',
    status: 'online',
    busy: false,
    labels: ['self-hosted', 'Linux', 'X64', ...lane.labels],
    ...over,
  };
}

/** The agent's report of a lane. */
export function reportOf(lane: LaneRecord, over: Partial<LaneReport> = {}): LaneReport {
  return {
    laneId: lane.laneId,
    name: lane.runnerName,
    pool: lane.pool,
    scope: lane.scope,
    backend: lane.backend,
    ephemeral: lane.ephemeral,
    state: lane.state,
    ...(lane.runnerId === undefined ? {} : { runnerId: lane.runnerId }),
    labels: lane.labels,
    restarts: 0,
    createdAt: lane.createdAt,
    updatedAt: lane.updatedAt,
    ...over,
  };
}
