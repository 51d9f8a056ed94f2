#!/bin/bash
# Stub of actions/runner's config.sh, backed by launchplane-github-sim. Written for this project to
# behave like the real one (docs/runner-contract.md): refuses root, snapshots the environment into
# .env and .path (env.sh), then runs `bin/Runner.Listener configure …` (or `remove …`).
#
#   ./config.sh --unattended --url <url> --token <token> [--name n] [--labels a,b] [--work _work]
#               [--runnergroup g] [--replace] [--ephemeral] [--disableupdate] [--no-default-labels]
#   ./config.sh remove --token <remove token>      ./config.sh remove --local
#
# Any flag may instead come from ACTIONS_RUNNER_INPUT_<NAME> (e.g. ACTIONS_RUNNER_INPUT_TOKEN),
# which keeps a token out of the process's command line.

if [[ $EUID -eq 0 && -z $RUNNER_ALLOW_RUNASROOT ]]; then
  echo "Must not run with sudo"
  exit 1
fi

src=${BASH_SOURCE[0]}
while [[ -L $src ]]; do l=$(readlink "$src"); [[ $l == /* ]] && src=$l || src=${src%/*}/$l; done
[[ $src == */* ]] || src=./$src
DIR=$(cd -P "${src%/*}" && pwd) || exit 1
cd "$DIR" || exit 1

# shellcheck source=env.sh
source ./env.sh
# shellcheck source=lib/listener.sh
source "$DIR/lib/listener.sh"

shopt -s nocasematch
if [[ $1 == remove ]]; then
  run_listener "$@"
else
  run_listener configure "$@"
fi
