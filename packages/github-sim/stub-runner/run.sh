#!/bin/bash
# Stub of actions/runner's run.sh, backed by launchplane-github-sim. Written for this project to
# behave like the real script (docs/runner-contract.md): it loops over run-helper.sh, restarting
# on exit code 2. Without RUNNER_MANUALLY_TRAP_SIG it runs the helper in the foreground and traps
# nothing, so a SIGTERM ends this bash at once and never reaches the listener. With it, the helper
# runs as a background job in its own process group and SIGINT/SIGTERM are turned into a SIGINT to
# that group; the script then exits with 128 + the signal number (130 or 143).

src=${BASH_SOURCE[0]}
while [[ -L $src ]]; do l=$(readlink "$src"); [[ $l == /* ]] && src=$l || src=${src%/*}/$l; done
[[ $src == */* ]] || src=./$src
DIR=$(cd -P "${src%/*}" && pwd) || exit 1

# Loops over run-helper.sh: in the foreground (manual=0), or (manual=1) as a background job in its
# own process group with SIGINT/SIGTERM turned into a SIGINT to that group. As in the real script,
# the arguments are passed on unquoted ($*): they are split on spaces.
# shellcheck disable=SC2048,SC2086
run() {
  local manual=$1 helper code
  shift
  if [[ $manual == 1 ]]; then
    set -m
    trap 'kill -INT -$helper' INT TERM
  fi
  while :; do
    cp -f "$DIR/run-helper.sh.template" "$DIR/run-helper.sh"
    if [[ $manual == 1 ]]; then
      "$DIR/run-helper.sh" $* &
      helper=$!
      wait $helper
    else
      "$DIR/run-helper.sh" $*
    fi
    code=$?
    if [[ $code -eq 2 ]]; then
      echo "Restarting runner..."
      continue
    fi
    echo "Exiting runner..."
    if [[ $ACTIONS_RUNNER_RETURN_VERSION_DEPRECATED_EXIT_CODE == 1 && $code -eq 7 ]]; then
      exit 7
    fi
    if [[ $manual == 1 ]]; then
      # A trapped signal ended the first wait with 128 + its number: wait for the helper to
      # finish (the listener shuts down), then exit with that code, as the real script does.
      trap - INT TERM
      wait $helper
      exit $code
    fi
    exit 0
  done
}

# shellcheck disable=SC2048,SC2086
if [[ -z $RUNNER_MANUALLY_TRAP_SIG ]]; then
  run 0 $*
else
  run 1 $*
fi
