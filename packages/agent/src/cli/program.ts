/**
 * The `launchplane-agent` command tree
 * (docs/cli.md). Each command's work lives in its own module; this
 * file wires arguments to them and maps failures to exit statuses.
 */
import { Command, CommanderError, Option } from 'commander';
import type { Readable } from 'node:stream';
import { resolveConfigPath } from '../config/config-file.js';
import type { BackendFactories, RunDaemonOptions } from '../main.js';
import type { Logger } from '../ports/logger.js';
import { AGENT_VERSION } from '../version.js';
import { auditCommand } from './audit-command.js';
import { doctorCommand, realDoctorDeps } from './doctor-command.js';
import type { DoctorDeps } from './doctor-command.js';
import { enrollCommand } from './enroll-command.js';
import { laneRemoveCommand } from './lane-remove-command.js';
import { lanesCommand } from './lanes-command.js';
import type { CliIo } from './output.js';
import { printError } from './output.js';
import { statusCommand } from './status-command.js';

/** What the CLI reaches outside of its arguments; tests replace parts. */
export interface CliDeps {
  env?: Readonly<Record<string, string | undefined>>;
  backends?: BackendFactories;
  doctor?: DoctorDeps;
  /** Logger for commands that build a core (`lane remove --local`); default pino on stderr. */
  logger?: Logger;
  daemon?: RunDaemonOptions;
  /** Standard input (`enroll --token-file -`); default the process's. */
  stdin?: Readable;
}

/** Runs the CLI with `argv` (without node and script) and resolves to the exit status. */
export async function runCli(
  argv: readonly string[],
  io: CliIo,
  deps: CliDeps = {},
): Promise<number> {
  const env = deps.env ?? process.env;
  let status = 0;
  const program = new Command('launchplane-agent')
    .description('Launchplane host agent: runs the runner lanes this host opted in to')
    .version(AGENT_VERSION)
    .option(
      '--config <path>',
      'agent config file (env LAUNCHPLANE_AGENT_CONFIG; default /etc/launchplane/agent.yaml)',
    )
    .exitOverride()
    .configureOutput({ writeOut: io.stdout, writeErr: io.stderr });
  const configPath = (): string =>
    resolveConfigPath(program.opts<{ config?: string }>().config, env);
  const backends = async (): Promise<BackendFactories> =>
    deps.backends ?? (await import('../main.js')).realBackends;
  const logger = async (): Promise<Logger> =>
    deps.logger ??
    (await import('../adapters/log/pino-logger.js')).createPinoLogger({
      level: 'warn',
      destination: process.stderr,
    });

  program
    .command('enroll')
    .description('Enroll this host with a coordinator (once per host)')
    .requiredOption('--coordinator <url>', "the coordinator's HTTP(S) base URL")
    .requiredOption('--host-id <id>', 'this host id')
    .option(
      '--coordinator-fingerprint <fp>',
      'the coordinator key to authenticate and pin (required; printed by enroll-token create)',
    )
    .option('--tls-pin <pin>', "pin the coordinator's TLS key (sha256//…, https only)")
    .option(
      '--token-file <file>',
      'read the single-use token from FILE, - for standard input (default env LAUNCHPLANE_ENROLL_TOKEN)',
    )
    // Accepted only to refuse it with a reason: a token on the command line is readable by all.
    .addOption(new Option('--token <token>').hideHelp())
    .option('--insecure', 'allow plain http:// to a coordinator on another machine (warns)')
    .option('--data-dir <dir>', 'data directory for a new config (default /var/lib/launchplane)')
    .option('--json', 'print one JSON document', false)
    .action(async (opts: Parameters<typeof enrollCommand>[2]) => {
      status = await enrollCommand(io, configPath(), opts, {
        env,
        stdin: deps.stdin ?? process.stdin,
      });
    });

  program
    .command('run')
    .description('Run the agent daemon (what the systemd unit starts)')
    .action(async () => {
      const { runDaemon } = await import('../main.js');
      status = await runDaemon(configPath(), {
        ...deps.daemon,
        ...(deps.backends === undefined ? {} : { backends: deps.backends }),
      });
    });

  program
    .command('status')
    .description('Connection, opt-in, lanes and the last health check')
    .option('--json', 'print one JSON document', false)
    .action(async (opts: { json: boolean }) => {
      status = await statusCommand(io, configPath(), opts);
    });

  program
    .command('lanes')
    .description('Lanes in the local ledger')
    .option('--json', 'print one JSON document', false)
    .action(async (opts: { json: boolean }) => {
      status = await lanesCommand(io, configPath(), opts);
    });

  program
    .command('audit')
    .description('The local audit log')
    .option('--verify', 'check the hash chain; exit 1 when it is broken', false)
    .option('--json', 'print one JSON document', false)
    .action(async (opts: { verify: boolean; json: boolean }) => {
      status = await auditCommand(io, configPath(), opts);
    });

  program
    .command('doctor')
    .description('Check config, keys, systemd, Docker and the coordinator, with fixes')
    .option('--json', 'print one JSON document', false)
    .action(async (opts: { json: boolean }) => {
      status = await doctorCommand(io, configPath(), opts, deps.doctor ?? (await realDoctorDeps()));
    });

  const lane = program.command('lane').description('Act on one lane of this host');
  lane
    .command('remove')
    .description('Stop and remove an owned lane without a coordinator (manual recovery, audited)')
    .argument('<lane>', 'lane id')
    .option('--local', 'act locally, without the coordinator (required)', false)
    .option('--dry-run', 'report what would be done, change nothing', false)
    .option('--force', 'remove even if the lane runs a job (cancels it)', false)
    .option('--json', 'print one JSON document', false)
    .action(
      async (
        laneId: string,
        opts: { local: boolean; dryRun: boolean; force: boolean; json: boolean },
      ) => {
        status = await laneRemoveCommand(io, configPath(), laneId, opts, {
          backends: await backends(),
          logger: await logger(),
        });
      },
    );

  try {
    await program.parseAsync([...argv], { from: 'user' });
  } catch (err) {
    if (err instanceof CommanderError) {
      // --help and --version end with exit code 0; everything else commander raises is usage.
      return err.exitCode === 0 ? 0 : 2;
    }
    return printError(io, err);
  }
  return status;
}
