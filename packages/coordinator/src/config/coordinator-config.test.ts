import { describe, expect, it } from 'vitest';
import { LaunchplaneError } from '@launchplane/shared';
import { agentUrlOf, parseCoordinatorConfig } from './coordinator-config.js';

describe('parseCoordinatorConfig', () => {
  it('fills defaults and resolves relative paths against the config directory', () => {
    const c = parseCoordinatorConfig(
      'dataDir: data\ntls: { cert: c.pem, key: /k.pem }\ngithub: { auth: { tokenFile: gh.token } }\n',
      { baseDir: '/etc/lp' },
    );
    expect(c.dataDir).toBe('/etc/lp/data');
    expect(c.tls).toEqual({ cert: '/etc/lp/c.pem', key: '/k.pem' });
    expect(c.github).toEqual({
      apiUrl: 'https://api.github.com',
      webUrl: 'https://github.com',
      auth: { tokenFile: '/etc/lp/gh.token' },
      minWriteIntervalMs: 1000,
    });
    expect(c.listen).toEqual({ host: '127.0.0.1', port: 7443 });
    expect(c.reconcile).toEqual({ auto: false, intervalSec: 30, minGapSec: 1 });
    expect(c.agents.heartbeatSec).toBe(15);
    expect(c.agents.maxBufferedBytes).toBe(1024 * 1024);
  });

  it('asks GitHub about a starting runner at most 10 s apart by default, and takes a shorter cap', () => {
    expect(parseCoordinatorConfig('dataDir: /d\n', { baseDir: '/' }).timeouts).toEqual({
      createOnlineSec: 300,
      drainSec: 900,
      onlinePollMaxSec: 10,
    });
    const c = parseCoordinatorConfig('dataDir: /d\ntimeouts: { onlinePollMaxSec: 2 }\n', {
      baseDir: '/',
    });
    expect(c.timeouts.onlinePollMaxSec).toBe(2);
    expect(() =>
      parseCoordinatorConfig('dataDir: /d\ntimeouts: { onlinePollMaxSec: 0 }\n', { baseDir: '/' }),
    ).toThrow(/timeouts\.onlinePollMaxSec/);
  });

  it('takes a reconcile gap of a tenth of a second or more, and refuses less', () => {
    const c = parseCoordinatorConfig('dataDir: /d\nreconcile: { auto: true, minGapSec: 0.25 }\n', {
      baseDir: '/',
    });
    expect(c.reconcile).toEqual({ auto: true, intervalSec: 30, minGapSec: 0.25 });
    expect(() =>
      parseCoordinatorConfig('dataDir: /d\nreconcile: { minGapSec: 0.01 }\n', { baseDir: '/' }),
    ).toThrow(/reconcile\.minGapSec/);
  });

  it("has drain settle defaults above GitHub's busy lag, and takes shorter ones", () => {
    const d = parseCoordinatorConfig('dataDir: /d\n', { baseDir: '/' });
    expect(d.drain).toEqual({ settleSec: 60, settleObservations: 3, pollSec: 5 });
    const c = parseCoordinatorConfig('dataDir: /d\ndrain: { settleSec: 4, pollSec: 1 }\n', {
      baseDir: '/',
    });
    expect(c.drain).toEqual({ settleSec: 4, settleObservations: 3, pollSec: 1 });
    expect(() =>
      parseCoordinatorConfig('dataDir: /d\ndrain: { settleObservations: 0 }\n', { baseDir: '/' }),
    ).toThrow(/drain\.settleObservations/);
  });

  it('has a 120 s command lifetime and refuses one past the protocol maximum of 300 s', () => {
    expect(parseCoordinatorConfig('dataDir: d\n', { baseDir: '/' }).agents.commandLifetimeSec).toBe(
      120,
    );
    const c = parseCoordinatorConfig('dataDir: d\nagents: { commandLifetimeSec: 5 }\n', {
      baseDir: '/',
    });
    expect(c.agents.commandLifetimeSec).toBe(5);
    for (const bad of [0, 301, 2.5]) {
      expect(() =>
        parseCoordinatorConfig(`dataDir: d\nagents: { commandLifetimeSec: ${bad} }\n`, {
          baseDir: '/',
        }),
      ).toThrow(/agents\.commandLifetimeSec/);
    }
  });

  it('refuses an agent buffer cap smaller than one largest frame', () => {
    expect(() =>
      parseCoordinatorConfig('dataDir: d\nagents: { maxBufferedBytes: 1000 }\n', { baseDir: '/' }),
    ).toThrow(/agents\.maxBufferedBytes/);
    const c = parseCoordinatorConfig('dataDir: d\nagents: { maxBufferedBytes: 262144 }\n', {
      baseDir: '/',
    });
    expect(c.agents.maxBufferedBytes).toBe(262_144);
  });

  it('has documented per-source limits, takes others, and refuses a bad exempt entry', () => {
    expect(parseCoordinatorConfig('dataDir: d\n', { baseDir: '/' }).limits).toEqual({
      pendingHandshakes: 128,
      pendingRequests: 32,
      pendingChallenges: 32,
      refusalsPerMinute: 60,
      exempt: [],
    });
    const c = parseCoordinatorConfig(
      'dataDir: d\nlimits: { pendingHandshakes: 4, exempt: [10.0.0.0/8, "2001:db8::/32", 192.0.2.7] }\n',
      { baseDir: '/' },
    );
    expect(c.limits.pendingHandshakes).toBe(4);
    expect(c.limits.exempt).toEqual(['10.0.0.0/8', '2001:db8::/32', '192.0.2.7']);
    for (const bad of ['10.0.0.0/33', 'example.com', '10.0.0.0/8/8', '::1/129']) {
      expect(() =>
        parseCoordinatorConfig(`dataDir: d\nlimits: { exempt: ["${bad}"] }\n`, { baseDir: '/' }),
      ).toThrow(/limits\.exempt\[0\]: must be an IP address/);
    }
    expect(() =>
      parseCoordinatorConfig('dataDir: d\nlimits: { refusalsPerMinute: 0 }\n', { baseDir: '/' }),
    ).toThrow(/limits\.refusalsPerMinute/);
  });

  it('names the YAML path and line of every problem', () => {
    let err: unknown;
    try {
      parseCoordinatorConfig('dataDir: d\nlisten:\n  port: 70000\nbogus: 1\n', {
        baseDir: '/',
        source: 'c.yaml',
      });
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(LaunchplaneError);
    const e = err as LaunchplaneError;
    expect(e.code).toBe('LP_CONFIG_INVALID');
    expect(e.message).toContain('listen.port');
    expect(e.message).toContain('c.yaml:3');
    expect(e.message).toMatch(/bogus/);
  });

  it('has no webhook by default, resolves its secret file, and polls with documented defaults', () => {
    const d = parseCoordinatorConfig('dataDir: d\n', { baseDir: '/' });
    expect(d.github.webhook).toBeUndefined();
    expect(d.jobs).toEqual({
      poll: { enabled: true, intervalSec: 60, minRateRemaining: 500 },
      retention: { completedSec: 86_400, staleSec: 604_800, deliveriesSec: 259_200 },
    });
    const c = parseCoordinatorConfig(
      'dataDir: d\ngithub: { webhook: { secretFile: hook.secret } }\njobs: { poll: { enabled: false } }\n',
      { baseDir: '/etc/lp' },
    );
    expect(c.github.webhook).toEqual({
      secretFile: '/etc/lp/hook.secret',
      maxBodyBytes: 1_048_576,
    });
    expect(c.jobs.poll).toEqual({ enabled: false, intervalSec: 60, minRateRemaining: 500 });
    for (const [bad, path] of [
      ['github: { webhook: { secret: x } }', /github\.webhook/],
      ['github: { webhook: {} }', /github\.webhook\.secretFile/],
      ['jobs: { poll: { intervalSec: 1 } }', /jobs\.poll\.intervalSec/],
      ['jobs: { retention: { completedSec: 60 } }', /jobs\.retention\.completedSec/],
    ] as const) {
      expect(() => parseCoordinatorConfig(`dataDir: d\n${bad}\n`, { baseDir: '/' })).toThrow(path);
    }
  });

  it('spaces writes to GitHub a second apart by default, takes another gap, and refuses a bad one', () => {
    expect(parseCoordinatorConfig('dataDir: d\n', { baseDir: '/' }).github.minWriteIntervalMs).toBe(
      1000,
    );
    const ghes = parseCoordinatorConfig('dataDir: d\ngithub: { minWriteIntervalMs: 50 }\n', {
      baseDir: '/',
    });
    expect(ghes.github).toMatchObject({ apiUrl: 'https://api.github.com', minWriteIntervalMs: 50 });
    for (const bad of ['-1', '0.5', '60001', '"1s"']) {
      expect(() =>
        parseCoordinatorConfig(`dataDir: d\ngithub: { minWriteIntervalMs: ${bad} }\n`, {
          baseDir: '/',
        }),
      ).toThrow(/github\.minWriteIntervalMs/);
    }
  });

  it('requires dataDir', () => {
    expect(() => parseCoordinatorConfig('{}', { baseDir: '/' })).toThrow(/dataDir/);
  });
});

describe('agentUrlOf', () => {
  it('maps http(s) to ws(s) and appends /v1/agent', () => {
    expect(agentUrlOf('https://coord.example:7443')).toBe('wss://coord.example:7443/v1/agent');
    expect(agentUrlOf('http://127.0.0.1:1234/')).toBe('ws://127.0.0.1:1234/v1/agent');
  });
});
