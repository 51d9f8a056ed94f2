import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { LaunchplaneError } from '@launchplane/shared';
import { parseBody } from '../http/route.js';
import { compilePath, roleAllows } from './routes.js';

describe('routes', () => {
  it('roleAllows orders viewer < operator < admin', () => {
    expect(roleAllows('admin', 'operator')).toBe(true);
    expect(roleAllows('operator', 'operator')).toBe(true);
    expect(roleAllows('viewer', 'operator')).toBe(false);
    expect(roleAllows('operator', 'admin')).toBe(false);
  });

  it('compilePath matches parameters, decodes them, and refuses extra or empty segments', () => {
    const m = compilePath('/v1/lanes/:id/drain');
    expect(m.match('/v1/lanes/01abc/drain')).toEqual({ id: '01abc' });
    expect(m.match('/v1/lanes/a%20b/drain')).toEqual({ id: 'a b' });
    expect(m.match('/v1/lanes//drain')).toBeUndefined();
    expect(m.match('/v1/lanes/x/drain/more')).toBeUndefined();
    expect(m.match('/v1/lanes/%E0%A4%A/drain')).toBeUndefined();
  });

  it('parseBody refuses unknown fields with LP_USAGE naming the path, never the value', () => {
    const schema = z.strictObject({ role: z.enum(['viewer']) });
    expect(parseBody(schema, { role: 'viewer' })).toEqual({ role: 'viewer' });
    let err: unknown;
    try {
      parseBody(schema, { role: 'secret-value-xyz' });
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(LaunchplaneError);
    expect((err as LaunchplaneError).code).toBe('LP_USAGE');
    expect((err as LaunchplaneError).message).toContain('"role"');
    expect((err as LaunchplaneError).message).not.toContain('secret-value-xyz');
  });
});
