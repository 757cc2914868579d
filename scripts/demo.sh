#!/usr/bin/env bash
# Install icegather (scripts/install.sh: coturn and python3-venv with apt if missing, then
# icegather into .venv), then run it against a local coturn.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install.sh
exec .venv/bin/python scripts/demo.py
