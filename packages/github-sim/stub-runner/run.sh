#!/bin/sh
# Stub of actions/runner's run.sh, backed by launchplane-github-sim (see the package README).
# Uses only shell builtins so it runs under a bare busybox sh; node comes from PATH or
# $LAUNCHPLANE_STUB_NODE.
case $0 in */*) DIR=${0%/*} ;; *) DIR=. ;; esac
DIR=$(cd "$DIR" && pwd) || exit 1
NODE=${LAUNCHPLANE_STUB_NODE:-$(command -v node)}
if [ -z "$NODE" ]; then
  echo "run.sh: node not found; put it on PATH or set LAUNCHPLANE_STUB_NODE" >&2
  exit 1
fi
exec "$NODE" "$DIR/lib/runner.mjs" run "$@"
