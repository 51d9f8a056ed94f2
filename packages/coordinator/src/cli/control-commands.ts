/**
 * Registers the control commands (C2): `plan`, `apply`, `lanes`, `lane drain|restart|remove`,
 * `runners`, `jobs`, `why`, `smoke`. program.ts calls {@link registerControlCommands}.
 */
import type { Command } from 'commander';
import { applyCommand } from './apply.js';
import { clientFrom, withConnection, type ConnectionOptions } from './connection.js';
import { jobsCommand, whyCommand } from './jobs.js';
import { laneActionCommand, type LaneMode } from './lane-action.js';
import { lanesCommand } from './lanes.js';
import type { CliIo } from './output.js';
import { planCommand } from './plan.js';
import { runnersCommand } from './runners.js';
import { smokeCommand } from './smoke.js';

type Json = { json: boolean };

/** What the registrations need from program.ts. */
export interface ControlCommandContext {
  io: CliIo;
  setStatus: (status: number) => void;
  /** Whether stderr is a terminal (progress lines are shown only then). */
  stderrIsTty?: boolean;
}

/** Adds the control commands to `program`. */
export function registerControlCommands(program: Command, ctx: ControlCommandContext): void {
  const { io, setStatus } = ctx;
  const progress = ctx.stderrIsTty ?? process.stderr.isTTY === true;

  withConnection(
    program
      .command('plan')
      .description('The control plan: every action with its reason or blocking guardrail')
      .option('--json', 'print one JSON document', false),
  ).action(async (o: ConnectionOptions & Json) => {
    setStatus(await planCommand(io, clientFrom(o), { json: o.json }));
  });

  withConnection(
    program
      .command('apply')
      .description('Execute the current plan')
      .option(
        '--dry-run',
        'walk every guardrail and show what would be sent; change nothing',
        false,
      )
      .option('--wait', 'wait until every action finished', false)
      .option('--json', 'print one JSON document', false),
  ).action(async (o: ConnectionOptions & Json & { dryRun: boolean; wait: boolean }) => {
    setStatus(
      await applyCommand(io, clientFrom(o), {
        dryRun: o.dryRun,
        wait: o.wait,
        json: o.json,
        progress,
      }),
    );
  });

  withConnection(
    program
      .command('lanes')
      .description('Lanes with state, runner id, GitHub status and busy')
      .option('--host <hostId>', 'only this host')
      .option('--pool <pool>', 'only this pool')
      .option('--json', 'print one JSON document', false),
  ).action(async (o: ConnectionOptions & Json & { host?: string; pool?: string }) => {
    setStatus(await lanesCommand(io, clientFrom(o), { host: o.host, pool: o.pool, json: o.json }));
  });

  const lane = program.command('lane').description('Act on one lane (operator)');
  for (const [mode, what] of [
    [
      'drain',
      'Quarantine a lane and wait until it is idle; it stays out of service until "lane restart"',
    ],
    ['restart', 'Drain a lane, then restart it and restore its labels'],
    ['remove', 'Drain a lane, then remove it and its GitHub registration'],
  ] as const) {
    withConnection(
      lane
        .command(mode)
        .description(what)
        .argument('<lane>', 'lane id')
        .option('--dry-run', 'show what would be done; change nothing', false)
        .option('--force', 'do not wait for idle: a job in flight is cancelled (audited)', false)
        .option('--timeout <duration>', 'how long to wait for idle (e.g. 15m)')
        .option('--wait', 'wait until the action finished', false)
        .option('--json', 'print one JSON document', false),
    ).action(
      async (
        laneId: string,
        o: ConnectionOptions &
          Json & { dryRun: boolean; force: boolean; timeout?: string; wait: boolean },
      ) => {
        setStatus(
          await laneActionCommand(io, clientFrom(o), mode satisfies LaneMode, laneId, {
            dryRun: o.dryRun,
            force: o.force,
            timeout: o.timeout,
            wait: o.wait,
            json: o.json,
            progress,
          }),
        );
      },
    );
  }

  withConnection(
    program
      .command('runners')
      .description('GitHub runners, each managed or unmanaged (never touched)')
      .option('--json', 'print one JSON document', false),
  ).action(async (o: ConnectionOptions & Json) => {
    setStatus(await runnersCommand(io, clientFrom(o), { json: o.json }));
  });

  withConnection(
    program
      .command('jobs')
      .description('Queued and running GitHub Actions jobs, with their wait, pool and lane')
      .option('--json', 'print one JSON document', false),
  ).action(async (o: ConnectionOptions & Json) => {
    setStatus(await jobsCommand(io, clientFrom(o), { json: o.json }));
  });

  withConnection(
    program
      .command('why')
      .description('Why a job is still queued: one reason and its details')
      .argument(
        '<job>',
        'a job id, or its URL (https://github.com/OWNER/REPO/actions/runs/RUN/job/JOB)',
      )
      .option('--json', 'print one JSON document', false),
  ).action(async (job: string, o: ConnectionOptions & Json) => {
    setStatus(await whyCommand(io, clientFrom(o), job, { json: o.json }));
  });

  withConnection(
    program
      .command('smoke')
      .description(
        'Create a disposable lane on a host, optionally run a workflow on it, restart and remove it, and prove nothing else changed',
      )
      .requiredOption('--host <hostId>', 'the host to smoke')
      .requiredOption('--repository <owner/repo>', 'the repository the lane registers with')
      .option('--backend <backend>', "systemd or docker (default: the host's one opted-in backend)")
      .option('--image <image>', 'Docker smoke: one of the images the policy gives the repository')
      .option('--workflow <file>', 'dispatch this workflow (file name or id) on the lane')
      .option('--ref <ref>', 'the branch or tag to dispatch the workflow on')
      .option('--timeout <duration>', "how long the workflow's job may take (e.g. 15m)")
      .option('--dry-run', 'walk every guardrail and show the steps; change nothing', false)
      .option('--json', 'print one JSON document', false),
  ).action(
    async (
      o: ConnectionOptions &
        Json & {
          host: string;
          repository: string;
          backend?: string;
          image?: string;
          workflow?: string;
          ref?: string;
          timeout?: string;
          dryRun: boolean;
        },
    ) => {
      setStatus(
        await smokeCommand(io, clientFrom(o), {
          host: o.host,
          repository: o.repository,
          backend: o.backend,
          image: o.image,
          workflow: o.workflow,
          ref: o.ref,
          timeout: o.timeout,
          dryRun: o.dryRun,
          json: o.json,
          progress,
        }),
      );
    },
  );
}
