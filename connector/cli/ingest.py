"""``connector import`` and ``connector save``: messages from elsewhere than a poll, through the same
rules and sinks.

* ``import KIND PATH --channel NAME``: a platform's data export (an X account archive, a Facebook
  "download your information" export; :mod:`connector.exports`), read in batches, oldest first, so an
  organisation archives its history retroactively;
* ``save URL [--channel NAME]``: one web page captured now (:func:`connector.sources.webpage.capture_url`),
  the "save this" of a civil servant who pastes a link.

Both store what they read on the named channel exactly as a poll would (deduplicated on channel, id
and version; malformed items quarantined; the channel's cursor left alone), with the deliveries the
rules plan; the worker (or ``connector run --once``) delivers them. Exit 0, or 1 when something was
quarantined or could not be captured.
"""
from __future__ import annotations

import sys

from .commands import _build, _config_path, _refuse

#: which channel kinds each export kind may be imported into (so ids match what that channel polls)
EXPORT_CHANNELS = {"x-archive": ("x",), "facebook-export": ("facebook",), "x-compliance": ("x",)}
MAX_COMPLIANCE_BYTES = 256 * 1024 * 1024  # a compliance job's result file: ids and actions, one per line
DELETIONS_PER_PAGE = 500


def _channel(connector, args, kinds: tuple[str, ...], what: str) -> str:
    channels = {c.name: c.kind for c in connector.config.channels}
    name = args.channel
    if name is None:
        fitting = [n for n, k in channels.items() if k in kinds]
        if len(fitting) != 1:
            _refuse(f"{what}: give --channel, the name of a configured channel of kind {' or '.join(kinds)}"
                    f" in {_config_path(args)}" + (f" ({', '.join(fitting)})" if fitting else ": there is none"))
        name = fitting[0]
    if name not in channels:
        _refuse(f"{what}: no channel {name!r} in {_config_path(args)}; configured: {', '.join(channels) or 'none'}")
    if channels[name] not in kinds:
        _refuse(f"{what}: channel {name!r} is of kind {channels[name]!r}; it must be {' or '.join(kinds)}, so"
                " that the messages get the ids that channel's polls give them")
    return name


def _store(connector, channel: str, messages, quarantined) -> tuple[int, int]:
    saved = connector.store.save_page(channel, [(m, connector.plan(m)) for m in messages], None, quarantined)
    return len(saved.new), saved.duplicates


def cmd_import(args) -> int:
    from ..exports import EXPORTS, read_export

    if args.kind == "x-compliance":
        return _import_compliance(args)
    if args.kind not in EXPORTS:
        _refuse(f"import: unknown export kind {args.kind!r}; known: {', '.join(sorted(EXPORTS))}")
    connector = _build(args)
    new = duplicates = skipped = 0
    try:
        channel = _channel(connector, args, EXPORT_CHANNELS.get(args.kind, ()), f"import {args.kind}")
        try:
            for batch in read_export(args.kind, args.path, channel):
                added, again = _store(connector, channel, batch.messages, batch.quarantined)
                new, duplicates, skipped = new + added, duplicates + again, skipped + len(batch.quarantined)
                for item in batch.quarantined:
                    print(f"{args.path}: item {item.item_id or '(no id)'} quarantined: {item.reason}", file=sys.stderr)
        except (OSError, ValueError) as exc:  # a missing, unreadable or malformed export: said, not a traceback
            _refuse(f"{args.path}: {getattr(exc, 'strerror', None) or exc}",
                    f"{new} message(s) stored before it (they stay; importing again skips them)")
    finally:
        connector.close()
    print(f"{args.path}: {new} new message(s) stored on channel {channel!r}, {duplicates} already there,"
          f" {skipped} quarantined; the worker delivers them (or: connector run --once)", file=sys.stderr)
    return 1 if skipped else 0


def _import_compliance(args) -> int:
    """X compliance events (a batch compliance job's result, or stream events: JSON lines) recorded as
    deletions on the records of a configured ``x`` channel (:mod:`connector.store.deletions`)."""
    from ..sources import ParseError
    from ..sources.x import XSource

    connector = _build(args)
    try:
        channel = _channel(connector, args, EXPORT_CHANNELS["x-compliance"], "import x-compliance")
        try:
            with open(args.path, "rb") as file:
                data = file.read(MAX_COMPLIANCE_BYTES + 1)
            if len(data) > MAX_COMPLIANCE_BYTES:
                _refuse(f"{args.path}: more than {MAX_COMPLIANCE_BYTES} bytes; split the compliance file")
            deletions = XSource.compliance_deletions(data)
        except OSError as exc:
            _refuse(f"{args.path}: {exc.strerror or exc}")
        except ParseError as exc:
            _refuse(f"{args.path}: {exc}")
        marked = 0
        for start in range(0, len(deletions), DELETIONS_PER_PAGE):
            saved = connector.store.save_page(channel, [], None, deletions=deletions[start:start + DELETIONS_PER_PAGE])
            marked += saved.deleted
    finally:
        connector.close()
    print(f"{args.path}: {len(deletions)} deletion event(s); {marked} archived message(s) on channel {channel!r}"
          " marked as deleted on the platform (the others were never archived, or were marked before)",
          file=sys.stderr)
    return 0


def cmd_save(args) -> int:
    from ..failures import Failed
    from ..message import Quarantined
    from ..redact import redact_url
    from ..sources.webpage import capture_url

    shown = redact_url(args.url)  # a URL pasted with a password in it: never echoed
    connector = _build(args)
    try:
        channel = _channel(connector, args, ("web",), "save")
        source = connector.sources[channel]
        try:
            captured = capture_url(args.url, channel, session=source.session, options=source.options,
                                   trusted_networks=tuple(connector.config.media.get("trusted_networks") or ()))
        except Failed as exc:
            print(f"{shown}: not captured: {exc.failure.message}", file=sys.stderr)
            return 1
        except ValueError as exc:  # a URL we refuse to fetch (credentials in it, not http/https)
            _refuse(f"{shown}: {exc}")
        if isinstance(captured, Quarantined):
            _store(connector, channel, [], [captured])
            print(f"{shown}: captured but quarantined: {captured.reason}", file=sys.stderr)
            return 1
        new, _ = _store(connector, channel, [captured], [])
        sinks = [p.sink for p in connector.plan(captured)]
    finally:
        connector.close()
    what = "stored" if new else "already stored (unchanged since)"
    print(f"{captured.url}: {what} on channel {channel!r} as version {captured.version or '(first)'};"
          f" deliveries: {', '.join(sinks) or 'none (the rules hold or ignore it)'}", file=sys.stderr)
    return 0
