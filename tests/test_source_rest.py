"""The shared paged-JSON source base (connector/sources/rest.py) against a local server:
each paginator style, the call budget spent before calling, and failures classified once."""
from __future__ import annotations

import email.utils
import itertools
import json
from datetime import datetime, timedelta, timezone

import marshmallow
import pytest
from werkzeug.wrappers import Request, Response

from connector.checks import Check
from connector_doubles.serving import Running
from connector.failures import PERMANENT, RATE_LIMITED, RETRY, Failed
from connector.sources.rest import (CallBudget, JsonPathPaginator, LinkHeaderPaginator, OffsetPaginator,
                                    PageNumberPaginator, PageRequest, RestSource, json_path,
                                    same_origin)

ITEMS = [{"id": str(n), "text": f"post {n}"} for n in range(1, 8)]  # seven records, pages of three


class Api:
    """A tiny paged API; ``calls`` records every request's path and query."""

    def __init__(self):
        self.calls: list[tuple[str, dict]] = []
        self.authorizations: list[str | None] = []  # the Authorization header of every request
        self.headers: dict[str, str] = {}
        self.ignore_token = False

    def __call__(self, environ, start_response):
        request = Request(environ)
        args = request.args.to_dict()
        self.calls.append((request.path, args))
        self.authorizations.append(request.headers.get("Authorization"))
        if request.path == "/private" and request.headers.get("Authorization") != "Bearer tok":
            return Response(b'{"error": "The access token is invalid"}', status=401)(environ, start_response)
        route = getattr(self, request.path.strip("/").replace("-", "_"), None)
        status, body, headers = route(args, request.host_url.rstrip("/")) if route else (404, {"error": "no"}, {})
        raw = body if isinstance(body, bytes) else json.dumps(body).encode()
        response = Response(raw, status=status, content_type="application/json", headers={**self.headers, **headers})
        return response(environ, start_response)

    def link(self, args, host):
        page = int(args.get("page", 0))
        headers = {"Link": f'<{host}/link?page={page + 1}>; rel="next"'} if page < 2 else {}
        return 200, ITEMS[page * 3:page * 3 + 3], headers

    def token(self, args, host):
        start = 0 if self.ignore_token else int(args.get("cursor") or 0)
        more = start + 3 < len(ITEMS)
        return 200, {"data": ITEMS[start:start + 3], "meta": {"next": str(start + 3) if more else None}}, {}

    def next_url(self, args, host):
        start = int(args.get("from", 0))
        nxt = f"/next-url?from={start + 3}" if start + 3 < len(ITEMS) else None
        return 200, {"results": ITEMS[start:start + 3], "next": nxt}, {}

    def offset(self, args, host):
        start, limit = int(args["offset"]), int(args["limit"])
        return 200, ITEMS[start:start + limit], {}

    def pages(self, args, host):
        page = int(args["page"])
        return 200, ITEMS[(page - 1) * 3:page * 3], {}

    def elsewhere(self, args, host):
        # a reverse proxy announcing its internal host (or an attacker's) in the Link header
        return 200, ITEMS[:3], {"Link": '<http://internal.invalid:8080/link?page=1>; rel="next"'}

    def private(self, args, host):
        return 200, ITEMS[:3], {}

    def too_many(self, args, host):
        return 429, {"error": "Too many requests"}, {}

    def broken(self, args, host):
        return 200, b"<html>proxy error</html>", {}

    def fails(self, args, host):
        return 500, {"detail": "database down"}, {}


class Listing(RestSource):
    """A test source: the listing path and paginator come from its options."""

    kind = "rest-test"

    class options_schema(marshmallow.Schema):  # noqa: N801 - the base's attribute name
        url = marshmallow.fields.String(required=True)
        token = marshmallow.fields.String(load_default=None)

    def __init__(self, name, options, paginator=None, records_path="", **kwargs):
        self._paginator, self.records_path = paginator, records_path
        super().__init__(name, options, **kwargs)

    def url(self, state):
        return self.options["url"]

    def headers(self):
        token = self.options["token"]
        return {**super().headers(), **({"Authorization": f"Bearer {token}"} if token else {})}

    def paginator(self, state):
        return self._paginator or super().paginator(state)

    def poll(self, state):
        return iter(())

    @classmethod
    def parse_payload(cls, data, channel=""):
        return [], []


@pytest.fixture(scope="module")
def api():
    api = Api()
    with Running(api, name="rest-api") as server:
        api.url = server.url
        yield api


@pytest.fixture(autouse=True)
def fresh(api):
    api.calls.clear()
    api.authorizations.clear()
    api.headers.clear()
    api.ignore_token = False


def walk(source) -> list[str]:
    return [record.value["id"] for _, records in source.pages(None) for record in records]


def listing(api, path, paginator=None, **kwargs):
    return Listing("c", {"url": f"{api.url}{path}"}, paginator, **kwargs)


def test_link_header_pages_keep_each_records_exact_bytes(api):
    source = listing(api, "/link", LinkHeaderPaginator())
    pages = list(source.pages(None))
    assert [r.value["id"] for _, records in pages for r in records] == [i["id"] for i in ITEMS]
    assert [call[1] for call in api.calls] == [{}, {"page": "1"}, {"page": "2"}]
    assert pages[0][1][0].raw == json.dumps(ITEMS[0]).encode()


def test_a_json_path_token_goes_into_its_query_parameter(api):
    source = listing(api, "/token", JsonPathPaginator("meta.next", param="cursor"), records_path="data")
    assert walk(source) == [i["id"] for i in ITEMS]
    assert [call[1] for call in api.calls] == [{}, {"cursor": "3"}, {"cursor": "6"}]


def test_a_json_path_value_can_be_the_next_pages_relative_url(api):
    source = listing(api, "/next-url", JsonPathPaginator("next"), records_path="results")
    assert walk(source) == [i["id"] for i in ITEMS]
    assert [call[1] for call in api.calls] == [{}, {"from": "3"}, {"from": "6"}]


def test_offset_pages_until_a_short_one(api):
    assert walk(listing(api, "/offset", OffsetPaginator(size=3))) == [i["id"] for i in ITEMS]
    assert [call[1] for call in api.calls] == [{"offset": "0", "limit": "3"}, {"offset": "3", "limit": "3"},
                                                {"offset": "6", "limit": "3"}]


def test_page_numbers_until_an_empty_page_or_a_short_one(api):
    assert walk(listing(api, "/pages", PageNumberPaginator())) == [i["id"] for i in ITEMS]
    assert [call[1]["page"] for call in api.calls] == ["1", "2", "3", "4"]
    api.calls.clear()
    assert len(walk(listing(api, "/pages", PageNumberPaginator(size=3)))) == 7
    assert [call[1]["page"] for call in api.calls] == ["1", "2", "3"]


def test_a_server_that_ignores_the_token_does_not_loop_for_ever(api):
    api.ignore_token = True
    source = listing(api, "/token", JsonPathPaginator("meta.next", param="cursor"), records_path="data")
    assert walk(source) == ["1", "2", "3", "1", "2", "3"]  # the repeated request is not sent a third time
    assert len(api.calls) == 2


def test_a_next_url_on_another_origin_is_asked_of_the_first_requests_origin(api):
    # the token must not travel to the host a Link header names; path and query are kept
    source = Listing("c", {"url": f"{api.url}/elsewhere", "token": "tok"}, LinkHeaderPaginator())
    assert walk(source) == [i["id"] for i in ITEMS]
    assert api.calls == [("/elsewhere", {}), ("/link", {"page": "1"}), ("/link", {"page": "2"})]
    assert api.authorizations == ["Bearer tok"] * 3


@pytest.mark.parametrize("url, moved", [
    ("https://social.example/api?page=2", "https://social.example/api?page=2"),
    ("https://internal:8443/api?page=2", "https://social.example/api?page=2"),
    ("http://social.example/api?page=2#top", "https://social.example/api?page=2"),
    ("https://social.example:444/api", "https://social.example/api"),
    ("https://user@social.example/api", "https://social.example/api"),
])
def test_same_origin(url, moved):
    assert same_origin(url, "https://social.example/first?x=1") == moved


def test_a_walk_asks_for_the_next_page_only_when_the_caller_wants_it(api):
    pages = listing(api, "/link", LinkHeaderPaginator()).walk(PageRequest(f"{api.url}/link", {"page": "1"}),
                                                              LinkHeaderPaginator(), "GET link")
    _, records = next(pages)
    assert [r.value["id"] for r in records] == ["4", "5", "6"] and len(api.calls) == 1
    pages.close()  # a caller that has seen enough
    assert api.calls == [("/link", {"page": "1"})]


def test_a_walk_stops_after_max_pages(api):
    source = listing(api, "/link", LinkHeaderPaginator())
    source.max_pages = 2
    assert walk(source) == ["1", "2", "3", "4", "5", "6"] and len(api.calls) == 2


class Clock:
    def __init__(self):
        self.now = datetime(2026, 1, 1, tzinfo=timezone.utc)

    def __call__(self):
        return self.now


def test_the_call_budget_is_spent_before_calling(api):
    clock = Clock()
    source = listing(api, "/link", LinkHeaderPaginator(), budget=CallBudget(2, 60, now=clock))
    with pytest.raises(Failed) as caught:
        walk(source)
    failure = caught.value.failure
    assert (failure.verdict, failure.retry_at) == (RATE_LIMITED, clock.now + timedelta(seconds=60))
    assert "call budget of 2 per 60s used up" in failure.message
    assert len(api.calls) == 2  # the third call was never sent
    clock.now += timedelta(seconds=60)
    assert len(list(itertools.islice(source.pages(None), 2))) == 2 and len(api.calls) == 4  # budget back


@pytest.mark.parametrize("remaining, reset_header, form", [
    ("X-RateLimit-Remaining", "X-RateLimit-Reset", lambda at: at.isoformat()),
    # Mastodon: ISO 8601 with microseconds and Z
    ("X-RateLimit-Remaining", "X-RateLimit-Reset",
     lambda at: at.isoformat(timespec="microseconds").replace("+00:00", "Z")),
    ("x-rate-limit-remaining", "x-rate-limit-reset", lambda at: str(int(at.timestamp()))),  # X: epoch seconds
])
def test_a_server_saying_nothing_remains_pauses_until_its_reset(api, remaining, reset_header, form):
    clock = Clock()
    reset = clock.now + timedelta(minutes=5)
    api.headers.update({remaining: "0", reset_header: form(reset)})
    source = listing(api, "/link", LinkHeaderPaginator(), budget=CallBudget(now=clock))
    with pytest.raises(Failed) as caught:
        walk(source)
    assert (caught.value.failure.verdict, caught.value.failure.retry_at) == (RATE_LIMITED, reset)
    assert len(api.calls) == 1
    clock.now = reset
    api.headers.clear()
    assert len(walk(source)) == 7


def test_a_429_is_waited_for_by_its_own_retry_after_not_by_a_longer_reset(api):
    # a proxy's 429 with Retry-After in a minute, next to the server's reset in five: the failure
    # says when to try again, and the budget is not paused on top of it until the later reset
    now = datetime.now(timezone.utc).replace(microsecond=0)
    retry_after = now + timedelta(minutes=1)
    api.headers.update({"X-RateLimit-Remaining": "0", "X-RateLimit-Reset": (now + timedelta(minutes=5)).isoformat(),
                        "Retry-After": email.utils.format_datetime(retry_after, usegmt=True)})
    source = listing(api, "/too-many")
    for attempt in (1, 2):
        with pytest.raises(Failed) as caught:
            walk(source)
        assert (caught.value.failure.verdict, caught.value.failure.retry_at) == (RATE_LIMITED, retry_after)
        assert len(api.calls) == attempt  # the second attempt was sent, not refused by the budget


def test_failures_are_classified_with_the_sources_own_table_on_top(api):
    with pytest.raises(Failed) as caught:
        walk(listing(api, "/fails"))
    assert caught.value.failure.verdict == RETRY and "database down" in caught.value.failure.message
    strict = listing(api, "/fails")
    strict.error_mapping = {500: PERMANENT}
    with pytest.raises(Failed) as caught:
        walk(strict)
    assert caught.value.failure.verdict == PERMANENT


def test_an_unreadable_page_is_transient(api):
    with pytest.raises(Failed) as caught:
        walk(listing(api, "/broken"))
    assert caught.value.failure.verdict == RETRY and "unreadable response" in caught.value.failure.message
    with pytest.raises(Failed, match="expected a list at 'data'"):
        walk(listing(api, "/link", records_path="data"))


def test_a_connection_error_is_transient():
    source = Listing("c", {"url": "http://127.0.0.1:9/nothing"})  # discard port: refused
    with pytest.raises(Failed) as caught:
        walk(source)
    assert caught.value.failure.verdict == RETRY


class Probe(Listing):
    """A source whose check names the listing itself after connection and credentials."""

    def check(self):
        checks, failure = self.probe(PageRequest(self.options["url"]), "GET listing")
        if checks[-1].ok:
            checks.append(Check("listing", failure is None, failure.message if failure else "found"))
        return checks


@pytest.mark.parametrize("path, token, expected", [
    ("/private", "tok", [("connection", True), ("credentials", True), ("listing", True)]),
    ("/private", "wrong", [("connection", True), ("credentials", False)]),
    ("/private", None, [("connection", True), ("credentials", False)]),
    ("/missing", None, [("connection", True), ("listing", False)]),
    ("/missing", "tok", [("connection", True), ("credentials", True), ("listing", False)]),
])
def test_probe_checks_connection_then_credentials(api, path, token, expected):
    source = Probe("c", {"url": f"{api.url}{path}", "token": token}, budget=CallBudget(0))
    assert [(c.name, c.ok) for c in source.check()] == expected  # no budget spent: it has none
    assert len(api.calls) == 1


def test_probe_reports_a_refused_connection():
    checks = Probe("c", {"url": "http://127.0.0.1:9/nothing"}).check()
    assert [(c.name, c.ok) for c in checks] == [("connection", False)] and "ConnectionError" in checks[0].message


def test_a_rest_source_must_say_where_its_listing_is():
    class NoUrl(RestSource):
        kind = "no-url"

        def poll(self, state):
            return iter(())

        @classmethod
        def parse_payload(cls, data, channel=""):
            return [], []

    with pytest.raises(TypeError, match="abstract"):
        NoUrl("c", {})


@pytest.mark.parametrize("path, value", [
    ("meta.next", "x"), ("links.0.href", "h"), ("links.5.href", None), ("meta.missing", None), ("", {"meta": {
        "next": "x"}, "links": [{"href": "h"}]}), ("meta.next.deeper", None),
])
def test_json_path(path, value):
    assert json_path({"meta": {"next": "x"}, "links": [{"href": "h"}]}, path) == value


def test_page_request_keys_ignore_parameter_order():
    assert PageRequest("u", {"a": 1, "b": 2}).key() == PageRequest("u", {"b": "2", "a": "1"}).key()


def test_a_body_nested_deeper_than_the_parser_goes_is_unreadable_not_a_crash():
    import requests as _requests

    from connector.failures import classify_response
    from connector.sources.rest import _json

    response = _requests.Response()
    response.status_code, response.url = 500, "https://social.example/api"
    response._content = b"[" * 100_000 + b"]" * 100_000
    assert _json(response) is None
    assert classify_response(response, "GET x").verdict == RETRY
