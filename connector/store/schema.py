"""The store's schema: its migrations, in order, and which columns hold timestamps.

Existing databases record every applied migration by its name in ``_sqlite_migrations``
(sqlite-utils ``Migrations``), so a migration is never renamed, reordered or edited once released:
a change of schema is a new ``m00N_...`` function at the end of this module.
:class:`connector.store.Store` applies the pending ones when it opens a file, under the write lock.
"""
from __future__ import annotations

from sqlite_utils import Database, Migrations

from ..message import fixed_iso, parse_iso

migrations = Migrations("connector")


@migrations()
def m001_initial(db: Database) -> None:
    db["messages"].create({
        "id": int, "channel": str, "platform_id": str, "version": str, "kind": str,
        "author_handle": str, "created_at": str, "url": str, "message_json": str,
        "raw": bytes, "raw_media_type": str, "raw_sha256": str, "page_url": str,
        "fetched_at": str, "stored_at": str,
    }, pk="id", not_null={"channel", "platform_id", "version", "message_json"})
    db["messages"].create_index(["channel", "platform_id", "version"], unique=True)
    db["messages"].create_index(["channel", "stored_at"])
    db["channels"].create({
        "name": str, "kind": str, "state_json": str, "last_poll_at": str, "last_success_at": str,
        "last_error": str, "paused_until": str, "updated_at": str,
    }, pk="name")
    db["deliveries"].create({
        "id": int, "message_id": int, "sink": str, "state": str, "routing_json": str, "rule": str,
        "attempts": int, "last_error": str, "failure_json": str, "next_attempt_at": str,
        "lease_until": str, "zaak_url": str, "zaak_identificatie": str, "documents_json": str,
        "created_at": str, "updated_at": str,
    }, pk="id", not_null={"message_id", "sink", "state"}, foreign_keys=[("message_id", "messages", "id")])
    db["deliveries"].create_index(["message_id", "sink"], unique=True)
    db["deliveries"].create_index(["state", "next_attempt_at"])
    db["delivery_steps"].create({
        "delivery_id": int, "name": str, "result_json": str, "saved_at": str,
    }, pk=("delivery_id", "name"), foreign_keys=[("delivery_id", "deliveries", "id")])
    db["sinks"].create({"name": str, "kind": str, "last_error": str, "last_ok_at": str,
                        "updated_at": str}, pk="name")
    db["quarantine"].create({
        "id": int, "channel": str, "at": str, "reason": str, "item_id": str, "page_url": str,
        "raw": bytes,
    }, pk="id")
    db["events"].create({
        "id": int, "at": str, "kind": str, "channel": str, "sink": str, "message_id": int,
        "delivery_id": int, "detail_json": str,
    }, pk="id")
    db["events"].create_index(["message_id"])
    db["events"].create_index(["delivery_id"])


@migrations()
def m002_pauses(db: Database) -> None:
    """Sinks pause on configuration errors and outages; channels back off after failed polls."""
    db["sinks"].add_column("paused_until", str)
    db["sinks"].add_column("paused_reason", str)
    db["channels"].add_column("failures", int)
    db["channels"].add_column("paused_reason", str)


@migrations()
def m003_liveness(db: Database) -> None:
    """Stalled polls show in status; the worker beats and says which rules it runs."""
    db["channels"].add_column("poll_started_at", str)
    db["workers"].create({
        "id": str, "host": str, "pid": int, "started_at": str, "beat_at": str, "stopped_at": str,
        "rules_fingerprint": str, "rules_count": int, "rules_errors_json": str, "activity_json": str,
    }, pk="id")
    db["meta"].create({"key": str, "value": str}, pk="key")


#: every column holding a timestamp; all written with :func:`connector.message.fixed_iso`
TIMESTAMP_COLUMNS = {
    "messages": ("created_at", "fetched_at", "stored_at", "deleted_at"),
    "channels": ("last_poll_at", "last_success_at", "paused_until", "updated_at", "poll_started_at", "lease_until"),
    "deliveries": ("next_attempt_at", "lease_until", "created_at", "updated_at"),
    "delivery_steps": ("saved_at",),
    "sinks": ("last_ok_at", "updated_at", "paused_until"),
    "quarantine": ("at",),
    "events": ("at",),
    "workers": ("started_at", "beat_at", "stopped_at"),
    "media": ("next_attempt_at", "updated_at"),
    "notices": ("next_attempt_at", "created_at", "updated_at"),
    "users": ("created_at", "updated_at", "last_login_at", "password_changed_at"),
    "rule_versions": ("saved_at",),
}
_WHOLE_SECOND = "[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9]T[0-9][0-9]:[0-9][0-9]:[0-9][0-9]Z"
_FIXED = _WHOLE_SECOND[:-1] + ".[0-9][0-9][0-9]Z"


def _refixed(value):
    """``value`` in the fixed-width form; text that is no timestamp stays as it is."""
    try:
        return fixed_iso(parse_iso(value))
    except (TypeError, ValueError):
        return value


@migrations()
def m004_fixed_width_times(db: Database) -> None:
    """Timestamps in one fixed width (always milliseconds), so text order is time order.

    Before, whole seconds were written without milliseconds, and ``12:00:00Z`` sorted after
    ``12:00:00.500Z``: a delivery due half a second later was claimed early, one due on the
    second waited a second longer, a sink paused until ``12:00:00.500Z`` was not paused at
    ``12:00:00Z``, and messages of the same second were delivered out of order.
    """
    db.conn.create_function("connector_fixed_iso", 1, _refixed, deterministic=True)
    for table, columns in TIMESTAMP_COLUMNS.items():
        if table not in db.table_names():  # made by a later migration, always with fixed-width times
            continue
        existing = set(db[table].columns_dict)
        for column in (c for c in columns if c in existing):  # a later migration's columns: fixed width already
            # what the old writer made of whole seconds, in SQL alone; then anything else not fixed yet
            db.execute(f"update {table} set {column} = substr({column}, 1, 19) || '.000Z'"
                       f" where {column} glob ?", [_WHOLE_SECOND])
            db.execute(f"update {table} set {column} = connector_fixed_iso({column})"
                       f" where {column} is not null and {column} not glob ?", [_FIXED])


@migrations()
def m005_shared_breaker(db: Database) -> None:
    """The circuit breaker's state lives with the sink, so two workers or a restart see the same pause."""
    db["sinks"].add_column("failure_streak", int)
    db["sinks"].add_column("config_pause_seconds", float)


@migrations()
def m006_raw_scope(db: Database) -> None:
    """What a message's original covers: ``item`` (its own bytes) or ``response`` (the whole response).

    A feed entry that cannot be cut out of the response exactly keeps the whole response as its
    original, and the record says so. Every original stored before was an item's own bytes.
    """
    db["messages"].add_column("raw_scope", str, not_null_default="item")


@migrations()
def m007_warc_capture(db: Database) -> None:
    """Where a message's original was captured: the WARC file, response record id and offset (issue 8).

    Messages stored before the capture log existed have none (empty, null offset)."""
    db["messages"].add_column("warc_file", str, not_null_default="")
    db["messages"].add_column("warc_record", str, not_null_default="")
    db["messages"].add_column("warc_offset", int)


@migrations()
def m008_media(db: Database) -> None:
    """Each message's media: fetched once (whatever the number of sinks), retried, or given up on.

    One row per attachment (``position`` in ``Message.attachments``): ``state`` is ``fetched``
    (``path``, ``sha256``, ``size``, ``media_type`` on disk), ``retry`` (``next_attempt_at``) or
    ``missing`` (``missing_json``: why, after how many attempts). ``result_json`` keeps the whole
    fetch result for the record.
    """
    db["media"].create({
        "id": int, "message_id": int, "position": int, "state": str, "attempts": int,
        "next_attempt_at": str, "result_json": str, "missing_json": str, "last_error": str, "updated_at": str,
    }, pk="id", foreign_keys=[("message_id", "messages", "id")], not_null={"message_id", "position", "state"},
        defaults={"attempts": 0})
    db["media"].create_index(["message_id", "position"], unique=True)


@migrations()
def m009_deletions(db: Database) -> None:
    """Messages the platform no longer shows (issue 10): never deleted, marked, and told to the sinks.

    ``messages.deleted_at`` / ``deleted_reason``: when and how the deletion was seen (every stored
    version of the message gets them). ``notices``: one row per (message, sink, kind) telling a sink
    that already holds the record (``kind`` ``deletion``): ``pending`` (``next_attempt_at``),
    ``done``, ``unsupported`` (the sink has no way to be told) or ``dead`` (it refused).
    """
    db["messages"].add_column("deleted_at", str)
    db["messages"].add_column("deleted_reason", str)
    db["notices"].create({
        "id": int, "message_id": int, "sink": str, "kind": str, "state": str, "detail_json": str,
        "attempts": int, "next_attempt_at": str, "last_error": str, "created_at": str, "updated_at": str,
    }, pk="id", foreign_keys=[("message_id", "messages", "id")], not_null={"message_id", "sink", "kind", "state"},
        defaults={"attempts": 0})
    db["notices"].create_index(["message_id", "sink", "kind"], unique=True)
    db["notices"].create_index(["state", "next_attempt_at"])


@migrations()
def m010_users(db: Database) -> None:
    """Local accounts of the web UI (issue 11): a name, a role and a password hash (werkzeug).

    ``role`` is ``admin``, ``archivist`` or ``helpdesk`` (:data:`connector.store.users.ROLES`);
    ``disabled`` 1 keeps the account (and its place in the audit trail) but refuses its logins.
    The password itself is never stored, only ``password_hash`` (scrypt); ``password_changed_at``
    ends the sessions opened before a new password was set.
    """
    db["users"].create({
        "id": int, "name": str, "role": str, "password_hash": str, "disabled": int,
        "created_at": str, "updated_at": str, "last_login_at": str, "password_changed_at": str,
    }, pk="id", not_null={"name", "role", "password_hash"}, defaults={"disabled": 0})
    db["users"].create_index(["name"], unique=True)


@migrations()
def m011_chart_indexes(db: Database) -> None:
    """The dashboard's charts read the last days by time: messages by ``stored_at``, events by kind and time."""
    db["messages"].create_index(["stored_at"], if_not_exists=True)
    db["events"].create_index(["kind", "at"], if_not_exists=True)


@migrations()
def m012_rule_versions(db: Database) -> None:
    """Every version of a mapping file saved in the web UI's editor (issue 11), never deleted.

    ``file`` is the file's name in the mappings folder; ``version`` counts 1, 2, ... per file;
    ``content`` is the whole text as saved, ``sha256`` its UTF-8 bytes' hash; ``author`` the
    web UI account that saved it and ``comment`` its required change comment.
    """
    db["rule_versions"].create({
        "id": int, "file": str, "version": int, "author": str, "saved_at": str, "comment": str,
        "content": str, "sha256": str,
    }, pk="id", not_null={"file", "version", "author", "saved_at", "comment", "content", "sha256"})
    db["rule_versions"].create_index(["file", "version"], unique=True)


@migrations()
def m013_web_page_indexes(db: Database) -> None:
    """Partial indexes over the messages deleted on the platform, for the dashboard and ``/status``.

    With 100,000 messages stored (``bench/pages.py``) both pages took over 300 ms in two queries
    that read every message row: the newest deletions (:meth:`~connector.store.Store.deletions`,
    ``where deleted_at is not null order by deleted_at desc``) scanned the table, and the deleted
    count per channel (:meth:`~connector.store.Store.channel_rows`) read every row of each channel
    for its ``deleted_at``. Only the few deleted rows are in these indexes, so they cost next to
    nothing to keep.
    """
    db.execute("create index if not exists idx_messages_deleted_at on messages (deleted_at)"
               " where deleted_at is not null")
    db.execute("create index if not exists idx_messages_channel_platform_id_deleted on messages (channel, platform_id)"
               " where deleted_at is not null")


@migrations()
def m014_user_source(db: Database) -> None:
    """Accounts from single sign-on (OpenID Connect, :mod:`connector.web.oidc`) beside the local ones.

    ``source`` is ``local`` (a password set with ``connector users``) or ``oidc``; ``subject`` binds an
    ``oidc`` account to the provider's ``issuer`` and ``sub``, so another person who later gets the same
    user name at the provider does not get this account. An ``oidc`` account's ``password_hash`` is no
    hash at all: no password can match it.
    """
    db["users"].add_column("source", str, not_null_default="local")
    db["users"].add_column("subject", str)


@migrations()
def m015_metrics(db: Database) -> None:
    """What ``GET /metrics`` (:mod:`connector.metrics`) reads at every scrape, kept cheap to read.

    ``channels.last_poll_seconds``: how long the channel's last poll took (from ``poll_started_at`` to its
    outcome, written by :meth:`~connector.store.Store.record_poll`); nothing recorded a poll's duration before.
    ``deliveries(state, sink)``: the backlog per sink and state from the index alone (a scan of every delivery
    row took 166 ms with 131,667 deliveries, the index 9 ms). It is ``(state, sink)`` and not ``(sink, state)``:
    with the sink first, the claim query for one sink took that index and read every delivery of the sink.
    """
    db["channels"].add_column("last_poll_seconds", float)
    db["deliveries"].create_index(["state", "sink"], if_not_exists=True)


@migrations()
def m016_worker_leases(db: Database) -> None:
    """Who holds what when several workers share one store (issue 13).

    ``channels.lease_holder`` / ``lease_until``: the worker polling the channel and until when its lease runs
    (:meth:`~connector.store.Store.take_channel`); one conditional update takes it, so one worker polls a
    channel at a time and a killed worker's lease simply runs out. ``deliveries.claimed_by``: the worker
    that claimed an in_progress delivery (:meth:`~connector.store.Store.claim_due`), cleared when it leaves
    in_progress; ``/status`` counts them per worker.
    """
    db["channels"].add_column("lease_holder", str)
    db["channels"].add_column("lease_until", str)
    db["deliveries"].add_column("claimed_by", str)
