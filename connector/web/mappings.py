"""The rule editor of the web UI (issue 11, "Mapping editor"): the mapping files, checked, tried and saved.

* ``GET /regels``: the files of ``config.mappings`` (a folder of YAML files, or one file) and whether
  the rules are valid. ``GET /regels/<file>``: one file in a textarea; only an admin gets a form.
* ``POST /regels/<file>/controleer``: the edited text checked exactly as ``connector mappings check``
  checks the files: the whole rule set with this one file replaced (``load_rules(overrides=...)``,
  YAML safe-loaded by the project's loader, nothing evaluated), plus the sink names and what each
  target sink takes (``validate_routing``), as ``--config`` adds them. Problems as file:line.
* ``POST /regels/<file>/proef``: a dry run over the last N stored messages: only the messages whose
  rule or action changes between the live rules and the edited text.
* ``POST /regels/<file>/opslaan``: needs a change comment, refuses invalid rules and a file changed
  since the edit began; writes atomically (a temporary file in the same folder, then ``os.replace``),
  records the version (:mod:`connector.store.ruleversions`, with the audit event ``rules.saved``).
  The worker's RulesHolder notices the changed file and reloads; this app's holder is refreshed now.
* ``GET /regels/<file>/versies``: the saved versions, and a diff of one with the current file;
  ``POST /regels/<file>/terugzetten/<n>``: rolls back, as a new version "teruggezet naar versie n".

A file name is only ever one of the names listed from the mappings folder (no path is built from
what the browser sends). Jinja escapes all rule text, comments and message fields.
"""
from __future__ import annotations

import difflib
import json
import os
import tempfile
from pathlib import Path

from flask import Blueprint, abort, current_app, redirect, render_template, request, url_for

from ..rules import RulesError, load_rules
from ..store.ruleversions import content_sha256
from ..store.users import role_allows
from .auth import current_user, login_required

bp = Blueprint("mappings", __name__)

MAX_TEXT = 1024 * 1024  # bytes of rule text accepted from a form
MAX_COMMENT = 500
DRY_RUN_DEFAULT, DRY_RUN_MAX = 200, 2000
SUFFIXES = (".yaml", ".yml")
FIRST_COMMENT = "het bestand zoals het was vóór de eerste wijziging in de editor"


def _root() -> Path:
    return Path(current_app.config["CONNECTOR"].mappings)


def _files() -> list[str]:
    root = _root()
    if root.is_file():
        return [root.name]
    if not root.is_dir():
        return []
    return sorted(p.name for p in root.iterdir()
                  if p.suffix in SUFFIXES and not p.name.startswith(".") and p.is_file())


def _path(name: str) -> Path:
    """The file ``name`` in the mappings folder; 404 for anything that is not one of its listed files."""
    if not name or "/" in name or "\\" in name or ".." in name or name not in _files():
        abort(404)
    root = _root()
    return root if root.is_file() else root / name


def _problem_text(problem) -> str:
    return f"{Path(problem.file).name}:{problem.line}: {problem.message}"


def _ruleset(name: str, text: str | None):
    """The whole rule set with ``name`` replaced by ``text`` (None: as on disk), checked as the
    holder checks it; ``(ruleset, [])`` or ``(None, problems as text)``."""
    from ..rulesholder import _all_rules, _rule_sinks

    config = current_app.config["CONNECTOR"]
    try:
        ruleset = load_rules(_root(), overrides=None if text is None else {name: text})
        names = [s.name for s in config.sinks]
        problems = [f"{rule.source}: rule {rule.name!r}: sink {sink!r} is not configured"
                    f" (configured: {', '.join(names)})"
                    for rule in _all_rules(ruleset) for sink in _rule_sinks(rule) if sink not in names]
        sinks = _sinks()
        if sinks and not problems:
            from ..fanout import rule_problems
            problems += [_problem_text(p) for p in rule_problems(ruleset, sinks, config.sinks)]
        if problems:
            return None, [_shorten(p) for p in problems]
        return ruleset, []
    except RulesError as exc:
        return None, [_problem_text(p) for p in exc.problems]


def _sinks() -> dict:
    """The configured sinks, made once per app as ``connector mappings check --config`` makes them
    (only for ``validate_routing``, which is pure: no connection is opened)."""
    sinks = current_app.config.get("RULE_EDITOR_SINKS")
    if sinks is None:
        from ..registry import SINKS

        try:
            registry = SINKS.load()
            sinks = {s.name: registry.get_class(s.kind)(s.name, s.options)
                     for s in current_app.config["CONNECTOR"].sinks}
        except Exception:  # noqa: BLE001 - a sink that cannot be made: the names are still checked
            current_app.logger.exception("rule editor: the sinks could not be made; checking sink names only")
            sinks = {}
        current_app.config["RULE_EDITOR_SINKS"] = sinks
    return sinks


def _shorten(text: str) -> str:
    """A problem naming the full path of a rule file names the file alone."""
    root = _root()
    folder = str(root.parent if root.is_file() else root)
    return text.replace(folder + os.sep, "")


def _submitted_text() -> str:
    text = request.form.get("tekst", "")
    if len(text.encode("utf-8")) > MAX_TEXT:
        abort(413)
    return text.replace("\r\n", "\n")  # a browser sends a textarea's lines with CRLF


def _editor(name: str, text: str, status: int = 200, **extra):
    user = current_user()
    basis = request.form.get("basis") or content_sha256(_path(name).read_text(encoding="utf-8"))
    return render_template("regels_bestand.html", bestand=name, tekst=text, basis=basis,
                           bewerken=role_allows(user["role"], "admin"),
                           toelichting=request.form.get("toelichting", ""), **extra), status


@bp.get("/regels")
@login_required()
def index():
    holder = current_app.config["RULES"]
    holder.refresh()
    current = holder.current()
    return render_template("regels.html", bestanden=_files(), aantal=len(current.rules) if current else 0,
                           vingerafdruk=current.fingerprint if current else None,
                           fouten=[_shorten(str(p)) for p in (holder.error or [])])


@bp.get("/mappings")
def mappings_alias():
    """Issue 11 names the editor ``/mappings``; the Dutch UI's address is ``/regels``."""
    return redirect(url_for("mappings.index"))


@bp.get("/regels/<name>")
@login_required()
def show(name: str):
    return _editor(name, _path(name).read_text(encoding="utf-8"))


@bp.post("/regels/<name>/controleer")
@login_required("admin")
def check(name: str):
    _path(name)
    text = _submitted_text()
    _, problems = _ruleset(name, text)
    return _editor(name, text, gecontroleerd=True, fouten=problems)


@bp.post("/regels/<name>/proef")
@login_required("admin")
def dry_run(name: str):
    _path(name)
    text = _submitted_text()
    try:
        count = max(1, min(int(request.form.get("aantal") or DRY_RUN_DEFAULT), DRY_RUN_MAX))
    except ValueError:
        count = DRY_RUN_DEFAULT
    new, problems = _ruleset(name, text)
    if new is None:
        return _editor(name, text, 422, gecontroleerd=True, fouten=problems)
    holder = current_app.config["RULES"]
    holder.refresh()
    changes, total = dry_run_changes(current_app.config["STORE"], holder.current(), new, count)
    return _editor(name, text, proef={"aantal": total, "wijzigingen": changes})


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


@bp.post("/regels/<name>/opslaan")
@login_required("admin")
def save(name: str):
    path = _path(name)
    text = _submitted_text()
    comment = request.form.get("toelichting", "").strip()
    if not comment:
        return _editor(name, text, 422, fouten=["Geef een toelichting bij de wijziging."], gecontroleerd=True)
    if len(comment) > MAX_COMMENT:
        return _editor(name, text, 422, fouten=[f"De toelichting is te lang (hoogstens {MAX_COMMENT} tekens)."],
                       gecontroleerd=True)
    if request.form.get("basis") != content_sha256(path.read_text(encoding="utf-8")):
        return _editor(name, text, 409, gecontroleerd=True, fouten=[
            "Het bestand is gewijzigd sinds u begon; open het opnieuw en breng uw wijziging opnieuw aan."])
    return _store(name, path, text, comment) or redirect(url_for("mappings.versions", name=name))


def _store(name: str, path: Path, text: str, comment: str):
    """Check, write and record ``text`` as the new ``name``; a page (422) when the rules are invalid."""
    _, problems = _ruleset(name, text)
    if problems:
        return _editor(name, text, 422, gecontroleerd=True, fouten=problems)
    store, user = current_app.config["STORE"], current_user()
    if store.newest_rule_version(name) is None:  # keep what was there before the editor's first change
        store.save_rule_version(name, path.read_text(encoding="utf-8"), user["name"], FIRST_COMMENT)
    write_atomically(path, text)
    store.save_rule_version(name, text, user["name"], comment)
    current_app.config["RULES"].refresh()
    return None


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


@bp.get("/regels/<name>/versies")
@login_required()
def versions(name: str):
    path = _path(name)
    store = current_app.config["STORE"]
    diff, chosen = None, request.args.get("versie", "")
    if chosen:
        version = store.rule_version(name, int(chosen)) if chosen.isdigit() and len(chosen) < 10 else None
        if version is None:
            abort(404)
        current = path.read_text(encoding="utf-8")
        diff = "".join(difflib.unified_diff(version["content"].splitlines(keepends=True),
                                            current.splitlines(keepends=True),
                                            f"versie {version['version']}", "huidig bestand")) or None
    user = current_user()
    return render_template("regels_versies.html", bestand=name, versies=store.rule_versions(name),
                           gekozen=chosen, verschil=diff, bewerken=role_allows(user["role"], "admin"))


@bp.post("/regels/<name>/terugzetten/<int:version>")
@login_required("admin")
def rollback(name: str, version: int):
    path = _path(name)
    found = current_app.config["STORE"].rule_version(name, version) if version < 2**31 else None
    if found is None:
        abort(404)
    return (_store(name, path, found["content"], f"teruggezet naar versie {version}")
            or redirect(url_for("mappings.versions", name=name)))


__all__ = ["bp", "dry_run_changes", "write_atomically"]
