"""``/openapi.json`` is a valid OpenAPI document, and the live app keeps to it (schemathesis, in-process).

The document is generated from the same marshmallow schemas that dump the answers; these tests check
the other half: every operation, with generated parameters, with and without the token, answers no
5xx and nothing the document does not describe (status code, content type, body schema). Answers with
data in them (a worker, a failed delivery, a post's story) are checked against the document as well.
"""
from __future__ import annotations

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from openapi_spec_validator import validate

from connector import states
from connector.message import utcnow
from connector.sources.base import Deletion

from .status_support import AUTH, CHANNEL, deliver, fail, store_post
from .web_support import make_app

PATHS = {"/healthz", "/readyz", "/status", "/status/messages", "/status/messages/{channel}/{id}", "/metrics"}


def fill(store) -> None:
    """A live worker, a delivered post (then deleted on the platform), a dead and a pending one."""
    store.worker_beat("host:1:abc", host="host", pid=1, started_at=utcnow(),
                      rules={"fingerprint": "f" * 64, "count": 3, "errors": ["rules.yaml:3: unknown sink"]})
    deliver(store, store_post(store, "1", text="afgeleverd"))
    fail(store, store_post(store, "2", text="mislukt"), states.DEAD, status=400)
    store_post(store, "3", text="wacht")
    store.save_page(CHANNEL, [], None, deletions=[Deletion(id="1", reason="404 Not Found on re-check", at=utcnow())])


@pytest.fixture
def filled(tmp_path):
    """The app (token required) on a filled store (:func:`fill`)."""
    app, store, _ = make_app(tmp_path)
    fill(store)
    yield app
    store.close()


@pytest.mark.parametrize("public", [False, True])
def test_the_document_is_valid_openapi_and_names_every_path(tmp_path, public):
    app, store, _ = make_app(tmp_path, public_status=public)
    response = app.test_client().get("/openapi.json")
    store.close()
    assert response.status_code == 200 and response.mimetype == "application/json"
    document = response.json
    validate(document)
    assert set(document["paths"]) == PATHS
    assert document["components"]["securitySchemes"]["bearer"] == {
        "type": "http", "scheme": "bearer", "description": "web.status_token"}
    status = document["paths"]["/status"]["get"]
    assert ("security" in status) is not public and ("401" in status["responses"]) is not public
    assert document["paths"]["/healthz"]["get"]["security"] == []
    assert "text/plain" in document["paths"]["/metrics"]["get"]["responses"]["200"]["content"]


def test_the_status_schema_in_the_document_lists_what_is_served(filled):
    client = filled.test_client()
    served = client.get("/status", headers=AUTH).json
    document = client.get("/openapi.json").json
    assert set(document["components"]["schemas"]["Status"]["properties"]) == set(served)


def _schema(app):
    schema = schemathesis.openapi.from_wsgi("/openapi.json", app)
    if not any(rule.rule == "/metrics" for rule in app.url_map.iter_rules()):
        schema = schema.exclude(path="/metrics")  # its blueprint is another module's; documented all the same
    return schema


@pytest.mark.parametrize("path, parameters", [
    ("/status", {}),
    ("/status/messages", {"query": {"channel": CHANNEL, "since": "2026-01-01"}}),
    ("/status/messages/{channel}/{id}", {"path_parameters": {"channel": CHANNEL, "id": "1"}}),
    ("/status/messages/{channel}/{id}", {"path_parameters": {"channel": CHANNEL, "id": "2"}}),
    ("/healthz", {}),
])
def test_answers_with_data_keep_to_the_document(filled, path, parameters):
    operation = _schema(filled)[path]["GET"]
    case = operation.Case(**parameters)
    response = case.call_and_validate(headers=AUTH)
    assert response.status_code == 200
    assert response.json(), "an answer with data in it"


def _fuzz(app, check, examples: int = 25) -> None:
    """``check`` on ``examples`` generated requests for every operation in the app's document."""
    operations = [result.ok() for result in _schema(app).get_all_operations()]
    assert {op.path for op in operations} >= PATHS - {"/metrics"}
    for operation in operations:
        @settings(max_examples=examples, deadline=None, database=None, suppress_health_check=list(HealthCheck))
        @given(case=operation.as_strategy())
        def run(case):
            check(case)

        run()


def _closed(case) -> None:
    """With the token and without: no 5xx, nothing the document does not say, 401 without the token."""
    with_token = case.call_and_validate(headers=AUTH)
    assert with_token.status_code < 500
    without = case.call_and_validate(headers={"Authorization": ""})
    assert without.status_code < 500
    if case.path.startswith("/status"):
        assert without.status_code == 401, "the token is required unless web.public_status is set"


def _open(case) -> None:
    response = case.call_and_validate()
    assert response.status_code < 500 and response.status_code != 401


@pytest.mark.slow
def test_no_operation_answers_a_server_error_or_contradicts_the_document(filled):
    """Every operation in the document, 25 generated requests each (schemathesis' strategies, run by hypothesis)."""
    _fuzz(filled, _closed)


@pytest.mark.slow
def test_the_open_status_api_keeps_to_its_own_document(tmp_path):
    """web.public_status: true: the document has no token, and no answer asks for one."""
    app, store, _ = make_app(tmp_path, public_status=True)
    fill(store)
    try:
        _fuzz(app, _open, examples=15)
    finally:
        store.close()


def test_the_document_refuses_an_answer_of_another_shape(filled):
    """The served answer validates against the document; the same with a malformed nested worker does not."""
    from jsonschema.exceptions import ValidationError
    from openapi_schema_validator import OAS30Validator, validate as conforms

    client = filled.test_client()
    document = client.get("/openapi.json").json
    schema = {**document["components"]["schemas"]["Status"], "components": document["components"]}
    served = client.get("/status", headers=AUTH).json
    conforms(served, schema, cls=OAS30Validator)
    conforms({**served, "worker": None}, schema, cls=OAS30Validator)
    for wrong in ({**served, "worker": {"id": "x"}}, {**served, "dead": "1"}, {**served, "extra": 1}):
        with pytest.raises(ValidationError):
            conforms(wrong, schema, cls=OAS30Validator)
