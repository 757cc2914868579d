#!/usr/bin/env bash
# Install coturn (if missing) and icegather, then run icegather against a local coturn.
set -euo pipefail
cd "$(dirname "$0")/.."
if ! command -v turnserver >/dev/null; then
  sudo=""
  if [ "$(id -u)" -ne 0 ]; then sudo="sudo"; fi
  $sudo apt-get update -q
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -q coturn
fi
python3 -m pip install -q -e .
exec python3 scripts/demo.py
