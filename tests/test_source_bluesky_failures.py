"""The Bluesky source when things go wrong: rate limits (RateLimit-* headers, 429
RateLimitExceeded), server errors, cut answers, credentials, unknown accounts, malformed and
hostile items; options and ``check()``."""
from __future__ import annotations

import json
import socket
from datetime import datetime, timezone

import marshmallow
import pytest

from connector_doubles.bluesky import BlueskyDouble, serve
from connector.failures import CONFIGURATION, RATE_LIMITED, RETRY
from connector.sources.bluesky import BlueskySource
from connector.sources.bluesky_xrpc import XrpcBudget

from . import bluesky_support
from .bluesky_support import ACTOR, FIXTURES, drain, full_poll, ids_of, ids_oldest_first, recorded_feed, source

double, server = bluesky_support.double, bluesky_support.server  # fixtures


# -- rate limits --------------------------------------------------------------------------------

def test_used_up_rate_limit_pauses_until_the_reset_then_resumes(server, double):
    double.rate_limit = 4  # resolveHandle + 3 feed pages; the last answer says "RateLimit-Remaining: 0"
    src = source(server, page_size=10)
    pages, failure = drain(src, None)
    assert failure.verdict == RATE_LIMITED and failure.retry_at == double.reset_at
    assert len(double.requests) == 4  # paused politely: no request spent on a sure 429
    assert ids_of(pages) == [] and len(pages[-1].state["descent"]["cursors"]) == 4  # the way down is kept
    _, again = drain(src, pages[-1].state)
    assert again.verdict == RATE_LIMITED and len(double.requests) == 4
    double.rate_limit = 3000
    double.reset_rate_limit()
    rest = full_poll(server, pages[-1].state, page_size=10)
    assert ids_of(pages) + ids_of(rest) == ids_oldest_first(double)


def test_our_own_call_budget_is_spent_before_calling(server, double):
    src = BlueskySource("bsky", {"actor": ACTOR, "base_url": server.url, "page_size": 10},
                        budget=XrpcBudget(3, 300.0))
    pages, failure = drain(src, None)
    assert failure.verdict == RATE_LIMITED and "call budget of 3 per 300s" in failure.message
    assert len(double.requests) == 3 and pages[-1].state["descent"]  # the way down so far is kept
    assert BlueskySource("b", {"actor": ACTOR}).budget.calls == 3000  # RateLimit-Policy 3000;w=300


def test_429_names_the_xrpc_error_and_its_reset(server, double):
    double.fail_next(429, after=2)  # resolveHandle, page 1, then 429
    pages, failure = drain(source(server, page_size=10), None)
    assert failure.verdict == RATE_LIMITED and failure.status == 429
    assert "RateLimitExceeded: Rate Limit Exceeded" in failure.message
    assert failure.retry_at == double.reset_at  # from RateLimit-Reset (Unix seconds)
    rest = full_poll(server, pages[-1].state if pages else None, page_size=10)
    assert sorted(ids_of(pages) + ids_of(rest)) == sorted(ids_oldest_first(double))


def test_429_with_retry_after_wins(server, double):
    double.fail_next(429, headers={"Retry-After": "120"})
    before = datetime.now(timezone.utc)
    _, failure = drain(source(server), None)
    assert failure.verdict == RATE_LIMITED and 110 <= (failure.retry_at - before).total_seconds() <= 130


def test_server_error_is_retry_and_the_stored_state_still_valid(server, double):
    pages = full_poll(server, page_size=10)
    double.add_post()
    double.fail_next(502)
    _, failure = drain(source(server, page_size=10), pages[-1].state)
    assert failure.verdict == RETRY and failure.status == 502
    assert len(ids_of(full_poll(server, pages[-1].state, page_size=10))) == 1


def test_truncated_page_is_retry(server, double):
    state = full_poll(server)[-1].state
    double.add_post()
    number = double.truncate_next()
    pages, failure = drain(source(server), state)
    assert double.requests[number - 1]["truncated"]
    assert pages == [] and failure.verdict == RETRY and "unreadable" in failure.message


# -- credentials and account --------------------------------------------------------------------

def auth_source(url, password="app-pass-1234", **options):
    return BlueskySource("bsky", {"actor": ACTOR, "pds_url": url, "identifier": ACTOR,
                                  "app_password": password, **options})


def test_app_password_session_reads_and_renews_an_expired_token():
    double = BlueskyDouble(FIXTURES, credentials=(ACTOR, "app-pass-1234"))
    with serve(double) as served:
        src = auth_source(served.url)
        pages, failure = drain(src, None)
        assert failure is None and len(ids_of(pages)) == 50
        double.expire_tokens()
        double.add_post()
        again, failure = drain(src, pages[-1].state)
        assert failure is None and len(ids_of(again)) == 1
        sessions = [r for r in double.requests if r["path"].endswith("createSession")]
        assert len(sessions) == 2  # once, and again after ExpiredToken
        assert "app-pass-1234" not in repr(src) and src._jwt not in repr(src)


def test_wrong_app_password_is_a_clear_configuration_failure():
    double = BlueskyDouble(FIXTURES, credentials=(ACTOR, "app-pass-1234"))
    with serve(double) as served:
        _, failure = drain(auth_source(served.url, password="wrong"), None)
        assert failure.verdict == CONFIGURATION and failure.status == 401
        assert "refused the credentials" in failure.message
        assert "AuthenticationRequired: Invalid identifier or password" in failure.message
        assert "wrong" not in failure.message


def test_reading_without_a_session_where_one_is_needed_names_auth_required():
    double = BlueskyDouble(FIXTURES, credentials=(ACTOR, "app-pass-1234"))
    with serve(double) as served:
        _, failure = drain(BlueskySource("bsky", {"actor": ACTOR, "base_url": served.url}), None)
        assert failure.verdict == CONFIGURATION and "AuthRequired: Authentication Required" in failure.message


@pytest.mark.parametrize("actor, said", [("nobody.bsky.social", "Unable to resolve handle"),
                                         ("did:plc:aaaaaaaaaaaaaaaaaaaaaaaa", "Profile not found")])
def test_unknown_account_is_configuration(server, actor, said):
    _, failure = drain(source(server, actor=actor), None)
    assert failure.verdict == CONFIGURATION and failure.status == 400
    assert f"account {actor!r} not found" in failure.message and said in failure.message


def test_connection_refused_is_retry():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    _, failure = drain(BlueskySource("b", {"actor": ACTOR, "base_url": f"http://127.0.0.1:{port}"}), None)
    assert failure.verdict == RETRY


# -- malformed and hostile items ----------------------------------------------------------------

def _item(text: str) -> dict:
    item = json.loads(json.dumps(recorded_feed()[23]))  # a plain post with one tag facet
    now = datetime.now(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    item["post"]["record"]["text"] = text
    item["post"]["record"]["createdAt"] = item["post"]["indexedAt"] = now  # at the top of the feed
    item["post"]["record"].pop("facets")
    return item


def _served(item: dict) -> bytes:
    # the uri is the double's to give: "{uri}" is replaced by it, as a real server numbers its posts
    item["post"]["uri"] = "{uri}"
    return json.dumps(item, separators=(",", ":")).encode()


HOSTILE = {
    "missing record": (lambda: _served({**_item("x"), "post": {**_item("x")["post"], "record": None}}),
                       "missing 'record'"),
    "bad createdAt": (lambda: _served(_set(_item("x"), "createdAt", "last tuesday")), "record.createdAt"),
    "year 9999": (lambda: _served(_set(_item("x"), "createdAt", "9999-12-31T23:59:59Z")), "created_at: 9999"),
    "not a post uri": (lambda: _served(_item("x")).replace(b'"{uri}"', b'"https://example.org/"'), "uri:"),
    "lone surrogate": (lambda: _served(_item("x")).replace(b'"text":"x"', b'"text":"a\\ud800b"'),
                       "post.record.text: contains a lone surrogate"),
    "NUL": (lambda: _served(_item("x")).replace(b'"text":"x"', b'"text":"a\\u0000b"'), "NUL"),
    "invalid UTF-8": (lambda: _served(_item("x")).replace(b'"text":"x"', b'"text":"a\xff\xfeb"'), "not valid UTF-8"),
    "huge item": (lambda: _served(_item("x" * (1024 * 1024 + 10))), "bytes, more than"),
    "deeply nested": (lambda: _served(_item("x")).replace(b'"langs"', b'"deep":' + b"[" * 100000 + b"]" * 100000
                                                          + b',"langs"'), "nested too deeply"),
}


def _set(item: dict, name: str, value) -> dict:
    item["post"]["record"][name] = value
    return item


@pytest.mark.parametrize("how", HOSTILE)
def test_a_malformed_or_hostile_item_costs_only_itself(server, double, how):
    make, reason = HOSTILE[how]
    state = full_poll(server)[-1].state
    before = double.add_post(text="before")
    made = make()
    bad = double.add_post(made)
    after = double.add_post(text="after")
    pages, failure = drain(source(server), state)
    assert failure is None
    assert ids_of(pages) == [before, after]
    [held] = [q for page in pages for q in page.quarantined]
    served = made.replace(b"{uri}", bad.encode())
    assert held.raw == served and reason in held.reason, held.reason
    again, failure = drain(source(server), pages[-1].state)  # the cursor moved past it: not again
    assert failure is None and [q for page in again for q in page.quarantined] == [] and ids_of(again) == []


def test_a_quarantined_newest_item_is_not_quarantined_again(server, double):
    state = full_poll(server)[-1].state
    double.add_post(HOSTILE["invalid UTF-8"][0]())
    pages = full_poll(server, state)
    assert len([q for page in pages for q in page.quarantined]) == 1
    again = full_poll(server, pages[-1].state)
    assert [q for page in again for q in page.quarantined] == []


# -- options and check --------------------------------------------------------------------------

@pytest.mark.parametrize("options", [
    {"actor": ACTOR, "colour": "blue"},
    {"actor": "not a handle"},
    {"actor": ACTOR, "page_size": 101},
    {"actor": ACTOR, "initial": "some"},
    {"actor": ACTOR, "base_url": "ftp://bsky.example"},
    {"actor": ACTOR, "identifier": ACTOR},
    {},
])
def test_invalid_options_are_rejected(options):
    with pytest.raises(marshmallow.ValidationError):
        BlueskySource("b", options)


def test_option_defaults():
    src = BlueskySource("b", {"actor": "@" + ACTOR})
    assert src.options["actor"] == ACTOR and src.host_url == "https://public.api.bsky.app"
    assert (src.options["recheck"], src.options["page_size"], src.options["initial"]) == (50, 100, "all")
    assert src.options["include_replies"] and src.options["include_reposts"]
    assert not src.options["include_thread_replies"]
    assert "cdn.bsky.app" in src.media_policy().hosts


def test_check_reports_connection_credentials_and_account(server):
    good = source(server).check()
    assert all(c.ok for c in good) and [c.name for c in good] == ["settings", "connection", "account"]
    bad = source(server, actor="nobody.bsky.social").check()
    assert [(c.name, c.ok) for c in bad][-1] == ("account", False) and "Profile not found" in bad[-1].message
    double = BlueskyDouble(FIXTURES, credentials=(ACTOR, "app-pass-1234"))
    with serve(double) as served:
        ok = auth_source(served.url).check()
        assert all(c.ok for c in ok) and [c.name for c in ok][-2:] == ["credentials", "account"]
        refused = auth_source(served.url, password="nope").check()
        assert [(c.name, c.ok) for c in refused][-1] == ("credentials", False)


def test_check_without_a_server_fails_on_connection():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    checks = BlueskySource("b", {"actor": ACTOR, "base_url": f"http://127.0.0.1:{port}"}).check()
    assert [(c.name, c.ok) for c in checks] == [("settings", True), ("connection", False)]
