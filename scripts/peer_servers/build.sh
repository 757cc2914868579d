#!/usr/bin/env bash
# Build the TURN/STUN servers that are not coturn, for the tests that compare servers
# (scripts/peer_turn.py starts them): Pion's TURN server (Go, built offline from Debian's
# golang-github-pion-turn.v2-dev), node-turn and the `stun` package's example server from npm,
# and PyPI's `stun` package (a different project of the same name) in a virtual environment.
# Everything goes into a cache directory, never into the checkout:
#
#   ${ICEGATHER_PEERS_CACHE:-~/.cache/icegather-peers}/
#     bin/pion_turn-<hash>           hash of main.go + go.mod: a changed source is a new binary
#     go/{path,cache}/               GOPATH and GOCACHE for that build
#     npm/node-turn-<version>/, npm/stun-<version>/   one npm prefix each, versions pinned
#     venv/pypi-stun-<version>/      PyPI's stun and what it needs, pinned (python3 -m venv)
#
# Idempotent: a second run only checks. apt runs only for what is missing, as root or through
# sudo. The pins here and in scripts/peer_turn.py must agree.
#
#   bash scripts/peer_servers/build.sh
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
cache="${ICEGATHER_PEERS_CACHE:-$HOME/.cache/icegather-peers}"
NODE_TURN_VERSION=0.0.6
STUN_VERSION=2.1.0
PYPI_STUN_VERSION=1.1.0
pion_src=/usr/share/gocode/src/github.com/pion/turn/v2

missing=()
command -v go >/dev/null || missing+=(golang-go)
[ -d "$pion_src" ] || missing+=(golang-github-pion-turn.v2-dev)
command -v node >/dev/null || missing+=(nodejs)
# NodeSource's nodejs bundles npm (and conflicts with Debian's npm): only ask apt when absent.
command -v npm >/dev/null || missing+=(npm)
# Debian ships venv without ensurepip unless python3-venv is installed.
python3 -c 'import ensurepip, venv' 2>/dev/null || missing+=(python3-venv)
if [ ${#missing[@]} -gt 0 ]; then
  sudo=""
  if [ "$(id -u)" -ne 0 ]; then sudo="sudo"; fi
  $sudo apt-get update -q
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -q --no-install-recommends "${missing[@]}"
fi
mkdir -p "$cache/bin" "$cache/npm"

# --- Pion TURN ---------------------------------------------------------------------------
hash=$(cat "$here/pion_turn/main.go" "$here/pion_turn/go.mod" | sha256sum | cut -c1-16)
binary="$cache/bin/pion_turn-$hash"
if [ -x "$binary" ]; then
  echo "pion_turn: up to date ($binary)"
else
  # Built in a copy: with -mod=mod the go command may rewrite go.mod, and the checkout stays as is.
  work=$(mktemp -d)
  trap 'rm -rf "$work"' EXIT
  cp -r "$here/pion_turn/." "$work/"
  # Offline: every module is replaced by a directory (see go.mod), nothing may be downloaded.
  (cd "$work" && env GOPATH="$cache/go/path" GOCACHE="$cache/go/cache" GOFLAGS=-mod=mod \
     GOPROXY=off GOSUMDB=off GONOSUMDB='*' GOTOOLCHAIN=local CGO_ENABLED=0 \
     go build -trimpath -o "$binary.tmp" .)
  mv "$binary.tmp" "$binary"  # renamed only when complete: a half-built binary is never found
  echo "pion_turn: built $binary"
fi

# --- npm packages ------------------------------------------------------------------------
# Node trusts only the CAs it bundles: hand it the system's as well, which hold a TLS-inspecting
# proxy's CA where there is one. A stripped environment (CI's `env -i`) drops the variable that
# would say so, and npm then fails with SELF_SIGNED_CERT_IN_CHAIN.
system_cas=/etc/ssl/certs/ca-certificates.crt
if [ -z "${NODE_EXTRA_CA_CERTS:-}" ] && [ -r "$system_cas" ]; then
  export NODE_EXTRA_CA_CERTS="$system_cas"
fi
npm_install() {  # name version: into a prefix of its own, so neither shares the other's deps
  local prefix="$cache/npm/$1-$2"
  if [ "$(node -p "try { require('$prefix/node_modules/$1/package.json').version } catch (e) { '' }")" = "$2" ]; then
    echo "$1: up to date ($prefix)"
    return
  fi
  mkdir -p "$prefix"
  npm install --prefix "$prefix" --no-audit --no-fund --omit=dev --save-exact --loglevel=error "$1@$2"
  echo "$1: installed $2 in $prefix"
}
npm_install node-turn "$NODE_TURN_VERSION"
npm_install stun "$STUN_VERSION"

# --- PyPI's stun -------------------------------------------------------------------------
# A virtual environment of its own, so that it and its dependencies (udp, startrek, smallib,
# pinned too) stay out of .venv.
pypi_stun="$cache/venv/pypi-stun-$PYPI_STUN_VERSION"
installed=$("$pypi_stun/bin/python" -c 'import importlib.metadata as m; print(m.version("stun"))' 2>/dev/null || true)
if [ "$installed" = "$PYPI_STUN_VERSION" ]; then
  echo "pypi stun: up to date ($pypi_stun)"
else
  rm -rf "$pypi_stun" "$pypi_stun.tmp"
  python3 -m venv "$pypi_stun.tmp"
  "$pypi_stun.tmp/bin/python" -m pip install -q --disable-pip-version-check \
    "stun==$PYPI_STUN_VERSION" udp==2.3.3 startrek==2.3.3 smallib==1.2.0
  # Renamed only when complete. Only its bin/python is used, which runs from anywhere (the
  # scripts pip wrote name the old path in their first line).
  mv "$pypi_stun.tmp" "$pypi_stun"
  echo "pypi stun: installed $PYPI_STUN_VERSION in $pypi_stun"
fi
