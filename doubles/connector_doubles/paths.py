"""Where the repository's data lives when running from a checkout (demo and doubles only)."""
from __future__ import annotations

import os
from pathlib import Path


def repo_root() -> Path:
    """The checkout root (holding ``fixtures/`` and ``mappings/``); ``$CONNECTOR_HOME`` overrides."""
    if os.environ.get("CONNECTOR_HOME"):
        return Path(os.environ["CONNECTOR_HOME"]).resolve()
    here = Path(__file__).resolve().parents[2]  # doubles/connector_doubles/paths.py in a checkout
    for candidate in (here, Path.cwd(), *Path.cwd().parents):
        if (candidate / "fixtures").is_dir() and (candidate / "mappings").is_dir():
            return candidate
    return here
