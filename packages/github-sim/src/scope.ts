/** Where a runner is registered: one repository or one organization. */
export type Scope = { kind: 'repo'; owner: string; repo: string } | { kind: 'org'; org: string };

/** A stable string form of a scope: `repo:acme/api` or `org:acme`. */
export function scopeKey(scope: Scope): string {
  return scope.kind === 'repo'
    ? `repo:${scope.owner}/${scope.repo}`.toLowerCase()
    : `org:${scope.org}`.toLowerCase();
}

/** Parses a key made by {@link scopeKey}. */
export function parseScopeKey(key: string): Scope {
  if (key.startsWith('repo:')) {
    const [owner = '', repo = ''] = key.slice(5).split('/');
    return { kind: 'repo', owner, repo };
  }
  return { kind: 'org', org: key.slice(4) };
}

/** The owner (org or user) a scope belongs to. */
export function scopeOwner(scope: Scope): string {
  return (scope.kind === 'repo' ? scope.owner : scope.org).toLowerCase();
}

/**
 * Parses a runner `--url` (`http://host:port/acme/api` or `http://host:port/acme`) into the sim
 * origin and the scope, as actions/runner derives them from the repository or organization URL.
 */
export function parseRunnerUrl(raw: string): { origin: string; scope: Scope } | null {
  let u: URL;
  try {
    u = new URL(raw);
  } catch {
    return null;
  }
  const parts = u.pathname.split('/').filter((p) => p !== '');
  if (parts.length === 1 && parts[0] !== undefined)
    return { origin: u.origin, scope: { kind: 'org', org: parts[0] } };
  if (parts.length === 2 && parts[0] !== undefined && parts[1] !== undefined) {
    return { origin: u.origin, scope: { kind: 'repo', owner: parts[0], repo: parts[1] } };
  }
  return null;
}

/** Whether a job of `jobScope` may run on a runner registered at `runnerScope`. */
export function scopeServes(runnerScope: Scope, jobScope: Scope): boolean {
  if (runnerScope.kind === 'org') return scopeOwner(jobScope) === runnerScope.org.toLowerCase();
  return scopeKey(runnerScope) === scopeKey(jobScope);
}
