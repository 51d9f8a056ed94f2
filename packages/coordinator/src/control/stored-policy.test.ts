import { describe, expect, it } from 'vitest';
import { parseStoredPolicy } from './stored-policy.js';

const A = 'version: 1\nallowedHosts: [host-a]\n';
const B = 'version: 1\nallowedHosts: [host-b]\n';

describe('parseStoredPolicy()', () => {
  it('parses a version once, and a new version afresh', () => {
    const first = parseStoredPolicy({ digest: 'sha256:a', text: A });
    expect(parseStoredPolicy({ digest: 'sha256:a', text: A })).toBe(first);
    const second = parseStoredPolicy({ digest: 'sha256:b', text: B });
    expect(second).not.toBe(first);
    expect(second.ok && second.value.allowedHosts).toEqual(['host-b']);
    expect(first.ok && first.value.allowedHosts).toEqual(['host-a']);
  });
});
