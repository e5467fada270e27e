#!/usr/bin/env bash
# Installs the peers of the gateway comparison (bench/gateway/compare.ts)
# OUTSIDE the repository, under $PEERS_DIR (default ~/.cache/mcpmesh/peers):
#   supergateway 4.0.0 and mcp-proxy 6.7.19  from the npm registry
#   agentgateway                             from a prebuilt archive (xz) whose location is given
#                                            as AGENTGATEWAY_ARCHIVE or as the first argument
# A peer that cannot be installed is skipped with a note; the bench skips what is missing.
#
#   bash bench/gateway/install-peers.sh [AGENTGATEWAY_ARCHIVE]
set -uo pipefail

PEERS_DIR="${PEERS_DIR:-${MCPMESH_CACHE:-$HOME/.cache/mcpmesh}/peers}"
ARCHIVE="${1:-${AGENTGATEWAY_ARCHIVE:-}}"
SUPERGATEWAY_VERSION=4.0.0
MCP_PROXY_VERSION=6.7.19

mkdir -p "$PEERS_DIR/npm" "$PEERS_DIR/bin"
note() { printf 'install-peers: %s\n' "$*" >&2; }

# npm peers, pinned, in a package folder of their own (never the repo's node_modules).
cd "$PEERS_DIR/npm"
[ -f package.json ] || printf '{ "name": "mcpmesh-bench-peers", "private": true }\n' > package.json
for spec in "supergateway@$SUPERGATEWAY_VERSION" "mcp-proxy@$MCP_PROXY_VERSION"; do
  name="${spec%@*}"; want="${spec##*@}"
  have="$(node -p "require('./node_modules/$name/package.json').version" 2>/dev/null || true)"
  if [ "$have" = "$want" ]; then note "$spec already installed"; continue; fi
  if npm install --no-audit --no-fund --save-exact "$spec" >/dev/null 2>&1; then
    note "$spec installed in $PEERS_DIR/npm"
  else
    note "$spec could not be installed: skipped (the bench will say so)"
  fi
done

# agentgateway: a prebuilt release binary, xz-compressed.
if [ -x "$PEERS_DIR/bin/agentgateway" ]; then
  note "agentgateway already unpacked at $PEERS_DIR/bin/agentgateway"
elif [ -z "$ARCHIVE" ]; then
  note "agentgateway skipped: give the prebuilt archive as AGENTGATEWAY_ARCHIVE=... or as the first argument"
elif [ ! -r "$ARCHIVE" ]; then
  note "agentgateway skipped: $ARCHIVE is not readable"
elif xz -dc "$ARCHIVE" > "$PEERS_DIR/bin/agentgateway.tmp" && chmod +x "$PEERS_DIR/bin/agentgateway.tmp"; then
  mv "$PEERS_DIR/bin/agentgateway.tmp" "$PEERS_DIR/bin/agentgateway"
  note "agentgateway unpacked at $PEERS_DIR/bin/agentgateway"
else
  rm -f "$PEERS_DIR/bin/agentgateway.tmp"
  note "agentgateway skipped: $ARCHIVE could not be unpacked (xz)"
fi
echo "$PEERS_DIR"
