"""Each sink classifies its own failures; the shared classification is the default.

A tiny SOAP-ish test sink shows both ways of refining it: a status table (``error_mapping``) and a
``classify_response`` that reads the body (a SOAP fault arrives as HTTP 500, and a ``Client``
fault is about the request itself: retrying it cannot help). The ZGW client classifies through
whichever sink owns it, and the ZGW sink's ``check()`` reads its probes' answers the same way.
"""
from __future__ import annotations

import pytest
import requests

from connector import failures
from connector.failures import CONFIGURATION, PERMANENT, RATE_LIMITED, RETRY, Failed
from connector.sinks import Delivered, Sink
from connector.sinks.zgw import ZgwSink
from connector.sinks.zgw.client import ZgwClient
from connector.sinks.zgw.options import ZgwOptions

SOAP_CLIENT_FAULT = (b'<?xml version="1.0"?><soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/">'
                     b"<soap:Body><soap:Fault><faultcode>soap:Client</faultcode>"
                     b"<faultstring>zaaktype onbekend</faultstring></soap:Fault></soap:Body></soap:Envelope>")
SOAP_SERVER_FAULT = SOAP_CLIENT_FAULT.replace(b"soap:Client", b"soap:Server")
OPTIONS = {"zaken_url": "http://cases.local/zaken/api/v1", "documenten_url": "http://cases.local/documenten/api/v1",
           "catalogi_url": "http://cases.local/catalogi/api/v1", "client_id": "c", "secret": "s" * 32,
           "bronorganisatie": "002220647"}
CLIENT_OPTIONS = ZgwOptions().load(OPTIONS)


def answer(status: int, body: bytes = b"", content_type: str = "text/xml") -> requests.Response:
    response = requests.Response()
    response.status_code, response._content, response.url = status, body, "http://cases.local/soap"
    response.headers["Content-Type"] = content_type
    return response


class Replay:
    """A session that answers every request with the same response (no network)."""

    def __init__(self, response: requests.Response):
        self.response = response

    def request(self, method, url, **kwargs):
        return self.response


class SoapSink(Sink):
    """A tiny sink for a SOAP case system: faults are 500s, only a ``Server`` fault is transient."""

    kind = "soap-test"
    error_mapping = {409: RETRY, 404: PERMANENT}  # its own table on top of the shared one

    def __init__(self, name, options, session=None):
        super().__init__(name, options)
        self.client = ZgwClient(CLIENT_OPTIONS, session, name)  # any client that can classify through its sink

    def classify_response(self, response, what=""):
        failure = super().classify_response(response, what)
        if failure is not None and response.status_code == 500 and b"Client</faultcode>" in response.content:
            failure.verdict = PERMANENT
        return failure

    def deliver(self, message, routing, steps):
        self.client.request("POST", "http://cases.local/soap", "creeerZaak")
        return Delivered()


def soap_call(response: requests.Response):
    sink = SoapSink("soap", {}, session=Replay(response))
    with pytest.raises(Failed) as caught:
        sink.deliver(None, None, None)
    return caught.value.failure


@pytest.mark.parametrize("status, body, verdict", [
    (500, SOAP_CLIENT_FAULT, PERMANENT),  # the sink's own reading of the body
    (500, SOAP_SERVER_FAULT, RETRY),  # shared default
    (409, b"", RETRY),  # the sink's table
    (404, b"", PERMANENT),  # the sink's table beats the shared CONFIGURATION
    (401, b"", CONFIGURATION),  # shared table
    (429, b"", RATE_LIMITED),
])
def test_a_sink_classifies_its_own_failures_through_its_client(status, body, verdict):
    failure = soap_call(answer(status, body))
    assert (failure.verdict, failure.status) == (verdict, status)
    assert failure.message.startswith(f"creeerZaak: HTTP {status}")


def test_a_soap_client_fault_is_not_retried_but_keeps_its_detail():
    failure = soap_call(answer(500, SOAP_CLIENT_FAULT))
    assert failure.verdict == PERMANENT and "zaaktype onbekend" in failure.detail["body"]


def test_a_successful_answer_is_no_failure():
    sink = SoapSink("soap", {}, session=Replay(answer(200, b"<ok/>")))
    assert sink.deliver(None, None, None) == Delivered()


def test_the_default_is_the_shared_classification():
    class Plain(Sink):
        kind = "plain"

        def deliver(self, message, routing, steps):
            return Delivered()

    sink = Plain("p", {})
    for status in (400, 401, 404, 408, 429, 500, 502, 503):
        mine, shared = sink.classify_response(answer(status)), failures.classify_response(answer(status))
        assert (mine.verdict, mine.message) == (shared.verdict, shared.message)
    assert sink.classify_response(answer(204)) is None


def test_the_zgw_client_classifies_through_its_zgw_sink():
    seen = []

    class Cautious(ZgwSink):
        """A ZGW sink for a case system whose 500s are permanent."""

        def classify_response(self, response, what=""):
            seen.append(what)
            failure = super().classify_response(response, what)
            failure.verdict = PERMANENT if failure.status == 500 else failure.verdict
            return failure

    sink = Cautious("z", OPTIONS, session=Replay(answer(500, b"{}", "application/json")))
    with pytest.raises(Failed) as caught:
        sink.client.get("http://cases.local/zaken/api/v1/zaken", "GET /zaken")
    assert caught.value.failure.verdict == PERMANENT and seen == ["GET /zaken"]
    plain = ZgwSink("z", OPTIONS)
    assert plain.client.classify == plain.classify_response


def test_a_client_on_its_own_uses_the_shared_classification():
    client = ZgwClient(CLIENT_OPTIONS, Replay(answer(503, b"")))
    with pytest.raises(Failed) as caught:
        client.request("GET", "http://cases.local/x", "GET x")
    assert client.classify is failures.classify_response and caught.value.failure.verdict == RETRY


@pytest.mark.parametrize("status, mapping, verdict", [
    (418, None, PERMANENT), (599, None, RETRY), (412, None, CONFIGURATION),
    (425, None, RETRY), (418, {418: RETRY}, RETRY), (500, {500: PERMANENT}, PERMANENT),
])
def test_verdict_for_reads_the_callers_table_then_the_shared_one_then_the_range(status, mapping, verdict):
    assert failures.verdict_for(status, mapping) == verdict


def test_a_retry_after_is_kept_only_for_verdicts_that_wait():
    headers = {"Retry-After": "30"}
    for status, mapping, has_retry_at in [(503, None, True), (503, {503: PERMANENT}, False), (409, {409: RETRY}, True)]:
        response = answer(status)
        response.headers.update(headers)
        failure = failures.classify_response(response, "x", mapping=mapping)
        assert (failure.retry_at is not None) == has_retry_at


# -- check(): the connection and credentials checks read answers the way the sink does ------------
class GatewayZgwSink(ZgwSink):
    """A ZGW sink behind a gateway that answers 502 to an application it does not admit, and 403
    while the case system behind it is still starting."""

    error_mapping = {502: CONFIGURATION, 403: RETRY}


@pytest.mark.parametrize("sink_class, status, connection_ok, credentials_ok, text", [
    (ZgwSink, 502, False, False, "Zaken API: HTTP 502 at http://cases.local/soap (is zaken_url the API root"),
    (GatewayZgwSink, 502, True, False, "Zaken API: HTTP 502"),
    (ZgwSink, 403, True, False, "Zaken API: HTTP 403 (check client_id and secret"),
    (GatewayZgwSink, 403, False, False, "Zaken API: HTTP 403 at"),
    (ZgwSink, 200, True, True, "accepted by all three APIs"),
])
def test_check_classifies_answers_through_the_sinks_error_mapping(sink_class, status, connection_ok,
                                                                   credentials_ok, text):
    sink = sink_class("z", OPTIONS, session=Replay(answer(status, b"{}", "application/json")))
    checks = {c.name: c for c in sink.check()}
    assert (checks["connection"].ok, checks["credentials"].ok) == (connection_ok, credentials_ok)
    shown = checks["credentials"] if connection_ok else checks["connection"]
    assert text in shown.message


def test_check_asks_an_overridden_classify_response_about_every_api():
    seen = []

    class Reading(ZgwSink):
        """Reads a 400's body: this case system says ``token-expired`` for a token it rejects."""

        def classify_response(self, response, what=""):
            seen.append(what)
            failure = super().classify_response(response, what)
            if failure is not None and b"token-expired" in response.content:
                failure.message += " (the server rejects our token)"
            return failure

    sink = Reading("z", OPTIONS, session=Replay(answer(400, b'{"code": "token-expired"}', "application/json")))
    checks = {c.name: c for c in sink.check()}
    assert seen == ["Zaken API", "Documenten API", "Catalogi API"]
    assert checks["connection"].ok and not checks["credentials"].ok
    assert "Catalogi API: HTTP 400 (the server rejects our token)" in checks["credentials"].message
