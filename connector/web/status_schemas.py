"""Marshmallow schemas of every answer of the status API: they dump what is served and describe it.

Each endpoint of :mod:`.status` builds its answer (:mod:`.status_data`) and dumps it through the
schema here; :mod:`.status_openapi` generates ``/openapi.json`` from the same schemas (apispec with
its marshmallow plugin). So the document cannot drift from what is served: a field added to an
answer but not to its schema is not served, and a schema field the answer lacks is left out of the
dump (and then contradicts the document, which ``tests/test_openapi.py`` catches with schemathesis).

Conventions: a field that can be unknown is ``allow_none`` (OpenAPI ``nullable``); every timestamp is
an ISO 8601 UTC string (``...Z``), kept as text (``fields.String``) so it is served exactly as stored.
"""
from __future__ import annotations

from marshmallow import Schema, fields

Text = fields.String
When = fields.String  # an ISO 8601 UTC timestamp, as stored


def _maybe(field_class, **kwargs):
    return field_class(allow_none=True, **kwargs)


class ErrorSchema(Schema):
    """A refusal: 400 (a bad parameter), 401 (no valid token), 404 (no such message)."""
    error = Text(required=True, metadata={"description": "what is wrong, and how to put it right"})


class HealthSchema(Schema):
    """``/healthz`` and ``/readyz``: ``ok``, or ``error`` with the problems (never a file path)."""
    status = Text(required=True, metadata={"enum": ["ok", "error"]})
    problems = fields.List(Text())


class WorkerSchema(Schema):
    id = Text(required=True)
    alive = fields.Boolean(required=True, metadata={"description": "beat within limits.worker_stale_after"})
    started_at = _maybe(When)
    beat_at = _maybe(When)
    stopped_at = _maybe(When)
    activity = fields.Dict(metadata={"description": "polls and deliveries in flight, since when"})
    uptime_seconds = _maybe(fields.Float, metadata={"description": "since started_at; null unless alive"})
    channels = fields.List(Text(), metadata={"description": "the channels it polls now (under its lease)"})
    deliveries = fields.Integer(metadata={"description": "deliveries it holds in progress now (under their lease)"})


class ChannelSchema(Schema):
    name = Text(required=True)
    kind = Text(required=True)
    enabled = fields.Boolean(required=True)
    poll_interval_seconds = fields.Float(required=True)
    last_poll_at = _maybe(When)
    last_success_at = _maybe(When, metadata={"description": "the last successful poll"})
    next_poll_at = _maybe(When, metadata={"description": "last poll + interval, or the pause's end; null: at the"
                                                         " worker's start (never polled) or disabled"})
    last_error = _maybe(Text)
    consecutive_failures = fields.Integer(required=True)
    polling_since = _maybe(When)
    stalled = fields.Boolean(required=True, metadata={"description": "a poll running past poll_deadline +"
                                                                     " 2 x call_deadline"})
    paused_until = _maybe(When)
    paused_reason = _maybe(Text)
    rate_limited_until = _maybe(When)
    messages = fields.Integer(required=True, metadata={"description": "stored in all"})
    messages_today = fields.Integer(required=True, metadata={"description": "stored since midnight,"
                                                                            " Europe/Amsterdam"})
    quarantined = fields.Integer(required=True)
    deleted_on_platform = fields.Integer(required=True)


class SinkSchema(Schema):
    name = Text(required=True)
    kind = Text(required=True)
    parallel = fields.Integer(required=True)
    reachable = _maybe(fields.Boolean, metadata={"description": "its last call went well (true), failed since"
                                                                " (false), never tried (null)"})
    last_error = _maybe(Text)
    last_ok_at = _maybe(When)
    paused = fields.Boolean(required=True)
    paused_until = _maybe(When)
    paused_reason = _maybe(Text)


class OldestSchema(Schema):
    message_id = fields.Integer(required=True, metadata={"description": "the store's id of the version"})
    channel = Text(required=True)
    id = Text(required=True, metadata={"description": "the post's id on its platform"})
    sink = Text(required=True)
    state = Text(required=True)
    stored_at = _maybe(When)
    age_seconds = _maybe(fields.Float, metadata={"description": "since stored_at"})


class DeletedSchema(Schema):
    channel = Text(required=True)
    id = Text(required=True)
    url = _maybe(Text)
    deleted_at = _maybe(When)
    reason = _maybe(Text)
    sinks = fields.Dict(keys=Text(), values=Text(), metadata={"description": "per sink: pending, done,"
                                                                            " unsupported or dead"})


class RuleFilesSchema(Schema):
    fingerprint = _maybe(Text)
    rules = fields.Integer(required=True)
    errors = fields.List(Text(), required=True)


class MappingsSchema(RuleFilesSchema):
    path = Text(required=True)
    source = Text(required=True, metadata={"enum": ["worker", "files"]})
    files = fields.Nested(RuleFilesSchema, metadata={"description": "what the files hold now (source: worker)"})


class StatusSchema(Schema):
    """``GET /status``: the connector at a glance, for the helpdesk."""
    version = Text(required=True)
    time = When(required=True)
    healthy = fields.Boolean(required=True)
    uptime_seconds = _maybe(fields.Float, metadata={"description": "of this web process"})
    worker = _maybe(fields.Nested, nested=WorkerSchema, metadata={"description": "the worker that beat last"})
    workers = fields.List(fields.Nested(WorkerSchema), required=True,
                          metadata={"description": "every worker alive on this store, with what each holds; also"
                                                   " a web process delivering on a person's request"
                                                   " (id web:USER@HOST:PID) while it holds the delivery"})
    channels = fields.List(fields.Nested(ChannelSchema), required=True)
    sinks = fields.List(fields.Nested(SinkSchema), required=True)
    deliveries = fields.Dict(keys=Text(), values=fields.Integer(), required=True,
                             metadata={"description": "the backlog: deliveries per state"})
    oldest_undelivered = _maybe(fields.Nested, nested=OldestSchema,
                                metadata={"description": "pending, retry_wait, waiting or in_progress"})
    dead = fields.Integer(required=True)
    deleted_on_platform = fields.List(fields.Nested(DeletedSchema), required=True)
    mappings = fields.Nested(MappingsSchema, required=True)


class SinkStateSchema(Schema):
    sink = Text(required=True)
    state = Text(required=True)


class FoundSchema(Schema):
    message_id = fields.Integer(required=True)
    channel = Text(required=True)
    id = Text(required=True)
    version = Text(required=True)
    created_at = _maybe(When, metadata={"description": "published on the platform"})
    stored_at = _maybe(When)
    url = _maybe(Text)
    excerpt = Text(required=True)
    deliveries = fields.List(fields.Nested(SinkStateSchema), required=True)


class FinderSchema(Schema):
    """``GET /status/messages``: posts published in a period, newest first."""
    messages = fields.List(fields.Nested(FoundSchema), required=True)
    next_before = _maybe(fields.Integer, metadata={"description": "pass as before= for the next page"})


class ZaakSchema(Schema):
    url = _maybe(Text)
    identificatie = _maybe(Text)


class FieldSchema(Schema):
    key = Text(required=True)
    value = Text(required=True)


class StepSchema(Schema):
    name = Text(required=True)
    saved_at = _maybe(When)
    fields_ = fields.List(fields.Nested(FieldSchema), required=True, data_key="fields",
                          attribute="fields", metadata={"description": "its result, values clipped, secrets masked"})


class AttemptSchema(Schema):
    at = _maybe(When)
    state = Text(required=True)
    from_ = _maybe(Text, data_key="from", attribute="from")
    attempt = _maybe(fields.Integer)
    verdict = _maybe(Text)
    status = _maybe(fields.Integer, metadata={"description": "the HTTP status of the failed call"})
    error = _maybe(Text)


class DeliverySchema(Schema):
    delivery_id = fields.Integer(required=True)
    sink = Text(required=True)
    state = Text(required=True)
    rule = _maybe(Text)
    source = _maybe(Text, metadata={"description": "file:line of the rule"})
    action = _maybe(Text)
    reason = _maybe(Text)
    attempts_count = fields.Integer(required=True)
    last_error = _maybe(Text)
    next_attempt_at = _maybe(When)
    created_at = _maybe(When)
    updated_at = _maybe(When)
    zaak = _maybe(fields.Nested, nested=ZaakSchema)
    documents = fields.List(fields.Raw(), required=True)
    steps = fields.List(fields.Nested(StepSchema), required=True)
    attempts = fields.List(fields.Nested(AttemptSchema), required=True, metadata={"description": "state changes"})
    attempts_hidden = fields.Integer(required=True)


class MarkSchema(Schema):
    at = _maybe(When)
    reason = _maybe(Text)


class NoticeSchema(Schema):
    sink = Text(required=True)
    kind = Text(required=True)
    state = Text(required=True)
    attempts = _maybe(fields.Integer)
    last_error = _maybe(Text)
    updated_at = _maybe(When)


class VersionSchema(Schema):
    message_id = fields.Integer(required=True)
    version = Text(required=True)
    url = _maybe(Text)
    created_at = _maybe(When)
    fetched_at = _maybe(When)
    stored_at = _maybe(When)
    sha256 = _maybe(Text, metadata={"description": "of the original as received"})
    size = fields.Integer(required=True)
    deleted = _maybe(fields.Nested, nested=MarkSchema)
    deliveries = fields.List(fields.Nested(DeliverySchema), required=True)
    notices = fields.List(fields.Nested(NoticeSchema), required=True)


class StorySchema(Schema):
    """``GET /status/messages/{channel}/{id}``: the whole story of one post."""
    channel = Text(required=True)
    id = Text(required=True)
    url = _maybe(Text)
    created_at = _maybe(When)
    deleted = _maybe(fields.Nested, nested=MarkSchema, metadata={"description": "deleted on the platform"})
    versions = fields.List(fields.Nested(VersionSchema), required=True)


__all__ = ["AttemptSchema", "ErrorSchema", "FinderSchema", "HealthSchema", "StatusSchema", "StorySchema"]
