#!/usr/bin/env bash
# Installs the Launchplane coordinator: the package, the `launchplane` system user,
# /etc/launchplane/coordinator.yaml, /var/lib/launchplane and launchplane-coordinator.service.
# Idempotent: run it again to upgrade; it keeps the config, the signing key and the store.
# Undo: install/ROLLBACK.md.
source "$(dirname "$0")/lib.sh"

usage() {
  cat <<USAGE
usage: install/coordinator.sh [--public-url URL] [--listen HOST] [--self-signed-cert] [options]
  --public-url URL      what agents and the CLI dial (default http://127.0.0.1:7443)
  --listen HOST         the address to listen on (default 127.0.0.1; 0.0.0.0 for other machines)
  --self-signed-cert    make a self-signed TLS certificate for the public URL's host (kept when
                        it exists) and serve https; agents pin its key (sha256//...), which
                        \`launchplane enroll-token create\` prints with the coordinator key
$(common_usage)
USAGE
}

PUBLIC_URL="http://127.0.0.1:7443" LISTEN="127.0.0.1" SELF_SIGNED=0
while [ $# -gt 0 ]; do
  case "$1" in
    --dry-run) DRY_RUN=1 ;;
    --root) ROOT=${2:?--root needs a directory}; shift ;;
    --no-start) NO_START=1 ;;
    --public-url) PUBLIC_URL=${2:?}; shift ;;
    --listen) LISTEN=${2:?}; shift ;;
    --self-signed-cert) SELF_SIGNED=1 ;;
    -h|--help) usage; exit 0 ;;
    *) usage >&2; die LP_USAGE "Unknown option \"$1\"" "" 2 ;;
  esac
  shift
done
if [ "$SELF_SIGNED" = 1 ]; then
  case "$PUBLIC_URL" in
    https://*) ;;
    *) die LP_USAGE "--self-signed-cert needs an https:// --public-url" "" 2 ;;
  esac
  command -v openssl >/dev/null 2>&1 || die LP_USAGE "openssl is not installed" "Install it (apt-get install openssl), then run this again"
fi

# The pin of a certificate's key: what `launchplane-agent enroll --tls-pin` takes.
tls_pin() { # cert.pem
  printf 'sha256//%s' "$(openssl x509 -in "$1" -pubkey -noout | openssl pkey -pubin -outform der |
    openssl dgst -sha256 -binary | base64)"
}

# A self-signed certificate (EC P-256, 10 years) for the public URL's host, made once. Renewing it
# with the same key keeps the pin; a new key means every agent enrolls again.
self_signed_cert() {
  local host cert="$TLS_DIR/cert.pem" key="$TLS_DIR/key.pem" san
  host=$(printf '%s' "$PUBLIC_URL" | sed -E 's#^https://(\[([^]]+)\]|([^/:]+)).*#\2\3#')
  if printf '%s' "$host" | grep -Eq '^[0-9.]+$|:'; then san="IP:$host"; else san="DNS:$host"; fi
  if [ -f "$cert" ] && [ -f "$key" ]; then
    say "ok: keeping $cert"
  elif [ "$DRY_RUN" = 1 ]; then
    say "would run: openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 3650 -subj /CN=$host -addext subjectAltName=$san -keyout $key -out $cert"
    return 0
  else
    mkdir -p "$TLS_DIR"
    chmod 0750 "$TLS_DIR"
    (umask 0077 && openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 3650 \
      -subj "/CN=$host" -addext "subjectAltName=$san" -keyout "$key.tmp" -out "$cert.tmp" 2>/dev/null) ||
      die LP_CONFIG_INVALID "openssl could not make a certificate for \"$host\""
    chmod 0640 "$key.tmp"
    chmod 0644 "$cert.tmp"
    if [ -z "$ROOT" ]; then chown root:launchplane "$TLS_DIR" "$key.tmp"; fi
    mv "$key.tmp" "$key"
    mv "$cert.tmp" "$cert"
    say "ok: wrote $cert (self-signed for $host)"
  fi
  say "tls pin: $(tls_pin "$cert") (agents pin it with --tls-pin; launchplane enroll-token create prints it)"
}

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
TLS_DIR="$ETC_DIR/tls"
[ "$SELF_SIGNED" = 1 ] && self_signed_cert

if [ -f "$ETC_DIR/coordinator.yaml" ]; then
  say "ok: keeping $ETC_DIR/coordinator.yaml"
  if [ "$SELF_SIGNED" = 1 ] && ! grep -q '^tls:' "$ETC_DIR/coordinator.yaml"; then
    say "hint: add \`tls: { cert: $TLS_DIR/cert.pem, key: $TLS_DIR/key.pem }\` to $ETC_DIR/coordinator.yaml to serve it"
  fi
elif [ "$DRY_RUN" = 1 ]; then
  say "would write: $ETC_DIR/coordinator.yaml"
else
  TLS_LINE=""
  [ "$SELF_SIGNED" = 1 ] && TLS_LINE="tls: { cert: $TLS_DIR/cert.pem, key: $TLS_DIR/key.pem }"$'\n'
  cat >"$ETC_DIR/coordinator.yaml" <<CONFIG
# Launchplane coordinator config: see docs/coordinator-config.md.
listen: { host: $LISTEN, port: 7443 }
publicUrl: $PUBLIC_URL
dataDir: $DATA_DIR
${TLS_LINE}github:
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
