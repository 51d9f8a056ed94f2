import type { ControlPlan } from '@launchplane/shared';
import { describe, expect, it } from 'vitest';
import { renderPlan } from './plan.js';

const BASE: ControlPlan = {
  version: 1,
  generatedAt: 1,
  policyDigest: 'sha256:abc',
  actions: [],
  blocked: [],
  unmanaged: [],
  ignoredCapabilities: [],
  degraded: [],
  summary: {
    desired: 0,
    observed: 0,
    creates: 0,
    reclaims: 0,
    removes: 0,
    restarts: 0,
    repairs: 0,
    blocked: 0,
    unmanaged: 0,
  },
};

describe('renderPlan() and demand', () => {
  it('shows each pool that follows demand with its demand, target and why, and the jobs no pool matches', () => {
    const text = renderPlan({
      ...BASE,
      scaling: {
        pools: [
          {
            pool: 'build',
            lanes: 0,
            busy: 0,
            queued: 3,
            taken: 0,
            waiting: 3,
            waitingJobs: [101, 102, 103],
            min: 0,
            max: 6,
            minIdle: 1,
            windows: [],
            target: 4,
            creates: 4,
            reclaims: 0,
            removes: 0,
            blocked: 0,
            capped: 0,
            demandKnown: true,
            reason: '3 queued jobs + minIdle 1 → target 4 (max 6)',
          },
        ],
        unmatched: [
          {
            jobId: 7,
            repository: 'acme/api',
            labels: ['self-hosted', 'linux\u001b[31m'],
            reason: 'github-default-label',
            message: 'Job 7 asks for "self-hosted"',
          },
        ],
        unmatchedTotal: 1,
      },
    });
    expect(text).toContain(
      '\ndemand:\n  pool build: 3 queued jobs + minIdle 1 → target 4 (max 6); 4 create [jobs 101, 102, 103]\n',
    );
    expect(text).toContain('queued jobs no pool matches (1):');
    expect(text).toMatch(
      /7\s+acme\/api\s+self-hosted,linux\[31m\s+asks for a GitHub default label \(self-hosted, Linux, X64 …\) no lane carries/,
    );
    expect(text).not.toContain('\u001b');
  });

  it('has no demand section when no pool follows demand', () => {
    expect(renderPlan(BASE)).not.toContain('demand');
  });
});
