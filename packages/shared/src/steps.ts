/**
 * Operations written as a list of steps, each declared once: its name, how it reads in a dry run,
 * the journal entry written before it and the crash point after it, and what it does. A dry run
 * is that same list described, so what it says cannot drift from what a real run does. The agent's
 * lane operations and the coordinator's sagas both run on it. Pure: the I/O is in the steps.
 */

/** One step of an operation, on the operation's context `C`. */
export interface Step<C, J extends string = string, P extends string = string> {
  /** Stable name within its operation (a real run reports the names it ran). */
  readonly name: string;
  /**
   * Whether the step belongs to this run (default: yes). Asked when the runner reaches the step,
   * in dry and real runs alike, so both take the same steps.
   */
  readonly when?: (ctx: C) => boolean;
  /** What the step does, in words: one line or several. */
  readonly describe: (ctx: C) => string | readonly string[];
  /**
   * Runs in dry and real runs alike, before the journal entry: checks and in-memory state moves
   * (that the context saves in a real run only), so a dry run walks every guardrail.
   */
  readonly enter?: (ctx: C) => void;
  /** The journal entry recorded before `run` (real runs only). */
  readonly journal?: J;
  /** The crash point called after `run` (real runs only). */
  readonly crashPoint?: P;
  /** The side effect (real runs only). */
  readonly run?: (ctx: C) => Promise<void> | void;
}

/** How {@link runSteps} runs a list. */
export interface StepHooks<J extends string = string, P extends string = string> {
  /** Describe the steps (and `enter` them), run nothing. */
  dryRun: boolean;
  /** Records a step's journal entry, before its `run`. */
  journal?: (entry: J) => void;
  /** Called with a step's crash point once its `run` is done. */
  crash?: (point: P) => void;
  /** Called with each step's name as it begins (a dry run: as it is described). */
  onStep?: (name: string) => void;
}

/** What {@link runSteps} did, or (dry run) would do. */
export interface StepsRun {
  /** The names of the steps begun (a dry run: that would run), in order. */
  names: string[];
  /** Their descriptions, in order (a step may take several lines). */
  lines: string[];
}

/**
 * Runs `steps` in order on `ctx`: for each one that applies (`when`), `enter`, then in a real run
 * the journal entry, `run` and the crash point. A dry run stops after `enter` and `describe`. An
 * error stops the list and is thrown as is; `done`, when given, holds what ran before it.
 */
export async function runSteps<C, J extends string, P extends string>(
  steps: readonly Step<C, J, P>[],
  ctx: C,
  hooks: StepHooks<J, P>,
  done: StepsRun = { names: [], lines: [] },
): Promise<StepsRun> {
  for (const step of steps) {
    if (step.when !== undefined && !step.when(ctx)) continue;
    hooks.onStep?.(step.name);
    step.enter?.(ctx);
    const said = step.describe(ctx);
    done.lines.push(...(typeof said === 'string' ? [said] : said));
    done.names.push(step.name);
    if (hooks.dryRun) continue;
    if (step.journal !== undefined) hooks.journal?.(step.journal);
    await step.run?.(ctx);
    if (step.crashPoint !== undefined) hooks.crash?.(step.crashPoint);
  }
  return done;
}
