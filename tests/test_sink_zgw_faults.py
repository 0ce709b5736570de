"""The ZGW sink when the connection fails, its check(), and what it uploads of the record.

Every scenario against the double ends with ``double.violations == []``.
"""
from __future__ import annotations

import dataclasses
import json
import socket
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests

from connector.failures import CONFIGURATION, RETRY, Failed
from connector.sinks import MemorySteps
from connector.sinks.zgw import ZgwSink
from tests.test_rendition import load_message
from .zgw_sink_support import ATTACH, CREATE, SECRET, base_options, posts
from .zgw_sink_support import double, options, running, server, session, sink  # noqa: F401 (fixtures)


# --- failures of the connection ----------------------------------------------------------------

@pytest.mark.parametrize("changes,code", [({"secret": "wrong-secret-that-is-long-enough-to-sign!"}, "invalid-jwt-signature"),
                                          ({"client_id": "stranger"}, "invalid-client-identifier")])
def test_bad_credentials_are_a_configuration_failure(options, double, changes, code):
    sink = ZgwSink("z", {**options, **changes})
    with pytest.raises(Failed) as info:
        sink.deliver(load_message(), ATTACH, MemorySteps())
    failure = info.value.failure
    assert failure.verdict == CONFIGURATION and failure.status == 403
    assert failure.detail["code"] == code
    assert SECRET not in json.dumps(failure.to_dict()) and changes.get("secret", "§") not in json.dumps(failure.to_dict())
    assert double.violations == []


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_unreachable_server_is_a_retry():
    port = closed_port()
    sink = ZgwSink("z", base_options(zaken_url=f"http://127.0.0.1:{port}/zaken/api/v1", timeout=2))
    with pytest.raises(Failed) as info:
        sink.deliver(load_message(), ATTACH, MemorySteps())
    assert info.value.failure.verdict == RETRY
    assert SECRET not in info.value.failure.message


# --- check() -----------------------------------------------------------------------------------

def test_check_passes_against_a_working_case_system(sink, double):
    checks = sink.check()
    assert [c.name for c in checks] == ["settings", "connection", "credentials", "catalogus"]
    assert all(c.ok for c in checks), checks
    assert posts(double) == []
    assert double.violations == []


def test_check_reports_rejected_credentials_clearly(options, double):
    checks = ZgwSink("z", {**options, "secret": "wrong-secret-that-is-long-enough-to-sign!"}).check()
    by_name = {c.name: c for c in checks}
    assert by_name["settings"].ok and by_name["connection"].ok
    assert not by_name["credentials"].ok
    assert "403" in by_name["credentials"].message and "secret" in by_name["credentials"].message
    assert "wrong-secret" not in by_name["credentials"].message
    assert double.violations == []


def test_check_reports_an_unreachable_server():
    port = closed_port()
    sink = ZgwSink("z", base_options(zaken_url=f"http://127.0.0.1:{port}/zaken/api/v1",
                                     documenten_url=f"http://127.0.0.1:{port}/documenten/api/v1",
                                     catalogi_url=f"http://127.0.0.1:{port}/catalogi/api/v1", timeout=2))
    checks = {c.name: c for c in sink.check()}
    assert checks["settings"].ok and not checks["connection"].ok and not checks["credentials"].ok
    assert "Zaken API" in checks["connection"].message


def test_check_reports_a_wrong_base_url(options, double):
    checks = {c.name: c for c in ZgwSink("z", {**options, "zaken_url": options["zaken_url"] + "/extra"}).check()}
    assert not checks["connection"].ok and "404" in checks["connection"].message
    assert "zaken_url" in checks["connection"].message


def test_the_original_documents_beschrijving_names_the_feed_without_credentials():
    message = dataclasses.replace(load_message(), raw=dataclasses.replace(
        load_message().raw, page_url="https://reader:pw-in-the-url@feeds.example.nl/news.rss?token=tok-in-the-url"))
    sent = []
    sink = ZgwSink("z", base_options())
    sink.client.post = lambda url, what, payload, **kw: sent.append(payload) or _created(payload)
    from connector.record import build_record

    sink._document(message, CREATE, build_record(message).file("original"), "http://t/iot")
    [payload] = sent
    assert payload["beschrijving"] == ("Oorspronkelijk bericht zoals ontvangen van"
                                       " https://***@feeds.example.nl/news.rss?token=***, ongewijzigd.")


def test_a_whole_response_original_says_so_in_the_beschrijving_even_behind_a_long_url():
    long_url = "https://feeds.example.nl/news.rss?" + "x" * 1500  # the description exceeds ZGW's 1000 characters
    message = dataclasses.replace(load_message(), raw=dataclasses.replace(
        load_message().raw, page_url=long_url, scope="response"))
    sent = []
    sink = ZgwSink("z", base_options())
    sink.client.post = lambda url, what, payload, **kw: sent.append(payload) or _created(payload)
    from connector.record import build_record

    record = build_record(message)
    for role in ("original", "rendition"):
        sink._document(message, CREATE, record.file(role), "http://t/iot")
    for payload in sent:
        assert len(payload["beschrijving"]) <= 1000
        assert payload["beschrijving"].startswith("Het bericht kon niet exact uit het antwoord van het platform"
                                                  " worden geknipt; het origineel is het hele antwoord zoals ontvangen")


def _created(payload):
    response = requests.Response()
    response.status_code = 201
    response._content = json.dumps({"url": "http://t/doc/1", **payload}).encode()
    return response


def test_the_sink_uploads_the_record_built_in_the_core(sink, double):
    """The sink never renders: what arrives is the core's record, bytes, checksum and description."""
    from connector.record import record_of

    message = load_message()
    record = record_of(message)
    assert record_of(message) is record  # fan-out to several sinks uses one record
    delivered = sink.deliver(message, ATTACH, MemorySteps())
    for document in delivered.documents:
        file = record.file(document.role)
        stored = next(d for d in double.documents if d["url"] == document.url)
        assert double.document_content(document.url) == file.data
        assert stored["integriteit"]["waarde"] == file.sha256 and stored["bestandsomvang"] == file.size
        assert stored["beschrijving"] == file.description and stored["formaat"] == file.format


def test_a_zaak_is_looked_up_once_for_many_messages_and_again_after_a_failure(sink, double):
    """Every message into one existing zaak used to cost a GET /zaken?identificatie= (~55 ms on Open Zaak)."""
    base = load_message()
    messages = [dataclasses.replace(base, id=f"{base.id}{n}") for n in range(5)]
    for message in messages[:4]:
        sink.deliver(message, ATTACH, MemorySteps())
    lookups = [path for method, path in double.requests if method == "GET" and path == "/zaken/api/v1/zaken"]
    assert len(lookups) == 1
    double.faults.error_rate(1.0, statuses=(500,), methods=("POST",), after_ratio=0.0)
    with pytest.raises(Failed):
        sink.deliver(messages[4], ATTACH, MemorySteps())   # the zaak may be gone: forget it
    double.faults.clear()
    sink.deliver(messages[4], ATTACH, MemorySteps())
    lookups = [path for method, path in double.requests if method == "GET" and path == "/zaken/api/v1/zaken"]
    assert len(lookups) == 2


def test_parallel_deliveries_into_one_zaak_ask_the_case_system_once(sink, double):
    """Four deliveries starting at once into an unknown zaak: one lookup, the others wait for it."""
    base = load_message()
    messages = [dataclasses.replace(base, id=f"{base.id}{n}") for n in range(8)]
    double.faults.slow(1.0, seconds=0.3, methods=("GET",))  # the lookup is slow, so all four meet it
    with ThreadPoolExecutor(4) as pool:
        list(pool.map(lambda m: sink.deliver(m, ATTACH, MemorySteps()), messages))
    lookups = [path for method, path in double.requests if method == "GET" and path == "/zaken/api/v1/zaken"]
    assert len(lookups) == 1
