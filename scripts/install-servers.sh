#!/usr/bin/env bash
# Installs the two real servers queue-chaos drives, idempotently:
#   redis-server     from Debian (apt-get) when it is not on PATH already;
#   toxiproxy-server built from source with `go install`, pinned, into ./.bin.
# A second run finds both and does nothing.
set -euo pipefail

TOXIPROXY_VERSION="${TOXIPROXY_VERSION:-v2.12.0}"
root="$(cd "$(dirname "$0")/.." && pwd)"
bin="$root/.bin"
mkdir -p "$bin"

say() { printf 'install-servers: %s\n' "$*"; }
die() { printf 'install-servers: error: %s\n' "$*" >&2; exit 3; }

# --- redis-server -------------------------------------------------------------
if command -v redis-server >/dev/null 2>&1; then
  say "redis-server present: $(redis-server --version | cut -d' ' -f3)"
elif command -v apt-get >/dev/null 2>&1; then
  say "installing redis-server from Debian"
  sudo=""; [ "$(id -u)" -eq 0 ] || sudo="sudo"
  if ! $sudo apt-get install -y -q redis-server >/dev/null 2>&1; then
    $sudo apt-get update -q >/dev/null
    $sudo apt-get install -y -q redis-server >/dev/null
  fi
  # Debian's package may start a system service on 6379; the harness never uses it.
  command -v redis-server >/dev/null 2>&1 || die "apt-get ran but redis-server is not on PATH"
else
  die "redis-server is missing and apt-get is not available. Install Redis >= 6.2 \
(https://redis.io/docs/latest/operate/oss_and_stack/install/) or run the servers with \
'docker compose up -d' and QUEUE_CHAOS_BACKEND=compose."
fi

# --- toxiproxy-server -----------------------------------------------------------
stamp="$bin/toxiproxy-server.version"
if [ -x "$bin/toxiproxy-server" ] && [ "$(cat "$stamp" 2>/dev/null)" = "$TOXIPROXY_VERSION" ]; then
  say "toxiproxy-server $TOXIPROXY_VERSION present in .bin"
elif command -v go >/dev/null 2>&1; then
  say "building toxiproxy-server $TOXIPROXY_VERSION with go install (about 30 s)"
  tmp="$(mktemp -d)"
  trap 'rm -rf "$tmp"' EXIT
  GOBIN="$tmp" GOFLAGS=-mod=mod go install "github.com/Shopify/toxiproxy/v2/cmd/server@$TOXIPROXY_VERSION"
  mv "$tmp/server" "$bin/toxiproxy-server"
  echo "$TOXIPROXY_VERSION" > "$stamp"
else
  die "toxiproxy-server is missing and Go is not available. Install Go >= 1.23 \
(https://go.dev/dl/) and run this again, put a toxiproxy-server $TOXIPROXY_VERSION binary in \
$bin, or run the servers with 'docker compose up -d' and QUEUE_CHAOS_BACKEND=compose."
fi
