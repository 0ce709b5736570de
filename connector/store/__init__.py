"""The store: the one package that speaks SQL, to SQLite (the default) or PostgreSQL (issue 13).

``Store(url)`` picks the database (:mod:`.backend`): a file path or ``sqlite:///path`` opens SQLite
through sqlite-utils, as it always did; ``postgresql://user@host:port/db`` opens PostgreSQL through
psycopg 3 (the password from ``PGPASSWORD`` or a ``${ENV}`` in the configuration, never shown). The
store's SQL is written once, in the subset both speak, with the few fragments that differ taken from
the backend's dialect; the migrations are one set for both (:mod:`.pgschema` runs them on PostgreSQL).

Tables
------
``messages``        one row per message version, unique on ``(channel, platform_id, version)``;
                    the normalised message as JSON plus the platform's raw bytes, their SHA-256,
                    where and when they were fetched.
``channels``        per channel: cursor state, last poll, last error, rate-limit pause.
``deliveries``      one row per (message, sink): state (see :mod:`connector.states`), the routing
                    the rules chose, attempts, last error, the zaak and documents it produced.
``delivery_steps``  memoised step results of each delivery (see :class:`StoreSteps`).
``sinks``           per sink: last error, last success.
``quarantine``      items a source could not normalise, with raw bytes and reason.
``notices``         what a sink holding a record must be told afterwards (a deletion on the platform).
``events``          the audit trail: every ingest, state change, error, with time and detail.
``users``           the web UI's accounts: name, role, password hash (never the password).
``rule_versions``   every mapping file version saved in the web UI: author, time, comment, content, sha256.

Guarantees
----------
* :meth:`Store.save_page` stores a page's new messages, the deliveries they need and the channel's
  new cursor in ONE transaction (transactional outbox): the cursor never moves past a message that
  is not stored, and a message is stored with its deliveries or not at all.
* Every delivery state change goes through :func:`connector.states.check`.
* SQLite: WAL mode, a busy timeout, and schema migrations tracked by sqlite-utils ``Migrations``.
  PostgreSQL: the same migrations through :mod:`.pgschema`, tracked in ``_migrations``.
* Every timestamp column (:data:`TIMESTAMP_COLUMNS`) holds UTC ISO 8601 of one fixed width,
  always with milliseconds (``2026-01-01T12:00:00.000Z``, :func:`connector.message.fixed_iso`), so
  comparing and sorting them as text in SQL is comparing and sorting them in time.
* Several processes may share one file (worker, web app, CLI): every write transaction starts
  with ``BEGIN IMMEDIATE``, so it waits for the write lock (busy timeout) instead of failing with
  "database is locked" when a read would have to be upgraded; migrations run under that same
  lock, so two processes starting at once cannot both apply them. On PostgreSQL writers meet at row
  locks instead (READ COMMITTED), and :meth:`Store.claim_due` locks what it claims and skips what
  another worker holds (``for update skip locked``); migrations run under an advisory lock.
* A file that is missing (when ``create=False``), not a database, or corrupted raises
  :class:`StoreError` naming the file, never a traceback.

A :class:`Store` serialises its own use with a lock, so one instance may be shared by the
scheduler's threads; separate processes (web app, CLI) open their own instance on the same file.

Modules
-------
``schema``    the migrations (``m001_initial`` ...; never renamed or reordered) and :data:`TIMESTAMP_COLUMNS`
``backend``   the two databases behind one small interface (``execute``, ``query``, ``insert``, ``write``) and
              the dialect fragments that differ; the store URL (``parse_url``, ``redact``)
``pgschema``  the migrations on PostgreSQL: a façade offering what they use, DDL for PostgreSQL
``base``      :class:`StoreBase`: the connection, write transactions, health, events; :class:`StoreError`
``outbox``    :class:`OutboxMixin`: ``save_page``, ``claim_due``, delivery state changes, steps (:class:`StoreSteps`)
``channels``  :class:`ChannelsMixin`: channel cursors, polls and pauses, sink pauses, worker heartbeats
``media``     :class:`MediaMixin`: each message's media rows (fetched, retrying, missing)
``deletions`` :class:`DeletionsMixin`: deletions on the platform marked on the record, notices to the sinks
``charts``    :class:`ChartsMixin`: the dashboard's per-hour counts and delivery latency
``status``    :class:`StatusMixin`: read-models for ``/status`` and the CLI
``users``     :class:`UsersMixin`: the web UI's accounts, roles and hashed passwords
``webviews``  :class:`WebViewsMixin`: read-models for the web UI's pages (keyset-paginated)
``ruleversions`` :class:`RuleVersionsMixin`: the mapping files' saved versions (the rule editor)
``manual``    :class:`ManualMixin`: a person's routing of one delivery ("Archiveer in zaak", re-route)

:class:`Store` is the one public class; everything callers use is importable from ``connector.store``.
"""
from __future__ import annotations

from .base import BUSY_TIMEOUT_SECONDS, StoreBase, StoreError, _dumps, _explain, _now
from .channels import ChannelsMixin
from .charts import ChartsMixin
from .deletions import DeletionsMixin
from .manual import ManualMixin
from .media import MediaMixin
from .outbox import DeliveryPlan, DeliveryRow, OutboxMixin, SaveResult, StoreSteps
from .schema import (
    _FIXED,
    _WHOLE_SECOND,
    TIMESTAMP_COLUMNS,
    _refixed,
    m001_initial,
    m002_pauses,
    m003_liveness,
    m004_fixed_width_times,
    migrations,
)
from .status import StatusMixin
from .ruleversions import RuleVersionsMixin
from .users import ROLES, UsersMixin
from .webviews import WebViewsMixin

__all__ = [
    "BUSY_TIMEOUT_SECONDS", "TIMESTAMP_COLUMNS", "DeliveryPlan", "DeliveryRow", "SaveResult", "Store",
    "ROLES", "StoreError", "StoreSteps", "migrations",
]


class Store(OutboxMixin, ManualMixin, ChannelsMixin, MediaMixin, DeletionsMixin, ChartsMixin, StatusMixin, UsersMixin,
            WebViewsMixin, RuleVersionsMixin, StoreBase):
    """Durable state of the connector. See the package docstring for the guarantees.

    ``Store(path, create=True)`` opens (and migrates) the file; see :meth:`StoreBase.__init__`.
    """

    @classmethod
    def for_config(cls, config, create: bool = True) -> "Store":
        """The store of ``config`` (``store:``) with the pool size its processes use
        (:func:`connector.settings.store_connections`): what the engine, the web app and the CLI open."""
        from ..settings import store_connections

        return cls(config.store, create=create, connections=store_connections(config))
