import { describe, expect, it } from 'vitest';
import { runSteps, type Step } from './steps.js';

interface Ctx {
  log: string[];
  state: string;
  skip: boolean;
}

const STEPS: readonly Step<Ctx, 'a' | 'b', 'op:a' | 'op:b'>[] = [
  {
    name: 'a',
    describe: () => 'do a',
    enter: (c) => {
      c.state = 'entered-a';
      c.log.push('enter a');
    },
    journal: 'a',
    crashPoint: 'op:a',
    run: (c) => {
      c.log.push('run a');
    },
  },
  { name: 'skipped', when: (c) => !c.skip, describe: () => 'never', run: () => undefined },
  {
    name: 'b',
    when: (c) => c.state === 'entered-a',
    describe: (c) => [`do b from ${c.state}`, 'and more'],
    journal: 'b',
    crashPoint: 'op:b',
    run: async (c) => {
      await Promise.resolve();
      c.log.push('run b');
    },
  },
];

describe('runSteps()', () => {
  it('a real run journals before and crash-points after each step, in order', async () => {
    const ctx: Ctx = { log: [], state: 'new', skip: true };
    const r = await runSteps(STEPS, ctx, {
      dryRun: false,
      journal: (j) => ctx.log.push(`journal ${j}`),
      crash: (p) => ctx.log.push(`crash ${p}`),
    });
    expect(ctx.log).toEqual([
      'enter a',
      'journal a',
      'run a',
      'crash op:a',
      'journal b',
      'run b',
      'crash op:b',
    ]);
    expect(r).toEqual({ names: ['a', 'b'], lines: ['do a', 'do b from entered-a', 'and more'] });
  });

  it('a dry run enters and describes the same steps and runs, journals and crashes nothing', async () => {
    const ctx: Ctx = { log: [], state: 'new', skip: true };
    const seen: string[] = [];
    const r = await runSteps(STEPS, ctx, {
      dryRun: true,
      journal: (j) => ctx.log.push(`journal ${j}`),
      crash: (p) => ctx.log.push(`crash ${p}`),
      onStep: (n) => seen.push(n),
    });
    expect(ctx.log).toEqual(['enter a']);
    expect(r.names).toEqual(['a', 'b']);
    expect(seen).toEqual(r.names);
    expect(r.lines).toEqual(['do a', 'do b from entered-a', 'and more']);
  });

  it('stops at a failing step, leaving what ran before it in `done`', async () => {
    const ctx: Ctx = { log: [], state: 'new', skip: false };
    const failing: Step<Ctx>[] = [
      ...STEPS.slice(0, 1),
      {
        name: 'boom',
        describe: () => 'fail',
        crashPoint: 'op:boom',
        run: () => {
          throw new Error('boom');
        },
      },
      ...STEPS.slice(2),
    ];
    const done = { names: [] as string[], lines: [] as string[] };
    const crashed: string[] = [];
    await expect(
      runSteps(failing, ctx, { dryRun: false, crash: (p) => crashed.push(p) }, done),
    ).rejects.toThrow('boom');
    expect(done.names).toEqual(['a', 'boom']);
    expect(crashed).toEqual(['op:a']);
    expect(ctx.log).toEqual(['enter a', 'run a']);
  });
});
