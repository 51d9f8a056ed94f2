import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { parseAgentConfig } from './agent-config.js';
import { parsePolicy } from './policy.js';

const example = (name: string) =>
  readFileSync(new URL(`../../../examples/${name}`, import.meta.url), 'utf8');

describe('the examples in examples/', () => {
  it('policy.yaml is a valid policy', () => {
    const r = parsePolicy(example('policy.yaml'));
    expect(r.ok ? 'ok' : r.issues).toBe('ok');
  });

  it('agent.yaml is a valid agent config with fail-closed defaults elsewhere', () => {
    const r = parseAgentConfig(example('agent.yaml'));
    expect(r.ok ? 'ok' : r.issues).toBe('ok');
    if (r.ok) expect(r.value.health.maxFailures).toBe(5);
    const bare = parseAgentConfig('hostId: host-z\n');
    expect(bare.ok && bare.value.optIn).toEqual({
      repositories: [],
      organizations: [],
      backends: [],
      maxLanes: 0,
    });
  });
});
