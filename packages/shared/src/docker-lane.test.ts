import { describe, expect, it } from 'vitest';
import { dockerNetworkSchema, imageAllowed, parseImageReference } from './docker-lane.js';

const D = `sha256:${'c'.repeat(64)}`;

describe('image references and the allowlist', () => {
  it('reads references the way docker does', () => {
    expect(parseImageReference('ubuntu:22.04')).toEqual({
      repository: 'docker.io/library/ubuntu',
      tag: '22.04',
    });
    expect(parseImageReference(`ghcr.io/a/b@${D}`)).toEqual({
      repository: 'ghcr.io/a/b',
      digest: D,
    });
    expect(parseImageReference('UPPER/case')).toHaveProperty('error');
  });

  it('matches a repository entry with any tag, and a digest entry only with that content', () => {
    expect(imageAllowed('ubuntu:22.04', ['docker.io/library/ubuntu'])).toBe(true);
    expect(imageAllowed('ubuntu', ['ubuntu'])).toBe(true);
    expect(imageAllowed('ubuntu-evil', ['ubuntu'])).toBe(false);
    expect(imageAllowed('evil.io/library/ubuntu', ['ubuntu'])).toBe(false);
    expect(imageAllowed(`ghcr.io/a/b@${D}`, [`ghcr.io/a/b@${D}`])).toBe(true);
    expect(imageAllowed('ghcr.io/a/b:1', [`ghcr.io/a/b@${D}`])).toBe(false);
    expect(imageAllowed('ghcr.io/a/b:1', [`ghcr.io/a/b@${D}`], [`ghcr.io/a/b@${D}`])).toBe(true);
    // A digest the image is known by in another repository proves nothing.
    expect(imageAllowed('ghcr.io/a/b:1', [`ghcr.io/a/b@${D}`], [`ghcr.io/x/y@${D}`])).toBe(false);
    expect(imageAllowed('not an image', ['not an image'])).toBe(false);
  });

  it("never accepts another container's network namespace", () => {
    for (const ok of ['bridge', 'host', 'none', 'lp-build_net.1']) {
      expect(dockerNetworkSchema.safeParse(ok).success, ok).toBe(true);
    }
    for (const bad of ['container:x', 'container:', 'a b', '-x', '']) {
      expect(dockerNetworkSchema.safeParse(bad).success, bad).toBe(false);
    }
  });
});
