#!/usr/bin/env bash
# Installs the Launchplane coordinator: the package, the `launchplane` system user,
# /etc/launchplane/coordinator.yaml, /var/lib/launchplane and launchplane-coordinator.service.
# Idempotent: run it again to upgrade; it keeps the config, the signing key and the store.
# Undo: install/ROLLBACK.md.
source "$(dirname "$0")/lib.sh"

usage() {
  cat <<USAGE
usage: install/coordinator.sh [--public-url URL] [options]
$(common_usage)
USAGE
}

PUBLIC_URL="http://127.0.0.1:7443"
while [ $# -gt 0 ]; do
  case "$1" in
    --dry-run) DRY_RUN=1 ;;
    --root) ROOT=${2:?--root needs a directory}; shift ;;
    --no-start) NO_START=1 ;;
    --public-url) PUBLIC_URL=${2:?}; shift ;;
    -h|--help) usage; exit 0 ;;
    *) usage >&2; die LP_USAGE "Unknown option \"$1\"" "" 2 ;;
  esac
  shift
done

set_paths
# The coordinator keeps its store and signing key apart from any agent's data on the same host.
DATA_DIR="$ROOT/var/lib/launchplane-coordinator"
[ "$DRY_RUN" = 1 ] && say "dry run: nothing will change"
check_node
check_built
ensure_user launchplane
ensure_dir "$ETC_DIR" 0750 root:launchplane
ensure_dir "$DATA_DIR" 0700 launchplane:launchplane
install_tree

if [ -f "$ETC_DIR/coordinator.yaml" ]; then
  say "ok: keeping $ETC_DIR/coordinator.yaml"
elif [ "$DRY_RUN" = 1 ]; then
  say "would write: $ETC_DIR/coordinator.yaml"
else
  cat >"$ETC_DIR/coordinator.yaml" <<CONFIG
# Launchplane coordinator config: see docs/coordinator-config.md.
listen: { host: 127.0.0.1, port: 7443 }
publicUrl: $PUBLIC_URL
dataDir: $DATA_DIR
github:
  apiUrl: https://api.github.com
  webUrl: https://github.com
  auth: { tokenFile: $ETC_DIR/github.token }
reconcile: { auto: false }
CONFIG
  chmod 0640 "$ETC_DIR/coordinator.yaml"
  [ -z "$ROOT" ] && chown root:launchplane "$ETC_DIR/coordinator.yaml"
  say "ok: wrote $ETC_DIR/coordinator.yaml"
fi

install_unit launchplane-coordinator.service
say "done: put a GitHub token in $ETC_DIR/github.token (0640, group launchplane); the admin token is in $DATA_DIR/admin.token"
