#!/usr/bin/env bash
# Set up, then run the demo: local Mastodon + feed + ZGW case system + worker + status app.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
exec .venv/bin/connector demo "$@"
