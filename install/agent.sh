#!/usr/bin/env bash
# Installs the Launchplane agent on this host: the package, /etc/launchplane,
# /var/lib/launchplane, launchplane-agent.service, and (with --coordinator) enrolls the host.
# Idempotent: run it again to upgrade; it keeps the config, the host key and the ledger.
# Undo: install/ROLLBACK.md.
#
# The enrollment token never goes on a command line (every user of the host can read those):
# it comes from LAUNCHPLANE_ENROLL_TOKEN or from --token-file FILE (- reads standard input), and
# reaches launchplane-agent in its environment.
source "$(dirname "$0")/lib.sh"

usage() {
  cat <<USAGE
usage: install/agent.sh [--coordinator URL --host-id H --coordinator-fingerprint FP
                         [--tls-pin PIN] [--token-file FILE|-] [--insecure]] [options]
  --coordinator URL              enroll with this coordinator (its http(s):// base URL)
  --host-id H                    this host's id
  --coordinator-fingerprint FP   the coordinator key to authenticate and pin (SHA256:...)
  --tls-pin PIN                  the coordinator's TLS key pin (sha256//...), for https
  --token-file FILE              read the enrollment token from FILE, or standard input for -
                                 (default: the LAUNCHPLANE_ENROLL_TOKEN environment variable)
  --insecure                     allow plain http:// to a coordinator on another machine
$(common_usage)
USAGE
}

COORDINATOR="" HOST_ID="" FINGERPRINT="" TLS_PIN="" TOKEN_FILE="" INSECURE=0
while [ $# -gt 0 ]; do
  case "$1" in
    --dry-run) DRY_RUN=1 ;;
    --root) ROOT=${2:?--root needs a directory}; shift ;;
    --no-start) NO_START=1 ;;
    --coordinator) COORDINATOR=${2:?}; shift ;;
    --token|--token=*)
      die LP_USAGE "--token puts the enrollment token on the command line, where every user of this host can read it (ps, /proc/<pid>/cmdline)" \
        "Pass it in LAUNCHPLANE_ENROLL_TOKEN or with --token-file FILE (- reads standard input); treat this token as seen and create a new one" 2 ;;
    --token-file) TOKEN_FILE=${2:?--token-file needs a file, or - for standard input}; shift ;;
    --host-id) HOST_ID=${2:?}; shift ;;
    --coordinator-fingerprint) FINGERPRINT=${2:?}; shift ;;
    --tls-pin) TLS_PIN=${2:?}; shift ;;
    --insecure) INSECURE=1 ;;
    -h|--help) usage; exit 0 ;;
    *) usage >&2; die LP_USAGE "Unknown option \"$1\"" "" 2 ;;
  esac
  shift
done
if [ -n "$TOKEN_FILE" ] && [ -z "$COORDINATOR" ]; then
  die LP_USAGE "--token-file needs --coordinator" "" 2
fi
TOKEN=""
if [ -n "$COORDINATOR" ]; then
  if [ -z "$HOST_ID" ] || [ -z "$FINGERPRINT" ]; then
    die LP_USAGE "--coordinator needs --host-id and --coordinator-fingerprint" \
      "Copy them from the line \`launchplane enroll-token create\` printed" 2
  fi
  # Read by builtins only, so the token is never an argument of any process.
  if [ "$TOKEN_FILE" = "-" ]; then
    if [ -t 0 ]; then printf 'enrollment token: ' >&2; IFS= read -rs TOKEN || true; printf '\n' >&2
    else IFS= read -r TOKEN || true; fi
  elif [ -n "$TOKEN_FILE" ]; then
    [ -r "$TOKEN_FILE" ] || die LP_USAGE "Cannot read token file \"$TOKEN_FILE\"" "" 2
    TOKEN=$(<"$TOKEN_FILE")
  else
    TOKEN=${LAUNCHPLANE_ENROLL_TOKEN:-}
  fi
  TOKEN=${TOKEN//[[:space:]]/}
  [ -n "$TOKEN" ] || die LP_USAGE "An enrollment token is required to enroll" \
    "Set LAUNCHPLANE_ENROLL_TOKEN, or pass --token-file FILE (- reads standard input)" 2
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

if [ -n "$COORDINATOR" ]; then
  enroll=("$PREFIX/bin/launchplane-agent" enroll --config "$ETC_DIR/agent.yaml" --coordinator "$COORDINATOR"
    --host-id "$HOST_ID" --coordinator-fingerprint "$FINGERPRINT")
  [ -n "$TLS_PIN" ] && enroll+=(--tls-pin "$TLS_PIN")
  [ "$INSECURE" = 1 ] && enroll+=(--insecure)
  if [ "$DRY_RUN" = 1 ]; then
    say "would run: ${enroll[*]} (token in LAUNCHPLANE_ENROLL_TOKEN)"
  else
    # The token reaches the agent in its environment only for this one command.
    LAUNCHPLANE_ENROLL_TOKEN="$TOKEN" "${enroll[@]}"
  fi
fi
TOKEN=""

install_unit launchplane-agent.service
say "done: edit $ETC_DIR/agent.yaml to opt in, then \`$PREFIX/bin/launchplane-agent doctor\`"
