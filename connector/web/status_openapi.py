"""``GET /openapi.json``: the status API's OpenAPI 3.0 document, generated from its marshmallow schemas.

apispec with its marshmallow plugin turns the schemas of :mod:`.status_schemas` (the same ones that
dump every answer) into ``components.schemas``; the paths are declared here once, as data. The
document says which answers need the token (``bearer``, or the ``token`` query parameter) and
drops that requirement when ``web.public_status: true`` opens the status API, so it always tells
what the running app does. ``/metrics`` (Prometheus text, its own blueprint) is described here too,
as the platform team reads one document for the whole operations surface.
"""
from __future__ import annotations

from apispec import APISpec
from apispec.ext.marshmallow import MarshmallowPlugin

from . import status_schemas as schemas

OPENAPI_VERSION = "3.0.3"
_JSON = "application/json"
#: since / until: a date, or a date and time (the offset may be left out: Amsterdam time)
_MOMENT = {"anyOf": [{"type": "string", "format": "date"}, {"type": "string", "format": "date-time"}]}


def _json(schema: str, description: str) -> dict:
    return {"description": description, "content": {_JSON: {"schema": schema}}}


def _refusals(*codes: int) -> dict:
    text = {400: "a parameter is not valid", 401: "no valid status token (see web.status_token)",
            404: "no such message on this channel"}
    return {str(code): _json("Error", text[code]) for code in codes}


def _path_parameter(name: str, description: str) -> dict:
    return {"name": name, "in": "path", "required": True, "description": description, "schema": {"type": "string"}}


def _query(name: str, description: str, schema: dict) -> dict:
    return {"name": name, "in": "query", "required": False, "description": description, "schema": schema}


def build_spec(version: str, public: bool) -> dict:
    """The document as a dict; ``public``: the status API is open (``web.public_status: true``)."""
    spec = APISpec(title="midoffice connector status API", version=version, openapi_version=OPENAPI_VERSION,
                   plugins=[MarshmallowPlugin()],
                   info={"description": "State of the connector for the helpdesk and for monitoring. Times are"
                                        " ISO 8601 UTC. Without web.public_status the answers below /status need"
                                        " the token web.status_token."})
    spec.components.security_scheme("bearer", {"type": "http", "scheme": "bearer",
                                               "description": "web.status_token"})
    spec.components.security_scheme("token", {"type": "apiKey", "in": "query", "name": "token",
                                              "description": "web.status_token as ?token="})
    for name in ("Error", "Health", "Status", "Finder", "Story"):
        spec.components.schema(name, schema=getattr(schemas, f"{name}Schema"))
    closed = {} if public else {"security": [{"bearer": []}, {"token": []}]}
    refused = {} if public else _refusals(401)
    health = {"get": {"summary": "the process can work (store writable, worker heartbeat fresh)",
                      "security": [], "responses": {"200": _json("Health", "it can work"),
                                                    "503": _json("Health", "it cannot; the problems say why")}}}
    spec.path("/healthz", operations=health)
    spec.path("/readyz", operations=health)
    spec.path("/status", operations={"get": {
        "summary": "channels, sinks, backlog, oldest undelivered, dead deliveries, mapping rules, worker",
        **closed, "responses": {"200": _json("Status", "the connector's state"), **refused}}})
    spec.path("/status/messages", operations={"get": {
        "summary": "posts published in a period, newest first (at most 100 a page)", **closed,
        "parameters": [
            _query("channel", "only this channel's posts", {"type": "string"}),
            _query("since", "published at or after: a date (that day, Amsterdam) or ISO 8601 time (without an"
                            " offset: Amsterdam time)", _MOMENT),
            _query("until", "published before (a date: up to and including that day)", _MOMENT),
            _query("before", "next_before of the previous page", {"type": "integer", "format": "int64", "minimum": 1,
                                                                   "maximum": 2**63 - 1}),
            _query("limit", "posts on this page", {"type": "integer", "minimum": 1, "maximum": 100,
                                                   "default": 100}),
        ],
        "responses": {"200": _json("Finder", "the posts"), **_refusals(400), **refused}}})
    spec.path("/status/messages/{channel}/{id}", operations={"get": {
        "summary": "the whole story of one post: versions, rule, zaak, documents, steps, attempts", **closed,
        "parameters": [_path_parameter("channel", "the channel's name"),
                       _path_parameter("id", "the post's id on its platform")],
        "responses": {"200": _json("Story", "the post's story"), **_refusals(404), **refused}}})
    spec.path("/metrics", operations={"get": {
        "summary": "Prometheus metrics (text exposition format)", **closed,
        "responses": {"200": {"description": "the metrics",
                              "content": {"text/plain": {"schema": {"type": "string"}}}}, **refused}}})
    return _strict_nulls(spec.to_dict())


def _strict_nulls(node):
    """apispec writes a nullable nested schema as ``anyOf: [{type: object, nullable: true}, {$ref}]``,
    whose first branch accepts any object at all; narrowed here to null only, so an answer whose
    nested object contradicts its schema is caught."""
    if isinstance(node, dict):
        for option in node.get("anyOf", []):
            if option == {"type": "object", "nullable": True}:
                option["enum"] = [None]
        for value in node.values():
            _strict_nulls(value)
    elif isinstance(node, list):
        for value in node:
            _strict_nulls(value)
    return node


__all__ = ["build_spec"]
