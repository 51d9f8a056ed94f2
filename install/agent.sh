#!/usr/bin/env bash
# Installs the Launchplane agent on this host: the package, /etc/launchplane,
# /var/lib/launchplane, launchplane-agent.service, and (with --token) enrolls the host.
# Idempotent: run it again to upgrade; it keeps the config, the host key and the ledger.
# Undo: install/ROLLBACK.md.
source "$(dirname "$0")/lib.sh"

usage() {
  cat <<USAGE
usage: install/agent.sh [--coordinator URL --token T --host-id H [--coordinator-fingerprint FP]] [options]
$(common_usage)
USAGE
}

COORDINATOR="" TOKEN="" HOST_ID="" FINGERPRINT=""
while [ $# -gt 0 ]; do
  case "$1" in
    --dry-run) DRY_RUN=1 ;;
    --root) ROOT=${2:?--root needs a directory}; shift ;;
    --no-start) NO_START=1 ;;
    --coordinator) COORDINATOR=${2:?}; shift ;;
    --token) TOKEN=${2:?}; shift ;;
    --host-id) HOST_ID=${2:?}; shift ;;
    --coordinator-fingerprint) FINGERPRINT=${2:?}; shift ;;
    -h|--help) usage; exit 0 ;;
    *) usage >&2; die LP_USAGE "Unknown option \"$1\"" "" 2 ;;
  esac
  shift
done
if [ -n "$TOKEN" ] && { [ -z "$COORDINATOR" ] || [ -z "$HOST_ID" ]; }; then
  die LP_USAGE "--token needs --coordinator and --host-id" "" 2
fi

set_paths
[ "$DRY_RUN" = 1 ] && say "dry run: nothing will change"
check_node
check_built
# Lanes run as users the agent makes for them (runner.users): it needs useradd and userdel.
for tool in useradd userdel; do
  command -v "$tool" >/dev/null 2>&1 || [ -x "/usr/sbin/$tool" ] ||
    die LP_USAGE "$tool is not installed" "Install the passwd package: the agent makes a user per lane"
done
ensure_dir "$ETC_DIR" 0750
# The data dir is 0755: lane users pass through it (and the runner lists every directory above its
# own) to reach lanes/<laneId>/; every secret lives in its private/ (0700), which the agent makes.
# An existing one is left as it is: the agent moves an older layout's files into private/ and sets
# the modes at its next start, under its lock.
if [ -d "$DATA_DIR" ]; then
  say "ok: $DATA_DIR exists (the agent sets its layout and modes when it starts)"
else
  run mkdir -p "$DATA_DIR"
  run chmod 0755 "$DATA_DIR"
fi
install_tree

if [ -f "$ETC_DIR/agent.yaml" ]; then
  say "ok: keeping $ETC_DIR/agent.yaml"
elif [ -n "$HOST_ID" ]; then
  if [ "$DRY_RUN" = 1 ]; then
    say "would write: $ETC_DIR/agent.yaml (host $HOST_ID, nothing opted in)"
  else
    cat >"$ETC_DIR/agent.yaml" <<CONFIG
# Launchplane agent config: see docs/agent-config.md. Nothing is opted in until you list it here.
hostId: $HOST_ID
dataDir: $DATA_DIR
optIn:
  repositories: []
  organizations: []
  backends: []
  maxLanes: 0
systemd: { bus: system }
runner:
  template: /opt/actions-runner
  # Each lane runs as a user of its own, made from this uid range and deleted with the lane.
  users: { uidRange: "60600-61099" }
  # Lanes never run as root unless this is true.
  allowRoot: false
  # Seconds a stopping runner gets to finish or cancel its job before SIGKILL.
  stopTimeoutSec: 300
CONFIG
    chmod 0640 "$ETC_DIR/agent.yaml"
    say "ok: wrote $ETC_DIR/agent.yaml"
  fi
fi

if [ -n "$TOKEN" ]; then
  enroll=("$PREFIX/bin/launchplane-agent" enroll --config "$ETC_DIR/agent.yaml" --coordinator "$COORDINATOR" --token "$TOKEN" --host-id "$HOST_ID")
  [ -n "$FINGERPRINT" ] && enroll+=(--coordinator-fingerprint "$FINGERPRINT")
  if [ "$DRY_RUN" = 1 ]; then
    say "would run: $PREFIX/bin/launchplane-agent enroll --coordinator $COORDINATOR --token [redacted] --host-id $HOST_ID"
  else
    "${enroll[@]}"
  fi
fi

install_unit launchplane-agent.service
say "done: edit $ETC_DIR/agent.yaml to opt in, then \`$PREFIX/bin/launchplane-agent doctor\`"
