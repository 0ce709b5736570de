"""Every HTTP call has a total deadline: a server dripping one byte at a time cannot hold it open.

The guard against a hang is pytest-timeout; the assertions are about what the connector reports.
"""
from __future__ import annotations

import threading

import pytest
import requests

from connector import http
from connector_doubles.drip import DripServer
from connector_doubles.serving import Running
from connector.failures import RETRY, classify_exception


@pytest.mark.timeout(30)
@pytest.mark.parametrize("mode", ["headers", "body"])
def test_a_dripping_server_ends_in_a_deadline_error(mode):
    with DripServer(mode, interval=0.05) as server:
        session = http.Session(deadline=1.0, timeout=5.0)
        with pytest.raises(http.DeadlineExceeded) as caught:
            session.get(server.url + "/feed.xml")
    failure = classify_exception(caught.value, "GET feed")
    assert failure.verdict == RETRY
    assert "deadline of 1 s" in failure.message


@pytest.mark.timeout(30)
def test_a_streamed_body_is_under_the_deadline_too():
    with DripServer("body", interval=0.05) as server:
        session = http.Session(deadline=1.0, timeout=5.0)
        response = session.get(server.url + "/feed.xml", stream=True)
        with pytest.raises(requests.RequestException) as caught:
            with response:
                for _ in response.iter_content(64 * 1024):
                    pass
    assert isinstance(caught.value, http.DeadlineExceeded)


@pytest.mark.timeout(30)
def test_abort_all_ends_calls_in_flight():
    """What a worker does when its shutdown grace is over."""
    errors = []
    with DripServer("headers", interval=0.05) as server:
        session = http.Session(deadline=600.0, timeout=5.0)

        def call():
            try:
                session.get(server.url)
            except requests.RequestException as exc:
                errors.append(exc)

        thread = threading.Thread(target=call)
        thread.start()
        while server.requests == 0:
            thread.join(0.05)
        thread.join(0.3)
        assert http.abort_all() >= 1
        thread.join(10)
    assert not thread.is_alive()
    assert isinstance(errors[0], http.DeadlineExceeded) and "shutting down" in str(errors[0])


def _hello(environ, start_response):
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [b"hello " * 1000]


@pytest.mark.timeout(30)
def test_calls_that_finish_in_time_leave_no_watchdog_behind():
    """A finished call's timer is cancelled: it must not shut down a kept-alive connection later."""
    with Running(_hello) as server:
        session = http.Session(deadline=0.5, timeout=5.0)
        for _ in range(5):
            assert session.get(server.url).text.startswith("hello")
            with session.get(server.url, stream=True) as response:
                assert b"".join(response.iter_content(100)).startswith(b"hello")
        threading.Event().wait(0.8)  # longer than the deadline: any live timer would have fired
        assert session.get(server.url).status_code == 200
        assert http._ACTIVE_LOCK.acquire(timeout=1)
        try:
            assert len(http._ACTIVE) == 0
        finally:
            http._ACTIVE_LOCK.release()


def _big(environ, start_response):
    """A body of ``?n=`` bytes; ``&gzip=1`` sends it gzipped (small on the wire, large unpacked);
    ``&length=0`` leaves out Content-Length (chunked)."""
    import gzip
    from urllib.parse import parse_qs
    query = {k: v[0] for k, v in parse_qs(environ.get("QUERY_STRING", "")).items()}
    body = b"x" * int(query.get("n", "0"))
    headers = [("Content-Type", "text/plain")]
    if query.get("gzip") == "1":
        body = gzip.compress(body)
        headers.append(("Content-Encoding", "gzip"))
    if query.get("length") != "0":
        headers.append(("Content-Length", str(len(body))))
    start_response("200 OK", headers)
    return [body[i:i + 4096] for i in range(0, len(body), 4096)]


@pytest.mark.timeout(30)
@pytest.mark.parametrize("stream", [False, True], ids=["read", "streamed"])
@pytest.mark.parametrize("query", ["n=200000", "n=200000&length=0", "n=5000000&gzip=1"],
                         ids=["declared", "chunked", "gzip-bomb"])
def test_an_answer_larger_than_the_bound_is_refused(stream, query):
    with Running(_big) as server:
        session = http.Session(max_body=100_000)
        with pytest.raises(http.ResponseTooLarge) as caught:
            response = session.get(f"{server.url}/?{query}", stream=stream)
            with response:
                for _ in response.iter_content(64 * 1024):
                    pass
        assert "limits.max_response_bytes=100000" in str(caught.value)
        assert classify_exception(caught.value, "GET").verdict == RETRY
        # an answer within the bound, on the same session, is read whole
        assert len(session.get(f"{server.url}/?n=100000", stream=stream).content) == 100_000
        if "gzip" in query:
            assert len(session.get(f"{server.url}/?n=90000&gzip=1").content) == 90_000
    with http._ACTIVE_LOCK:
        assert len(http._ACTIVE) == 0  # no call left open by the refusal
