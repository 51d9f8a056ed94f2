import type { Scope } from './scope.js';
import type { RunnerRecord } from './sim-state.js';

/** The `.runner` and `.credentials` contents a configured runner keeps. */
export function runnerFiles(opts: {
  origin: string;
  scope: Scope;
  runner: RunnerRecord;
  workFolder: string;
  secret: string;
}): { runner: Record<string, unknown>; credentials: Record<string, unknown> } {
  const path =
    opts.scope.kind === 'repo' ? `${opts.scope.owner}/${opts.scope.repo}` : opts.scope.org;
  return {
    runner: {
      agentId: opts.runner.id,
      agentName: opts.runner.name,
      poolId: opts.runner.runnerGroupId,
      poolName: 'Default',
      serverUrl: opts.origin,
      gitHubUrl: `${opts.origin}/${path}`,
      workFolder: opts.workFolder,
      ephemeral: opts.runner.ephemeral,
    },
    credentials: {
      scheme: 'OAuth',
      data: { clientId: String(opts.runner.id), secret: opts.secret },
    },
  };
}
