// Command line of the stub's Runner.Listener, parsed the way actions/runner's CommandLineParser and
// CommandSettings do (docs/runner-contract.md):
//
// - leading words are the command (`configure`, `remove`, `run`); then `--name value` is an
//   argument and a `--name` followed by another `--…` (or nothing) is a flag; the first value wins;
// - any argument or flag may instead come from ACTIONS_RUNNER_INPUT_<NAME> (case-insensitive). Those
//   variables are removed from this process's environment as they are read, so the worker, the
//   job hooks and the jobs never see them (how a token or a JIT config stays off argv);
// - an argument given on the command line wins over the environment; an environment flag counts
//   when its value is "true" (any case).

const ENV_PREFIX = 'ACTIONS_RUNNER_INPUT_';

/** Flags and arguments each command accepts; others are reported, then ignored. */
const VALID = {
  configure: [
    'unattended',
    'url',
    'token',
    'name',
    'labels',
    'work',
    'runnergroup',
    'replace',
    'ephemeral',
    'disableupdate',
    'no-default-labels',
    'pat',
    'auth',
  ],
  remove: ['unattended', 'token', 'local', 'pat', 'auth'],
  run: ['once', 'jitconfig', 'startuptype'],
};

/** Parses `argv` and takes the ACTIONS_RUNNER_INPUT_* variables out of `env`. */
export function parseCommandSettings(argv, env = process.env) {
  const envArgs = new Map();
  for (const key of Object.keys(env)) {
    if (!key.toUpperCase().startsWith(ENV_PREFIX)) continue;
    const value = (env[key] ?? '').trim();
    if (value !== '') envArgs.set(key.slice(ENV_PREFIX.length).toLowerCase(), value);
    delete env[key];
  }

  const commands = [];
  const args = new Map();
  const flags = new Set();
  let scope = null;
  let seenOption = false;
  for (const a of argv) {
    seenOption ||= a.startsWith('--');
    if (!seenOption) commands.push(a.trim().toLowerCase());
    else if (a.startsWith('--') && a.length > 2) {
      if (scope !== null) flags.add(scope);
      scope = a.slice(2).trim().toLowerCase();
    } else if (!a.startsWith('-') && scope !== null) {
      if (!args.has(scope)) args.set(scope, a);
      scope = null;
    }
  }
  if (scope !== null) flags.add(scope);

  const command = commands[0] ?? '';
  const valid = VALID[command] ?? [];
  const unknown = [...args.keys(), ...flags].filter((n) => !valid.includes(n));
  return {
    command,
    unknown,
    /** The value of argument `name`, from argv or else the environment; `undefined` if none. */
    arg(name) {
      return args.get(name) ?? envArgs.get(name);
    },
    /** Whether flag `name` is set on argv, or as "true" in the environment. */
    flag(name) {
      return flags.has(name) || envArgs.get(name)?.toLowerCase() === 'true';
    },
  };
}
