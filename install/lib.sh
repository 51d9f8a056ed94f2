# Shared by install/agent.sh and install/coordinator.sh. Sourced, not run.
# Every change goes through `run` so that --dry-run prints the exact steps and changes nothing.

set -euo pipefail

LP_SRC=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
DRY_RUN=0
ROOT=""            # install into this directory instead of / (tests, images)
NO_START=0         # write and enable nothing in the running systemd
MIN_NODE_MAJOR=20

say() { printf '%s\n' "$*"; }
die() { printf 'error %s: %s\n' "$1" "$2" >&2; [ -n "${3:-}" ] && printf 'hint: %s\n' "$3" >&2; exit "${4:-1}"; }

run() {
  if [ "$DRY_RUN" = 1 ]; then
    printf 'would run: %s\n' "$*"
  else
    "$@"
  fi
}

# Paths, all under $ROOT.
set_paths() {
  PREFIX="$ROOT/opt/launchplane"
  ETC_DIR="$ROOT/etc/launchplane"
  DATA_DIR="$ROOT/var/lib/launchplane"
  UNIT_DIR="$ROOT/etc/systemd/system"
}

check_node() {
  command -v node >/dev/null 2>&1 ||
    die LP_USAGE "Node.js is not installed" "Install Node.js ${MIN_NODE_MAJOR} or newer, then run this again"
  local major
  major=$(node -p 'process.versions.node.split(".")[0]')
  [ "$major" -ge "$MIN_NODE_MAJOR" ] ||
    die LP_USAGE "Node.js $(node -v) is too old" "Install Node.js ${MIN_NODE_MAJOR} or newer"
  say "ok: node $(node -v)"
}

check_built() {
  local f
  for f in packages/shared/dist/index.js packages/agent/dist/cli.js packages/coordinator/dist/cli.js; do
    [ -f "$LP_SRC/$f" ] || die LP_USAGE "The source tree at $LP_SRC is not built ($f missing)" \
      "Run \`npm ci && npm run build\` in $LP_SRC first"
  done
  [ -d "$LP_SRC/node_modules" ] || die LP_USAGE "No node_modules in $LP_SRC" "Run \`npm ci\` in $LP_SRC first"
}

ensure_dir() { # path mode [owner]
  if [ -d "$1" ]; then
    say "ok: $1 exists"
  else
    run mkdir -p "$1"
  fi
  run chmod "$2" "$1"
  if [ -n "${3:-}" ] && [ -z "$ROOT" ]; then run chown "$3" "$1"; fi
}

ensure_user() { # name
  if [ -n "$ROOT" ]; then
    say "skip: system user $1 (installing into $ROOT)"
  elif id -u "$1" >/dev/null 2>&1; then
    say "ok: user $1 exists"
  else
    run useradd --system --home-dir /var/lib/launchplane --no-create-home --shell /usr/sbin/nologin "$1"
  fi
}

# Copies the built packages and their node_modules into $PREFIX. A new copy is staged beside the
# old one and swapped in, so an interrupted install never leaves a half-copied tree in place.
install_tree() {
  local stage="$PREFIX.new" old="$PREFIX.old"
  if [ "$DRY_RUN" = 1 ]; then
    say "would copy: $LP_SRC (package.json, packages/*/{package.json,dist,stub-runner,node_modules}, node_modules) -> $PREFIX"
    return 0
  else
    rm -rf "$stage"
    mkdir -p "$stage/packages" "$stage/bin"
    cp "$LP_SRC/package.json" "$LP_SRC/package-lock.json" "$LP_SRC/README.md" "$stage/"
    [ -d "$LP_SRC/install" ] && cp -r "$LP_SRC/install" "$stage/install"
    local p
    for p in shared agent coordinator github-sim; do
      mkdir -p "$stage/packages/$p"
      cp "$LP_SRC/packages/$p/package.json" "$stage/packages/$p/"
      cp -r "$LP_SRC/packages/$p/dist" "$stage/packages/$p/dist"
      [ -d "$LP_SRC/packages/$p/stub-runner" ] && cp -r "$LP_SRC/packages/$p/stub-runner" "$stage/packages/$p/"
      # A workspace keeps its own copy of a dependency whose version differs from the hoisted one.
      [ -d "$LP_SRC/packages/$p/node_modules" ] && cp -a "$LP_SRC/packages/$p/node_modules" "$stage/packages/$p/"
    done
    cp -a "$LP_SRC/node_modules" "$stage/node_modules"
    # Workspace links point at the packages inside the new tree.
    rm -rf "$stage/node_modules/@launchplane"
    mkdir -p "$stage/node_modules/@launchplane"
    for p in shared agent coordinator github-sim; do
      ln -s "../../packages/$p" "$stage/node_modules/@launchplane/$p"
    done
    # Build and test tools are not needed at run time; pruning works offline.
    (cd "$stage" && npm prune --omit=dev --ignore-scripts --no-audit --no-fund --loglevel=error >/dev/null)
    write_launcher "$stage/bin/launchplane-agent" packages/agent/dist/cli.js
    write_launcher "$stage/bin/launchplane" packages/coordinator/dist/cli.js
    rm -rf "$old"
    [ -d "$PREFIX" ] && mv "$PREFIX" "$old"
    mv "$stage" "$PREFIX"
    rm -rf "$old"
  fi
  say "ok: installed $PREFIX"
}

write_launcher() { # path relative-cli
  cat >"$1" <<LAUNCHER
#!/bin/sh
exec node "$PREFIX/$2" "\$@"
LAUNCHER
  chmod 0755 "$1"
}

# Renders a unit template from install/systemd with this install's paths.
render_unit() { # template-name
  sed -e "s#@PREFIX@#$PREFIX#g" -e "s#@ETC_DIR@#$ETC_DIR#g" -e "s#@DATA_DIR@#$DATA_DIR#g" \
    -e "s#@UNIT_DIR@#$UNIT_DIR#g" "$LP_SRC/install/systemd/$1"
}

install_unit() { # name
  local target="$UNIT_DIR/$1"
  if [ "$DRY_RUN" = 1 ]; then
    say "would write: $target"
  else
    mkdir -p "$UNIT_DIR"
    render_unit "$1" >"$target.tmp"
    chmod 0644 "$target.tmp"
    mv "$target.tmp" "$target"
    say "ok: wrote $target"
  fi
  if [ "$NO_START" = 1 ] || [ -n "$ROOT" ]; then
    say "skip: systemctl enable --now $1 (--no-start or --root)"
  else
    run systemctl daemon-reload
    run systemctl enable --now "$1"
  fi
}

common_usage() {
  cat <<USAGE
  --dry-run       print every step, change nothing
  --root DIR      install under DIR instead of / (no user, no systemctl)
  --no-start      write the unit but do not enable or start it
  -h, --help      this help
USAGE
}
