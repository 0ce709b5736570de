"""The connector's log output: text for people or JSON lines for a log collector, and never a secret.

``logging.format`` (``text`` or ``json``) and ``logging.level`` in ``connector.yaml`` choose; the CLI
applies them for every command (:func:`configure`, with :func:`settings_for` reading the section) before
the command runs, so its first line is already in the chosen form. ``-v`` logs at DEBUG whatever the level.

**JSON lines.** One object per line: ``time`` (UTC, milliseconds), ``level``, ``logger``, ``message``,
and, when the line is about one message or delivery, ``channel``, ``message_id`` (the platform's id),
``delivery_id`` and ``sink``: the log calls that concern one pass them with ``extra=`` (:func:`about`,
:func:`about_delivery`), so a log collector can find every line about a message without parsing text.
An exception comes as one string, ``exc_info`` (the traceback).

**No secrets.** The root handler carries :class:`SecretFilter`: every record's message (with its
arguments put in), exception text and stack text first go through :mod:`connector.redact` (credentials in
URLs, secret query parameters, and every secret value the configuration took from ``${ENV}``, which
:mod:`connector.config` registers while it loads), then through the patterns here, for what is no URL:
``Authorization:`` headers, ``Bearer``/``Basic`` credentials, JWTs (``eyJ...``), and ``name=value``,
``name: value`` and ``"name": "value"`` where the name is a secret one by :func:`connector.redact.is_secret_param`
(``password``, ``token``, ``secret``, ``client_secret``, ``api_key``, ...). Lines in either format are made
from the filtered record, so both are redacted alike.
"""
from __future__ import annotations

import json
import logging
import os
import re
import sys
from datetime import datetime, timezone
from pathlib import Path

from . import redact
from .message import fixed_iso

TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
CONTEXT = ("channel", "message_id", "delivery_id", "sink")  # the ``extra=`` keys a JSON line carries
QUIET = ("apscheduler", "werkzeug")  # every job run and every request is noise for an operator (not with -v)
MASK = redact.MASK

# "Authorization: Bearer abc", "'Authorization': 'Basic abc='", "authorization=Token abc": the scheme stays
_AUTH_HEADER = re.compile(r"(?i)(\b(?:proxy-)?authorization['\"]?\s*[:=]\s*['\"]?)"
                          r"(?:(bearer|basic|token|jwt|digest|negotiate)\s+)?([^'\"\r\n]+)")
# a credential after its scheme, on its own; a lower-case word ("basic authentication") is no credential
_SCHEME = re.compile(r"\b([Bb]earer|BEARER|[Bb]asic|BASIC)\s+(?![a-z]+\b)([A-Za-z0-9._~+/=-]{8,})")
_JWT = re.compile(r"\beyJ[A-Za-z0-9_-]{5,}(?:\.[A-Za-z0-9_-]*){0,4}")
_PAIR = re.compile(r"(?<![\w.-])([A-Za-z_][\w.-]*)(\s*[=:]\s*)([^\s&;,'\"<>)\]}]+)")
# (a value is at most 500 characters: an opening quote that is never closed must not make each try read to the end)
_QUOTED_PAIR = re.compile(r"([\"'])([A-Za-z_][\w.-]*)\1(\s*:\s*)([\"'])((?:\\.|(?!\4)[^\\]){0,500})\4")


def scrub(text):
    """``text`` with every credential replaced by ``***`` (see the module docstring); not text: as it is."""
    if not text or not isinstance(text, str):
        return text
    text = redact.redact_text(text)
    text = _JWT.sub(MASK, text)
    text = _QUOTED_PAIR.sub(lambda m: m.group(0) if not redact.is_secret_param(m.group(2)) else
                            f"{m.group(1)}{m.group(2)}{m.group(1)}{m.group(3)}{m.group(4)}{MASK}{m.group(4)}", text)
    text = _AUTH_HEADER.sub(lambda m: f"{m.group(1)}{m.group(2) + ' ' if m.group(2) else ''}{MASK}", text)
    text = _SCHEME.sub(lambda m: f"{m.group(1)} {MASK}", text)
    return _PAIR.sub(_pair, text)


def _pair(match: re.Match) -> str:
    name, value = match.group(1), match.group(3)
    if value.startswith(MASK) or name.lower().endswith("authorization") or not redact.is_secret_param(name):
        return match.group(0)
    return f"{name}{match.group(2)}{MASK}"


class SecretFilter(logging.Filter):
    """Redacts a record in place before any handler formats it (:func:`scrub`); never drops one."""

    _redacting = redact.RedactingFilter()

    def filter(self, record: logging.LogRecord) -> bool:
        self._redacting.filter(record)  # the message with its arguments, and the exception text (idempotent)
        if not getattr(record, "_scrubbed", False):
            record.msg = scrub(record.msg)
            record.exc_text = scrub(record.exc_text)
            record.stack_info = scrub(record.stack_info)
            record._scrubbed = True
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object per record, on one line (see the module docstring for its fields)."""

    def format(self, record: logging.LogRecord) -> str:
        entry = {"time": fixed_iso(datetime.fromtimestamp(record.created, timezone.utc)),
                 "level": record.levelname, "logger": record.name, "message": record.getMessage()}
        for key in CONTEXT:
            value = getattr(record, key, None)
            if value is not None:
                entry[key] = value
        if record.exc_info and not record.exc_text:
            record.exc_text = scrub(self.formatException(record.exc_info))
        if record.exc_text:
            entry["exc_info"] = record.exc_text
        if record.stack_info:
            entry["stack_info"] = record.stack_info
        return json.dumps(entry, ensure_ascii=False, default=str)


def configure(settings: dict | None = None, verbose: bool = False, stream=None, force: bool = False):
    """Log to ``stream`` (default: stderr) in ``settings["format"]`` from ``settings["level"]`` on, redacted.

    Like :func:`logging.basicConfig`, a root logger that already has handlers of others (a test runner's)
    is left as it is unless ``force``; the handler this function added before is replaced. Credentials
    are masked in every record either way (:func:`connector.redact.install_log_redaction`). Returns the
    handler added, or ``None``.
    """
    from .settings import LoggingSchema

    settings = LoggingSchema().load(settings or {})
    redact.install_log_redaction()
    root = logging.getLogger()
    for handler in [h for h in root.handlers if getattr(h, "connector_logs", False)]:
        root.removeHandler(handler)
    if not verbose:
        for name in QUIET:
            logging.getLogger(name).setLevel(logging.WARNING)
    if root.handlers and not force:
        return None
    handler = logging.StreamHandler(stream if stream is not None else sys.stderr)
    handler.connector_logs = True
    handler.setFormatter(JsonFormatter() if settings["format"] == "json" else logging.Formatter(TEXT_FORMAT))
    handler.addFilter(SecretFilter())
    root.addHandler(handler)
    root.setLevel(logging.DEBUG if verbose else settings["level"])
    return handler


def settings_for(path: str | Path) -> dict:
    """The ``logging`` section of the configuration file at ``path`` (``${VAR}`` put in), or ``{}`` (the
    defaults) when there is no such file or the section is not valid: the command reports that itself
    when it loads the configuration, in full."""
    from .config import ENV_REF
    from .settings import LoggingSchema
    from .yamlconf import load

    try:
        section = load(Path(path)).get("logging") if Path(path).is_file() else None
        if not isinstance(section, dict):
            return {}
        values = {key: ENV_REF.sub(lambda m: os.environ.get(m.group(1), m.group(2) or ""), value)
                  if isinstance(value, str) else value for key, value in section.items()}
        return LoggingSchema().load(values)
    except Exception:  # noqa: BLE001 - see the docstring: the full load says what is wrong
        return {}


def about(message=None, sink: str | None = None, channel: str | None = None) -> dict:
    """``extra=`` for a log call about one message (and the sink it goes to), or about a channel."""
    extra = {"channel": getattr(message, "channel", None) or channel, "message_id": getattr(message, "id", None),
             "sink": sink}
    return {key: value for key, value in extra.items() if value is not None}


def about_delivery(row) -> dict:
    """``extra=`` for a log call about one delivery (a :class:`~connector.store.DeliveryRow`)."""
    return {**about(row.message, sink=row.sink), "delivery_id": row.id}


__all__ = ["JsonFormatter", "SecretFilter", "about", "about_delivery", "configure", "scrub", "settings_for"]
