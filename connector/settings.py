"""The sections of ``connector.yaml`` that hold settings, not plugins: web, delivery, limits, media, capture, logging.

Each is a marshmallow schema with its defaults (a missing section means all defaults; an unknown key is an
error); :mod:`connector.config` puts them together with the channels and sinks. Durations are seconds, or
``30s``, ``5m``, ``1h``.
"""
from __future__ import annotations

import ipaddress
import re

from marshmallow import RAISE, Schema, ValidationError, fields, pre_load, validate, validates_schema

DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(s|m|h)?\s*$")


class Duration(fields.Field):
    """Seconds as a number, or a string like ``30s``, ``5m``, ``1h``."""

    default_error_messages = {"invalid": "Not a duration (use seconds, or e.g. 30s, 5m, 1h)."}

    def __init__(self, *args, allow_zero: bool = False, **kwargs):
        super().__init__(*args, **kwargs)
        self.allow_zero = allow_zero

    def _deserialize(self, value, attr, data, **kwargs):
        if isinstance(value, bool):
            raise self.make_error("invalid")
        if isinstance(value, (int, float)):
            seconds = float(value)
        else:
            match = DURATION.match(str(value))
            if not match:
                raise self.make_error("invalid")
            seconds = float(match.group(1)) * {"s": 1, "m": 60, "h": 3600, None: 1}[match.group(2)]
        if seconds < 0 or (seconds == 0 and not self.allow_zero):
            raise ValidationError("Must be greater than 0." if not self.allow_zero else "Must not be negative.")
        return seconds



class OidcSchema(Schema):
    """Single sign-on with the organisation's OpenID Connect provider (``web.oidc``; :mod:`connector.web.oidc`)."""

    class Meta:
        unknown = RAISE

    # the provider's issuer URL; its /.well-known/openid-configuration is read (https, or http on loopback)
    issuer = fields.Url(required=True, schemes={"http", "https"}, require_tld=False)
    client_id = fields.String(required=True, validate=validate.Length(min=1, max=200))
    client_secret = fields.String(required=True, validate=validate.Length(min=1))  # from ${ENV} only
    # the button's text: "Inloggen met <label>"
    label = fields.String(load_default="organisatie-account", validate=validate.Length(min=1, max=60))
    scopes = fields.String(load_default="openid profile email")
    # the claim that names the account (then "email", then a hash of "sub")
    username_claim = fields.String(load_default="preferred_username")
    # the claim with the user's groups or roles (a list or a string) and which values give which role
    roles_claim = fields.String(load_default="groups")
    roles = fields.Dict(keys=fields.String(validate=validate.OneOf(("helpdesk", "archivist", "admin"))),
                        values=fields.List(fields.String(), validate=validate.Length(min=1)), required=True,
                        validate=validate.Length(min=1, error="Map at least one role to a group."))
    timeout = Duration(load_default=10.0)


class WebSchema(Schema):
    class Meta:
        unknown = RAISE

    host = fields.String(load_default="127.0.0.1")
    port = fields.Integer(load_default=8080, validate=validate.Range(min=0, max=65535))
    # /status needs this token (Authorization: Bearer, or ?token=); only public_status opens it
    status_token = fields.String(load_default=None, allow_none=True, validate=validate.Length(min=16, error=(
        "Use at least 16 characters (e.g. from: python -c 'import secrets; print(secrets.token_urlsafe())').")))
    public_status = fields.Boolean(load_default=False)
    # requests served at once by waitress (connector serve)
    threads = fields.Integer(load_default=8, validate=validate.Range(min=1, max=256))
    # signs the web UI's session cookies (from ${ENV} only); without it the UI pages answer 503
    secret_key = fields.String(load_default=None, allow_none=True, validate=validate.Length(min=32, error=(
        "Use at least 32 characters (e.g. from: python -c 'import secrets; print(secrets.token_urlsafe(32))').")))
    # session cookies only over https; false only for a demo on http://127.0.0.1
    secure_cookies = fields.Boolean(load_default=True)
    # single sign-on (OpenID Connect) beside the local accounts; none by default
    oidc = fields.Nested(OidcSchema, load_default=None, allow_none=True)


class DeliverySchema(Schema):
    class Meta:
        unknown = RAISE

    interval = Duration(load_default=10.0)
    batch_size = fields.Integer(load_default=50, validate=validate.Range(min=1, max=10000))
    max_attempts = fields.Integer(load_default=10, validate=validate.Range(min=1, max=1000))
    lease = Duration(load_default=30.0, validate=validate.Range(min=1.0, error="Give at least 1 second."))
    backoff_base = Duration(load_default=30.0)
    backoff_max = Duration(load_default=3600.0)
    pause_base = Duration(load_default=30.0)
    pause_max = Duration(load_default=600.0)
    breaker_threshold = fields.Integer(load_default=3, validate=validate.Range(min=1, max=1000))
    # a reply whose parent is not stored yet (fetched later, on another page or channel) waits this long
    # for it before its rule's 'otherwise' applies
    parent_grace = Duration(load_default=900.0, allow_zero=True)


class LimitsSchema(Schema):
    """Bounds on time and size, so that no server and no stuck thread can hold the connector."""

    class Meta:
        unknown = RAISE

    call_timeout = Duration(load_default=30.0)         # per connect / read of one HTTP call
    call_deadline = Duration(load_default=120.0)       # a whole HTTP call, however slowly it drips
    poll_deadline = Duration(load_default=600.0)       # a poll stops asking for more pages after this
    shutdown_grace = Duration(load_default=20.0)       # SIGTERM: calls in flight get this long to finish
    heartbeat_interval = Duration(load_default=10.0)   # how often the worker records that it is alive
    # one worker polls a channel at a time (connector.leases): a killed worker's channel lease runs out after this
    channel_lease = Duration(load_default=900.0)
    # PostgreSQL connections per process (the store's pool); unset: store_connections(config); ignored on SQLite
    store_connections = fields.Integer(load_default=None, allow_none=True, validate=validate.Range(
        min=1, max=1000, error="Give a number of connections from 1 to 1000."))
    # /healthz fails when no worker beat this long; 0: a web app deployed without a worker
    worker_stale_after = Duration(load_default=120.0, allow_zero=True)
    # the body of any one answer from a platform or case system, after decompression
    max_response_bytes = fields.Integer(load_default=64 * 1024 * 1024, validate=validate.Range(
        min=64 * 1024, error="Give at least 65536 bytes."))


class LoggingSchema(Schema):
    """How the connector logs (:mod:`connector.logs`): JSON lines for a log collector, or text for people."""

    class Meta:
        unknown = RAISE

    format = fields.String(load_default="text", validate=validate.OneOf(
        ("text", "json"), error="Use 'text' (for people) or 'json' (one JSON object per line)."))
    # the least severe level written; -v (debug) overrides it
    level = fields.String(load_default="INFO", validate=validate.OneOf(
        ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"), error="Use DEBUG, INFO, WARNING, ERROR or CRITICAL."))

    @pre_load
    def _upper(self, data, **kwargs):
        if isinstance(data, dict) and isinstance(data.get("level"), str):
            data = {**data, "level": data["level"].strip().upper()}
        return data


def _network(value: str) -> None:
    try:
        ipaddress.ip_network(value, strict=False)
    except ValueError as exc:
        raise ValidationError(f"Not a network: {exc}.") from None


class MediaSettingsSchema(Schema):
    """Where fetched media go and how often a failed one is tried (connector.media.stage)."""

    class Meta:
        unknown = RAISE

    folder = fields.String(load_default=None, allow_none=True)  # default: "media" beside the store
    max_attempts = fields.Integer(load_default=4, validate=validate.Range(min=1, max=100))
    # private addresses media may come from (an on-premises media server); none by default
    trusted_networks = fields.List(fields.String(validate=_network), load_default=list)


class CaptureSchema(Schema):
    """The capture log (:mod:`connector.capture`): every exchange with a platform into WARC files."""

    class Meta:
        unknown = RAISE

    enabled = fields.Boolean(load_default=True)
    folder = fields.String(load_default=None, allow_none=True)  # default: warc/ beside the store
    max_file_bytes = fields.Integer(load_default=1024 ** 3, validate=validate.Range(
        min=1024 * 1024, error="Give at least 1048576 bytes (the Nationaal Archief's guideline: 1 GiB)."))
    operator = fields.String(load_default="")  # the warcinfo record's operator: the organisation


class OrganisationSchema(Schema):
    """Whose records these are (the MDTO archiefvormer): the archive sink the connector uses when
    the configuration names no sink at all (:func:`connector.config.default_sinks`)."""

    class Meta:
        unknown = RAISE

    naam = fields.String(required=True, validate=validate.Length(min=1, max=200))
    kenmerk = fields.String(load_default="")   # e.g. gm9999 (TOOI) or an OIN
    bron = fields.String(load_default="")      # the kenmerk's source, e.g. TOOI

    @validates_schema
    def _together(self, data, **kwargs):
        if bool(data.get("kenmerk")) != bool(data.get("bron")):
            raise ValidationError("give kenmerk and bron together, or neither")


#: the store connections a process needs besides its sinks' delivery slots: the scheduler's threads that poll
#: channels and run the dispatch loop (2), the heartbeat (1) and one for the web app, a CLI command or a spare
STORE_CONNECTIONS_BESIDES_SINKS = 4


def store_connections(config) -> int:
    """The most PostgreSQL connections one process of ``config`` opens (its store's pool): ``limits.store_connections``,
    else the sum of the sinks' ``parallel`` slots plus :data:`STORE_CONNECTIONS_BESIDES_SINKS`. A connection is lent
    for one statement or one write transaction (never for an HTTP call), so threads beyond it only wait briefly."""
    return config.limits.get("store_connections") or (
        sum(sink.parallel for sink in config.sinks) + STORE_CONNECTIONS_BESIDES_SINKS)
