"""What the rule editor (:mod:`connector.web.mappings`) computes without Flask: the dry run over stored
messages, the unified diff between two texts, and writing a rule file atomically.

* :func:`dry_run_changes` resolves each of the newest N stored messages with the live rules and with the
  edited ones and keeps only the messages whose rule or action differs.
* :func:`diff_lines` is a unified diff as a list of lines (no line ends), each with the kind a page
  colours it by; the page escapes every line (Jinja), nothing is marked up here.
* :func:`write_atomically` replaces a file at once (temporary file in the same folder, ``os.replace``).
"""
from __future__ import annotations

import difflib
import json
import os
import tempfile
from pathlib import Path


def dry_run_changes(store, old, new, count: int) -> tuple[list[dict], int]:
    """For the newest ``count`` stored messages: those whose rule or action differs between the rule
    sets ``old`` (None: no valid live rules) and ``new``; and how many messages were looked at."""
    from ..message import Message

    rows = store.query("select id, channel, message_json from messages order by id desc limit ?", [count])
    changes = []
    for row in rows:
        try:
            message = Message.from_dict(json.loads(row["message_json"]))
        except (ValueError, KeyError, TypeError):
            continue  # a row this version cannot read: not a rule change
        before, after = _outcome(old, message), _outcome(new, message)
        if before != after:
            changes.append({"id": row["id"], "channel": row["channel"], "oud": before, "nieuw": after})
    return changes, len(rows)


def _outcome(ruleset, message) -> tuple[str, str]:
    if ruleset is None:
        return ("-", "-")
    try:
        routing = ruleset.resolve(message)
    except Exception as exc:  # noqa: BLE001 - a template that fails on one message is shown, not raised
        return ("-", f"fout: {type(exc).__name__}")
    return (routing.rule or "-", routing.action)


def diff_lines(old: str, new: str, old_label: str, new_label: str) -> list[tuple[str, str]]:
    """The unified diff from ``old`` to ``new`` as ``(kind, line)`` pairs; empty when they are equal.

    ``kind`` is ``kopregel`` (the ``---``/``+++`` header), ``blok`` (an ``@@`` hunk header), ``eraf`` (a
    removed line), ``erbij`` (an added line) or ``zelfde`` (context). Lines are compared with their
    line ends, so a file that only lost its last newline still shows a difference."""
    pairs = []
    for line in difflib.unified_diff(old.splitlines(keepends=True), new.splitlines(keepends=True),
                                     old_label, new_label):
        line = line.rstrip("\r\n")
        if len(pairs) < 2:  # unified_diff always begins with the two header lines
            kind = "kopregel"
        elif line.startswith("@@"):
            kind = "blok"
        else:
            kind = {"-": "eraf", "+": "erbij"}.get(line[:1], "zelfde")
        pairs.append((kind, line))
    return pairs


def write_atomically(path: Path, text: str) -> None:
    """Replace ``path`` by ``text`` at once: a reader sees the old file or the new one, never half of it.

    The temporary file is in the same folder (``os.replace`` cannot cross file systems) and its name
    starts with a dot, so the rule loader never reads it."""
    mode = path.stat().st_mode & 0o777
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(handle, "w", encoding="utf-8", newline="") as out:
            out.write(text)
            out.flush()
            os.fsync(out.fileno())
        os.chmod(temporary, mode)
        os.replace(temporary, path)
    except BaseException:
        if os.path.exists(temporary):
            os.unlink(temporary)
        raise


__all__ = ["diff_lines", "dry_run_changes", "write_atomically"]
