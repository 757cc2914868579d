#!/usr/bin/env bash
# Install icegather on Debian/Ubuntu into the virtual environment .venv of this checkout, with
# what it needs from apt: coturn (the tests and the demo run a local one), libseccomp2 (the
# transport process's seccomp filter; most systems have it already), python3-venv
# (Debian's Python refuses `pip install` outside a virtual environment, PEP 668, and may come
# without venv's pip) and, for the tests, prometheus (a real Prometheus scrapes the exporter;
# promtool checks the shipped rules) and chromium with its driver (the timeline page is checked
# in a real browser). apt runs only for what is missing, as root or through sudo.
#
#   bash scripts/install.sh          # icegather
#   bash scripts/install.sh test     # icegather and what its tests need
set -euo pipefail
cd "$(dirname "$0")/.."
extras=${1:-}
python=${PYTHON:-python3}

missing=()
command -v turnserver >/dev/null || missing+=(coturn)
dpkg-query -W -f='${Status}' libseccomp2 2>/dev/null | grep -q 'ok installed' || missing+=(libseccomp2)
# Debian ships venv without ensurepip unless python3-venv is installed.
"$python" -c 'import ensurepip, venv' 2>/dev/null || missing+=(python3-venv)
if [ "$extras" = test ]; then
  command -v promtool >/dev/null || missing+=(prometheus)
  command -v chromedriver >/dev/null || missing+=(chromium chromium-driver)
  command -v nft >/dev/null || missing+=(nftables)  # loss, for the tests of real networks
fi
if [ ${#missing[@]} -gt 0 ]; then
  sudo=""
  if [ "$(id -u)" -ne 0 ]; then sudo="sudo"; fi
  $sudo apt-get update -q
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -q --no-install-recommends "${missing[@]}"
fi

[ -x .venv/bin/python ] || "$python" -m venv .venv
# Editable: the checkout is the code that runs, so a change needs no reinstall.
.venv/bin/python -m pip install -q --disable-pip-version-check -e ".${extras:+[$extras]}"
# Byte-compiled now, as pip does for a regular install: where PYTHONDONTWRITEBYTECODE is set (as
# container images often set it), every command would otherwise compile the main process's
# modules again (the transport runs isolated, -I, and writes its own). The folders by their own
# names: compileall does not follow icegather/'s links to them.
.venv/bin/python -m compileall -q icegather main_proc shared transport_proc
[ "$extras" != test ] || bash scripts/peer_servers/build.sh  # Pion TURN, node-turn, the stun example server
