#!/bin/bash
# Stub of actions/runner's safe_sleep.sh: sleeps $1 seconds with `sleep`, or busy-waits where
# there is none. LAUNCHPLANE_STUB_SAFE_SLEEP_MAX (stub only, for tests) caps every sleep at that
# many seconds; unset, the stub waits as long as the real runner does.

seconds=${1:-0}
max=${LAUNCHPLANE_STUB_SAFE_SLEEP_MAX:-}
if [[ $max =~ ^[0-9]+$ ]] && ((seconds > max)); then
  seconds=$max
fi

if command -v sleep >/dev/null 2>&1; then
  sleep "$seconds"
  exit 0
fi

SECONDS=0
while ((SECONDS < seconds)); do
  :
done
