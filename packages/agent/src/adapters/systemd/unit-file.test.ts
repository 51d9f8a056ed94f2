import fc from 'fast-check';
import { LaunchplaneError, LANE_ID_PATTERN } from '@launchplane/shared';
import { describe, expect, it } from 'vitest';

import type { UnitSpec } from '../../ports/unit-manager.js';
import {
  parseExitRecord,
  parseLaneMarker,
  renderEnvironmentFile,
  renderProbeUnit,
  renderUnitFile,
} from './unit-file.js';
import { HARDENING_NAMES, describeExit } from './unit-hardening.js';
import { isLaneUnitName } from './unit-name.js';

const LANE = '01j9zq4m8w6x3v2t1s0r9p8n7k';
const spec: UnitSpec = {
  laneId: LANE,
  description: 'Lane 100% ready',
  execStart: ['/var/lib/launchplane/lanes/x/run.sh', '--once'],
  workingDirectory: '/var/lib/launchplane/lanes/x',
  environment: { RUNNER_TOKEN: 'AAAA-secret' },
};
const ENV_FILE = '/etc/launchplane/lanes/launchplane-lane-x.env';

function render(overrides: Partial<UnitSpec> = {}): string {
  return renderUnitFile({ ...spec, ...overrides }, { environmentFile: ENV_FILE });
}

function thrown(fn: () => unknown): LaunchplaneError {
  try {
    fn();
  } catch (error) {
    expect(error).toBeInstanceOf(LaunchplaneError);
    return error as LaunchplaneError;
  }
  throw new Error('expected a LaunchplaneError');
}

describe('renderUnitFile()', () => {
  it('marks the unit, hardens it and leaves restarts to the agent', () => {
    const text = render();
    const unitSection = text.slice(text.indexOf('[Unit]'), text.indexOf('[Service]'));
    expect(unitSection).toContain(`X-Launchplane-Lane=${LANE}\n`);
    expect(unitSection).toContain('StartLimitIntervalSec=600\n');
    expect(unitSection).toContain('StartLimitBurst=10\n');
    for (const line of [
      'Type=exec',
      'Restart=no',
      'KillMode=mixed',
      'KillSignal=SIGTERM',
      'TimeoutStopSec=300',
      'NoNewPrivileges=yes',
      'PrivateTmp=yes',
      'ProtectSystem=strict',
      'ProtectHome=read-only',
      'ReadWritePaths="/var/lib/launchplane/lanes/x"',
      'WorkingDirectory=/var/lib/launchplane/lanes/x',
      `EnvironmentFile=${ENV_FILE}`,
    ]) {
      expect(text).toContain(`\n${line}\n`);
    }
    expect(text).toContain('Description=Lane 100%% ready\n');
  });

  it('adds the hardening settings the host supports, by name, and refuses unknown ones', () => {
    const bare = render();
    expect(bare).not.toContain('CapabilityBoundingSet');
    const text = render({
      hardening: ['CapabilityBoundingSet', 'ProtectProc', 'SystemCallFilter'],
    });
    for (const line of [
      'CapabilityBoundingSet=',
      'AmbientCapabilities=',
      'ProtectProc=invisible',
      'SystemCallFilter=@system-service',
      'SystemCallErrorNumber=EPERM',
    ]) {
      expect(text).toContain(`\n${line}\n`);
    }
    expect(text).not.toContain('ProtectKernelTunables');
    const all = render({ hardening: HARDENING_NAMES });
    expect(all).toContain('\nRestrictNamespaces=yes\n');
    expect(all).toContain('\nPrivateDevices=yes\n');
    expect(thrown(() => render({ hardening: ['ExecStartPre=/bin/evil'] })).code).toBe(
      'LP_INVALID_MESSAGE',
    );
  });

  it('renders a probe: /bin/true once, with the sandbox, the user and the settings', () => {
    const text = renderProbeUnit({
      settings: ['ProtectKernelLogs'],
      user: 'nobody',
      readWritePaths: ['/var/lib/launchplane/lanes'],
    });
    for (const line of [
      'Type=oneshot',
      'ExecStart=/bin/true',
      'User=nobody',
      'NoNewPrivileges=yes',
      'ProtectSystem=strict',
      'ReadWritePaths="/var/lib/launchplane/lanes"',
      'ProtectKernelLogs=yes',
    ]) {
      expect(text).toContain(`\n${line}\n`);
    }
    expect(() => renderProbeUnit({ settings: ['Nope'], readWritePaths: [] })).toThrow(/not known/);
    expect(describeExit(1, 226)).toBe('exit status 226/NAMESPACE');
    expect(describeExit(2, 31)).toBe('killed by signal 31');
  });

  it('lets run.sh end a stop with 130 or 143 without failing, and records every exit where the lane cannot write', () => {
    const text = renderUnitFile(spec, {
      environmentFile: ENV_FILE,
      exitFile: '/etc/launchplane/lanes/launchplane-lane-x.exit',
    });
    expect(text).toContain('\nSuccessExitStatus=130 143\n');
    // Both run with full privileges (+), not as the lane's user, and the shell, not systemd,
    // expands the variables.
    expect(text).toContain(
      '\nExecStartPre=+"/bin/rm" "-f" "--" "/etc/launchplane/lanes/launchplane-lane-x.exit"\n',
    );
    expect(text).toContain(
      '\nExecStopPost=+"/bin/sh" "-c" "echo \\"$$SERVICE_RESULT $$EXIT_CODE $$EXIT_STATUS\\" > \\"$$0\\"" "/etc/launchplane/lanes/launchplane-lane-x.exit"\n',
    );
    expect(render()).not.toContain('ExecStopPost');
  });

  it('parses exit records, and nothing else', () => {
    const signals = { SIGTERM: 15, SIGKILL: 9 };
    expect(parseExitRecord('success exited 143\n', signals)).toEqual({
      code: 1,
      status: 143,
      result: 'success',
    });
    expect(parseExitRecord('signal killed KILL', signals)).toEqual({
      code: 2,
      status: 9,
      result: 'signal',
    });
    expect(parseExitRecord('exit-code exited 7', signals)?.status).toBe(7);
    for (const bad of [
      '',
      'success',
      'success exited',
      'success exited x',
      'oops killed NOPE',
      'a b c',
    ]) {
      expect(parseExitRecord(bad, signals)).toBeUndefined();
    }
  });

  it('honours the limits given in the spec', () => {
    const text = render({
      timeoutStopSec: 900,
      startLimitBurst: 3,
      startLimitIntervalSec: 60,
      user: 'runner',
      group: 'runner',
    });
    expect(text).toContain('\nTimeoutStopSec=900\n');
    expect(text).toContain('\nStartLimitBurst=3\n');
    expect(text).toContain('\nStartLimitIntervalSec=60\n');
    expect(text).toContain('\nUser=runner\nGroup=runner\n');
  });

  it('never writes environment values into the unit file', () => {
    expect(render()).not.toContain('AAAA-secret');
    expect(render()).not.toMatch(/^Environment=/m);
  });

  it('quotes every ExecStart word so %, $, quotes, backslashes and newlines stay literal', () => {
    const text = render({ execStart: ['/bin/echo', '100% $HOME ${X} "q" \\b', 'two\nlines'] });
    expect(text).toContain(
      '\nExecStart="/bin/echo" "100%% $$HOME $${X} \\"q\\" \\\\b" "two\\x0alines"\n',
    );
  });

  it('refuses relative executables and directories, an empty command, bad users and NUL', () => {
    expect(thrown(() => render({ execStart: [] })).code).toBe('LP_INVALID_MESSAGE');
    expect(thrown(() => render({ execStart: ['run.sh'] })).code).toBe('LP_INVALID_MESSAGE');
    expect(thrown(() => render({ workingDirectory: 'lanes/x' })).code).toBe('LP_INVALID_MESSAGE');
    expect(thrown(() => render({ workingDirectory: '/x\ny' })).code).toBe('LP_INVALID_MESSAGE');
    expect(thrown(() => render({ readWritePaths: ['relative'] })).code).toBe('LP_INVALID_MESSAGE');
    expect(thrown(() => render({ user: 'root\nExecStartPre=/bin/evil' })).code).toBe(
      'LP_INVALID_MESSAGE',
    );
    expect(thrown(() => render({ execStart: ['/bin/echo', 'a\0b'] })).code).toBe(
      'LP_INVALID_MESSAGE',
    );
    expect(thrown(() => render({ timeoutStopSec: -1 })).code).toBe('LP_INVALID_MESSAGE');
  });

  it('refuses every lane id that is not a canonical lowercase ULID', () => {
    fc.assert(
      fc.property(fc.string({ maxLength: 40 }), (laneId) => {
        fc.pre(!LANE_ID_PATTERN.test(laneId));
        expect(thrown(() => render({ laneId })).code).toBe('LP_INVALID_MESSAGE');
      }),
    );
    for (const laneId of ['../../etc/passwd', LANE.toUpperCase(), `${LANE}/x`, `${LANE}.service`]) {
      expect(thrown(() => render({ laneId })).code).toBe('LP_INVALID_MESSAGE');
    }
  });

  it('round-trips the marker of any canonical lane id', () => {
    const ulid = fc.stringMatching(/^[0-7][0-9a-hjkmnp-tv-z]{25}$/);
    fc.assert(fc.property(ulid, (laneId) => parseLaneMarker(render({ laneId })) === laneId));
  });
});

describe('renderEnvironmentFile()', () => {
  it('escapes the characters systemd parses in double quotes, and nothing else', () => {
    const text = renderEnvironmentFile(LANE, { A: 'x y 100% "q" $HOME `t` \\b', B: '' });
    expect(text).toContain('\nA="x y 100% \\"q\\" \\$HOME \\`t\\` \\\\b"\n');
    expect(text).toContain('\nB=""\n');
  });

  it('refuses invalid names and NUL without echoing the value', () => {
    const bad = thrown(() => renderEnvironmentFile(LANE, { 'A B': 'AAAA-secret' }));
    expect(bad.code).toBe('LP_INVALID_MESSAGE');
    const nul = thrown(() => renderEnvironmentFile(LANE, { TOKEN: 'AAAA-secret\0' }));
    expect(nul.code).toBe('LP_INVALID_MESSAGE');
    expect(nul.message).not.toContain('AAAA-secret');
  });
});

describe('parseLaneMarker()', () => {
  it('reads the marker from [Unit] only, last assignment wins, comments ignored', () => {
    expect(parseLaneMarker('[Unit]\nX-Launchplane-Lane=a\nX-Launchplane-Lane=b\n')).toBe('b');
    expect(parseLaneMarker('[Service]\nX-Launchplane-Lane=a\n')).toBeUndefined();
    expect(
      parseLaneMarker('[Unit]\n# X-Launchplane-Lane=a\n; X-Launchplane-Lane=b\n'),
    ).toBeUndefined();
    expect(parseLaneMarker('[Unit]\nX-Launchplane-Lane=a\nX-Launchplane-Lane=\n')).toBeUndefined();
    expect(parseLaneMarker('[Unit]\r\n  X-Launchplane-Lane = a  \r\n')).toBe('a');
    expect(parseLaneMarker('')).toBeUndefined();
  });
});

describe('isLaneUnitName()', () => {
  it('accepts lane-like names and refuses anything that could leave the unit dir', () => {
    expect(isLaneUnitName(`launchplane-lane-${LANE}.service`)).toBe(true);
    expect(isLaneUnitName('launchplane-lane-handmade.service')).toBe(true);
    for (const name of [
      'sshd.service',
      'launchplane-lane-../x.service',
      'launchplane-lane-a/b.service',
      '../launchplane-lane-x.service',
      'launchplane-lane-x.socket',
      'launchplane-lane-.service',
    ]) {
      expect(isLaneUnitName(name), name).toBe(false);
    }
  });
});
