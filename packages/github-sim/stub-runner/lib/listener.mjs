// The stub's Runner.Listener, backed by launchplane-github-sim. run-helper.sh and config.sh start
// it as bin/Runner.Listener (a symlink to node), so /proc/<pid>/comm reads "Runner.Listener":
//
//   Runner.Listener configure --unattended --url … --token … [--name …] [--labels a,b] …
//   Runner.Listener remove --token … | --local
//   Runner.Listener run [--jitconfig …] [--once]
//
// Node builtins only, so the directory can be copied anywhere (a lane directory, a FROM scratch
// image) and run as is. Secrets (tokens, the JIT config, the runner credential) are never printed.
import { configure, remove } from './config-command.mjs';
import { parseCommandSettings } from './command-settings.mjs';
import { loadDotEnv } from './local-config.mjs';
import { log, logError } from './log.mjs';
import { RETURN, run } from './run-command.mjs';

loadDotEnv();
const settings = parseCommandSettings(process.argv.slice(2));
if (settings.unknown.length > 0) {
  logError(
    `Unrecognized command-line input arguments for command ${settings.command}: '${settings.unknown.join(', ')}'. For usage refer to: .\\config.cmd --help or ./config.sh --help`,
  );
}

let code;
if (settings.command === 'run') {
  code = await run(settings);
} else if (settings.command === 'configure' || settings.command === 'remove') {
  // A Ctrl-C while configuring ends the listener with TerminatedError, as in the real one.
  process.on('SIGINT', () => {
    log('Exiting...');
    process.exit(RETURN.TerminatedError);
  });
  code = settings.command === 'configure' ? await configure(settings) : await remove(settings);
} else {
  log('Commands: ./config.sh | ./config.sh remove | ./run.sh (see docs/runner-contract.md)');
  code = RETURN.Success;
}
// The real listener traces this line to its _diag log; the stub prints it.
log(`Runner execution has finished with return code ${code}`);
process.exit(code);
