import { describe, expect, it } from 'vitest';
import { HARDENING_NAMES } from '../adapters/systemd/unit-hardening.js';
import type { ProbeOutcome, ProbeSpec } from '../ports/unit-manager.js';
import { createHarness } from '../core-harness.test-helper.js';
import { FakeUnitManager } from '../ports/fake-unit-manager.test-helper.js';
import { probeLaneHardening } from './hardening-probe.js';

/** A manager where some settings fail alone, and some pairs fail together. */
function manager(options: {
  failing?: Record<string, string>;
  sandbox?: string;
  clash?: [string, string];
}) {
  const runs: ProbeSpec[] = [];
  return {
    runs,
    probe(specs: readonly ProbeSpec[]): Promise<ProbeOutcome[]> {
      runs.push(...specs);
      return Promise.resolve(
        specs.map((spec): ProbeOutcome => {
          if (options.sandbox !== undefined) return { ok: false, detail: options.sandbox };
          const bad = spec.settings.find((n) => options.failing?.[n] !== undefined);
          if (bad !== undefined) return { ok: false, detail: options.failing?.[bad] ?? '' };
          const [a, b] = options.clash ?? [];
          if (
            a !== undefined &&
            spec.settings.includes(a) &&
            b !== undefined &&
            spec.settings.includes(b)
          ) {
            return { ok: false, detail: 'exit status 226/NAMESPACE' };
          }
          return { ok: true, detail: 'ran' };
        }),
      );
    },
  };
}

describe('probeLaneHardening()', () => {
  it('applies every setting that runs, as the lanes user, and says why the others are left out', async () => {
    const m = manager({
      failing: {
        ProtectKernelLogs: 'exit status 226/NAMESPACE',
        ProtectKernelTunables: 'exit status 226/NAMESPACE',
      },
    });
    const report = await probeLaneHardening(m, { user: 'nobody', readWritePaths: ['/d/lanes'] });
    expect(report.applied).toEqual(
      HARDENING_NAMES.filter((n) => n !== 'ProtectKernelLogs' && n !== 'ProtectKernelTunables'),
    );
    expect(report.omitted).toEqual([
      { setting: 'ProtectKernelLogs', reason: 'exit status 226/NAMESPACE' },
      { setting: 'ProtectKernelTunables', reason: 'exit status 226/NAMESPACE' },
    ]);
    expect(report.probedAs).toBe('nobody');
    // One probe per setting, one of the sandbox alone, one of all that work together.
    expect(m.runs).toHaveLength(HARDENING_NAMES.length + 2);
    expect(m.runs.every((r) => r.user === 'nobody' && r.readWritePaths[0] === '/d/lanes')).toBe(
      true,
    );
  });

  it('keeps settings that work alone but clash together only while the probe still runs', async () => {
    const m = manager({ clash: ['ProtectProc', 'PrivateDevices'] });
    const report = await probeLaneHardening(m, { readWritePaths: ['/d/lanes'] });
    expect(report.applied).not.toContain('PrivateDevices');
    expect(report.applied).toContain('ProtectProc');
    expect(report.omitted).toEqual([
      {
        setting: 'PrivateDevices',
        reason: expect.stringMatching(
          /^works alone, not with CapabilityBoundingSet, ProtectProc \(exit status 226\/NAMESPACE\)$/,
        ),
      },
    ]);
  });

  it('leaves everything out when the sandbox alone does not run', async () => {
    const report = await probeLaneHardening(manager({ sandbox: 'exit status 217/USER' }), {
      readWritePaths: [],
    });
    expect(report.applied).toEqual([]);
    expect(report.omitted).toHaveLength(HARDENING_NAMES.length);
    expect(report.omitted[0]?.reason).toMatch(
      /sandbox alone does not run here \(exit status 217\/USER\)/,
    );
  });
});

describe('the agent and its probe', () => {
  it('gives new lane units what the probe found, and reports what it left out', async () => {
    const units = new FakeUnitManager();
    units.unsupported.set('ProtectKernelTunables', 'exit status 226/NAMESPACE');
    const h = await createHarness({ units });
    try {
      expect(h.core.hardening()).toMatchObject({
        omitted: [{ setting: 'ProtectKernelTunables', reason: 'exit status 226/NAMESPACE' }],
      });
      expect((await h.send(h.createCmd())).ok).toBe(true);
      const spec = [...units.units.values()][0]?.spec;
      expect(spec?.hardening).toContain('CapabilityBoundingSet');
      expect(spec?.hardening).toContain('SystemCallFilter');
      expect(spec?.hardening).not.toContain('ProtectKernelTunables');
    } finally {
      await h.cleanup();
    }
  });
});
