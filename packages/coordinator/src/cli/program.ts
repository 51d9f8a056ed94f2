/**
 * The `launchplane` command tree
 * (docs/cli.md). Each command's work lives in its own module; this file
 * only wires arguments to them and maps failures to exit statuses.
 */
import { Command, CommanderError } from 'commander';
import { policyValidate } from './policy-validate.js';
import type { CliIo } from './output.js';
import { printError, terminalIo } from './output.js';
import type { RouteFactory } from '../main.js';
import { registerServerCommands } from './server-commands.js';
import { registerControlCommands } from './control-commands.js';

export const CLI_VERSION = '0.1.0';

/**
 * The control API that `serve` mounts. Loaded only when a coordinator starts: the server and its
 * dependencies would double the start-up of every other command (each one a short process).
 */
const controlRoutes: RouteFactory = async (parts) =>
  (await import('../control/wire-control.js')).controlRouteFactory()(parts);

/** Runs the CLI with `argv` (without node and script) and resolves to the exit status. */
export async function runCli(argv: readonly string[], out: CliIo): Promise<number> {
  // Hosts and GitHub supply much of what is printed: nothing written may drive the terminal.
  const io = terminalIo(out);
  let status = 0;
  const program = new Command('launchplane')
    .description('Launchplane: self-hosted GitHub Actions runner lanes, under control')
    .version(CLI_VERSION)
    .exitOverride()
    .configureOutput({ writeOut: io.stdout, writeErr: io.stderr });

  const policy = program.command('policy').description('Policy files');
  policy
    .command('validate')
    .description('Validate a policy file offline')
    .argument('<file>', 'policy YAML file')
    .option('--json', 'print one JSON document', false)
    .action(async (file: string, opts: { json: boolean }) => {
      status = await policyValidate(io, file, opts);
    });

  // serve, token, enroll-token, hosts, policy apply, audit (C1).
  registerServerCommands(program, {
    io,
    setStatus: (s) => (status = s),
    policy,
    routes: [controlRoutes],
  });
  // plan, apply, lanes, lane drain|restart|remove, runners (C2).
  registerControlCommands(program, { io, setStatus: (s) => (status = s) });

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
