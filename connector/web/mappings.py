"""The rule editor of the web UI (issue 11, "Mapping editor"): the mapping files, checked, tried and saved.

* ``GET /regels``: the files of ``config.mappings`` (a folder of YAML files, or one file) and whether
  the rules are valid. ``GET /regels/<file>``: one file in a textarea; only an admin gets a form.
* ``POST /regels/<file>/controleer``: the edited text checked exactly as ``connector mappings check``
  checks the files: the whole rule set with this one file replaced (``load_rules(overrides=...)``,
  YAML safe-loaded by the project's loader, nothing evaluated), plus the sink names and what each
  target sink takes (``validate_routing``), as ``--config`` adds them. Problems as file:line.
* ``POST /regels/<file>/controleer.json``: the same check as JSON for the check as you type
  (``static/regels.js``): ``{"ok": bool, "problems": [{"file", "line", "text"}]}``. Admins only, with
  the CSRF token and the size bound of the form; the page's buttons work without JavaScript too.
* ``POST /regels/<file>/proef``: a dry run over the last N stored messages: only the messages whose
  rule or action changes between the live rules and the edited text.
* ``POST /regels/<file>/opslaan``: needs a change comment, refuses invalid rules and a file changed
  since the edit began; writes atomically (a temporary file in the same folder, then ``os.replace``),
  records the version (:mod:`connector.store.ruleversions`, with the audit event ``rules.saved``).
  The worker's RulesHolder notices the changed file and reloads; this app's holder is refreshed now.
* ``GET /regels/<file>/versies``: the saved versions; ``?van=A&naar=B`` a unified diff between two of
  them (``naar=huidig``: the file as it is now; ``?versie=A`` is short for ``van=A&naar=huidig``);
  ``POST /regels/<file>/terugzetten/<n>``: rolls back, as a new version "teruggezet naar versie n".

A file name is only ever one of the names listed from the mappings folder (no path is built from
what the browser sends). Jinja escapes all rule text, comments and message fields.
"""
from __future__ import annotations

import os
from pathlib import Path

from flask import Blueprint, abort, current_app, jsonify, redirect, render_template, request, url_for

from ..rules import RulesError, load_rules
from ..store.ruleversions import content_sha256
from ..store.users import role_allows
from .auth import current_user, login_required
from .mappings_support import diff_lines, dry_run_changes, write_atomically

bp = Blueprint("mappings", __name__)

MAX_TEXT = 1024 * 1024  # bytes of rule text accepted from a form
MAX_COMMENT = 500
DRY_RUN_DEFAULT, DRY_RUN_MAX = 200, 2000
SUFFIXES = (".yaml", ".yml")
CURRENT = "huidig"  # the diff side that is the file as it is now
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


def _problem(problem) -> dict:
    """A :class:`~connector.yamlconf.Problem` as the editor shows it: the file's name (not the
    server's folder), its line, and the message."""
    return {"file": Path(problem.file).name, "line": problem.line, "text": _shorten(problem.message)}


def _problem_text(problem: dict) -> str:
    return f"{problem['file']}:{problem['line']}: {problem['text']}"


def _ruleset(name: str, text: str | None):
    """The whole rule set with ``name`` replaced by ``text`` (None: as on disk), checked as the
    holder checks it; ``(ruleset, [])`` or ``(None, problems)`` (dicts of :func:`_problem`)."""
    from ..rulesholder import _all_rules, _rule_sinks, _split
    from ..yamlconf import Problem

    config = current_app.config["CONNECTOR"]
    try:
        ruleset = load_rules(_root(), overrides=None if text is None else {name: text})
        names = [s.name for s in config.sinks]
        problems = [Problem(*_split(rule.source), f"rule {rule.name!r}: sink {sink!r} is not configured"
                            f" (configured: {', '.join(names)})")
                    for rule in _all_rules(ruleset) for sink in _rule_sinks(rule) if sink not in names]
        sinks = _sinks()
        if sinks and not problems:
            from ..fanout import rule_problems
            problems += rule_problems(ruleset, sinks, config.sinks)
        if problems:
            return None, [_problem(p) for p in problems]
        return ruleset, []
    except RulesError as exc:
        return None, [_problem(p) for p in exc.problems]


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
    if "fouten" in extra:
        extra["fouten"] = [p if isinstance(p, str) else _problem_text(p) for p in extra["fouten"]]
    return render_template("regels_bestand.html", bestand=name, tekst=text, basis=basis, max_tekst=MAX_TEXT,
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


@bp.post("/regels/<name>/controleer.json")
@login_required("admin")
def check_json(name: str):
    """The check of :func:`check` for ``static/regels.js``: JSON, no page."""
    _path(name)
    _, problems = _ruleset(name, _submitted_text())
    return jsonify(ok=not problems, problems=problems)


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


@bp.get("/regels/<name>/versies")
@login_required()
def versions(name: str):
    path = _path(name)
    store = current_app.config["STORE"]
    old = request.args.get("van") or request.args.get("versie", "")
    new = request.args.get("naar") or CURRENT
    diff = None
    if old:
        (old_label, old_text), (new_label, new_text) = _side(name, path, old), _side(name, path, new)
        diff = diff_lines(old_text, new_text, old_label, new_label)
    user = current_user()
    return render_template("regels_versies.html", bestand=name, versies=store.rule_versions(name), van=old,
                           naar=new, verschil=diff, bewerken=role_allows(user["role"], "admin"))


def _side(name: str, path: Path, chosen: str) -> tuple[str, str]:
    """``(label, text)`` of one side of a diff: a saved version's number, or ``huidig`` (the file now);
    404 for anything else."""
    if chosen == CURRENT:
        return "huidig bestand", path.read_text(encoding="utf-8")
    found = None
    if chosen.isdigit() and len(chosen) < 10:
        found = current_app.config["STORE"].rule_version(name, int(chosen))
    if found is None:
        abort(404)
    return f"versie {found['version']}", found["content"]


@bp.post("/regels/<name>/terugzetten/<int:version>")
@login_required("admin")
def rollback(name: str, version: int):
    path = _path(name)
    found = current_app.config["STORE"].rule_version(name, version) if version < 2**31 else None
    if found is None:
        abort(404)
    return (_store(name, path, found["content"], f"teruggezet naar versie {version}")
            or redirect(url_for("mappings.versions", name=name)))


__all__ = ["bp", "diff_lines", "dry_run_changes", "write_atomically"]
