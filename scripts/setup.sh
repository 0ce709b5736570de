#!/usr/bin/env bash
# Create .venv (Python 3.11+) and install the connector with what the README's two commands need:
# the 'test' extra (pytest) and the test doubles' own distribution (doubles/, with openapi-core). Idempotent.
# A production install is just `pip install .` (see the Dockerfile).
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON="${PYTHON:-}"
if [ -z "$PYTHON" ]; then
  for candidate in python3.11 python3.12 python3.13 python3; do
    if command -v "$candidate" >/dev/null 2>&1 && "$candidate" -c 'import sys; sys.exit(sys.version_info < (3, 11))'; then
      PYTHON="$candidate"; break
    fi
  done
fi
[ -n "$PYTHON" ] || { echo "setup: Python 3.11 or newer is needed" >&2; exit 1; }

as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }

if [ ! -x .venv/bin/python ]; then
  if ! "$PYTHON" -m venv .venv 2>/dev/null; then
    # Debian ships venv separately (python3-venv); install it once, non-interactively.
    rm -rf .venv
    echo "setup: installing Debian's python3-venv" >&2
    as_root env DEBIAN_FRONTEND=noninteractive apt-get update -q
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -q python3-venv
    "$PYTHON" -m venv .venv
  fi
fi

stamp=.venv/.installed-$(cat setup.cfg setup.py MANIFEST.in doubles/setup.cfg | sha256sum | cut -c1-16)
if [ ! -f "$stamp" ]; then
  .venv/bin/python -m pip install -q --upgrade pip
  .venv/bin/python -m pip install -q -e '.[test]' -e ./doubles
  rm -f .venv/.installed-*
  touch "$stamp"
fi

# Debian packages some tests need, installed once when missing; without apt-get, or when the install fails,
# those tests skip with the reason and the rest of the suite runs.
debian_package() {  # PACKAGE WHAT-FOR
  if command -v apt-get >/dev/null 2>&1; then
    echo "setup: installing Debian's $1 (for $2)" >&2
    if ! { as_root env DEBIAN_FRONTEND=noninteractive apt-get update -q \
           && as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "$1"; } </dev/null; then
      echo "setup: could not install $1; $2 will skip" >&2
    fi
  else
    echo "setup: no apt-get and no $1; $2 will skip" >&2
  fi
}

# The browser tests (tests/test_browser*.py) drive Debian's `chromium` through Playwright's
# `executable_path` (no `playwright install`).
if ! command -v chromium >/dev/null 2>&1; then
  debian_package chromium "the browser tests"
fi

# The store's PostgreSQL tests (tests/pg_support.py) start a throwaway cluster of Debian's PostgreSQL server
# on a free 127.0.0.1 port (its own clusters are not started: the tests run initdb/pg_ctl themselves).
if ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 && ! command -v initdb >/dev/null 2>&1; then
  debian_package postgresql "the store's PostgreSQL tests"
fi
