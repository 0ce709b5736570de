"""The X source's failures against the replay double: X's rate limits (its headers and 429), the
monthly usage cap, a refused token, an unknown user, malformed and hostile items, partial errors,
and ``check()``."""
from __future__ import annotations

import json
import socket
from datetime import datetime, timezone

import pytest

from connector.failures import CONFIGURATION, RATE_LIMITED, RETRY
from connector.sources.x import XSource
from connector.sources.x_api import next_month

from . import x_support
from .x_support import (DEV, TOKEN, dev_ids_oldest_first, drain, full_poll, ids_of, page, source,
                        timeline_requests)

double, server = x_support.double, x_support.server  # pytest fixtures


# -- rate limits -------------------------------------------------------------------------------

def test_remaining_zero_pauses_until_reset_without_asking_then_resumes(server, double):
    double.limits["timeline"] = 1  # the first page's answer says: 0 remaining
    pages, failure = drain(source(server, page_size=5), None)
    assert len(pages) == 1 and failure.verdict == RATE_LIMITED
    assert failure.retry_at == datetime.fromtimestamp(double.reset_at, timezone.utc)
    assert len(timeline_requests(double)) == 1  # paused politely: no call spent on a sure 429
    double.limits["timeline"] = 1500
    double.reset_rate_limit()
    rest, failure = drain(source(server, page_size=5), pages[-1].state)
    assert failure is None
    assert sorted(ids_of(pages) + ids_of(rest), key=int) == dev_ids_oldest_first()


def test_429_is_rate_limited_until_the_announced_reset(server, double):
    state = full_poll(server)[-1].state
    double.limits["timeline"] = 0
    pages, failure = drain(source(server), state)
    assert pages == [] and failure.verdict == RATE_LIMITED and failure.status == 429
    assert failure.retry_at == datetime.fromtimestamp(double.reset_at, timezone.utc)
    assert "X rate limit used up" in failure.message and "Too Many Requests" in failure.message


def test_a_spent_lookup_window_does_not_stop_the_timeline(server, double):
    state = full_poll(server)[-1].state
    double.limits["tweets"] = 1  # the re-check endpoint: its window is spent after one call
    src = source(server)
    assert drain(src, state) == ([], None)  # its answer says 0 remaining: the re-check budget pauses
    new_id = double.add(page("timeline_tweets.json")["data"][0], DEV)
    double.requests.clear()
    pages, failure = drain(src, state)
    assert failure is None and ids_of(pages) == [new_id]  # the timeline still answered
    assert [r["path"] for r in double.requests] == ["/2/users/2244994945/tweets"]  # no sure 429 asked for
    double.limits["tweets"] = 0
    pages, failure = drain(source(server), pages[-1].state)  # a 429 on the re-check skips it
    assert failure is None and pages == [] and double.requests[-1]["status"] == 429


@pytest.mark.parametrize("with_reset", [True, False])
def test_monthly_usage_cap_is_named_and_waits_for_the_reset(server, double, with_reset):
    now = datetime.now(timezone.utc)
    reset = int(now.timestamp()) + 3 * 86400
    double.usage_capped = True
    double.usage_cap_reset = reset if with_reset else None
    _, failure = drain(source(server), None)
    expected = datetime.fromtimestamp(reset, timezone.utc) if with_reset else next_month(now)
    assert failure.verdict == RATE_LIMITED and failure.status == 429
    assert failure.retry_at == expected
    assert failure.message.startswith("X monthly usage cap of the project exceeded; resumes "
                                      + expected.isoformat().replace("+00:00", "Z"))
    assert failure.detail["title"] == "UsageCapExceeded"


@pytest.mark.parametrize("now, expected", [
    (datetime(2026, 1, 31, 23, 59, tzinfo=timezone.utc), datetime(2026, 2, 1, tzinfo=timezone.utc)),
    (datetime(2026, 12, 15, tzinfo=timezone.utc), datetime(2027, 1, 1, tzinfo=timezone.utc)),
])
def test_next_month(now, expected):
    assert next_month(now) == expected


# -- credentials, user, connection ------------------------------------------------------------

def test_bad_token_is_a_clear_configuration_failure(server):
    src = XSource("x", {"token": "wrong-token", "user": DEV, "base_url": server.url})
    _, failure = drain(src, None)
    assert failure.verdict == CONFIGURATION and failure.status == 401
    assert "X refused the bearer token" in failure.message and "Unauthorized" in failure.message
    assert "wrong-token" not in failure.message + repr(src)


def test_403_names_xs_own_reason(server, double):
    body = {"title": "Client Forbidden", "detail": "When authenticating requests to the Twitter API v2 endpoints,"
            " you must use keys and tokens from a Twitter developer App that is attached to a Project.",
            "reason": "client-not-enrolled", "type": "https://api.twitter.com/2/problems/client-forbidden"}
    double.fail_next(403, body=body)
    _, failure = drain(source(server), None)
    assert failure.verdict == CONFIGURATION and "Client Forbidden" in failure.message
    assert "attached to a Project" in failure.message


def test_unknown_user_is_configuration(server):
    _, failure = drain(source(server, "nobody_here"), None)
    assert failure.verdict == CONFIGURATION and "Could not find user with username: [nobody_here]" in failure.message


def test_server_error_mid_walk_is_retry_and_the_state_so_far_is_valid(server, double):
    double.fail_next(503, after=2)  # lookup, page 1, then page 2 fails
    pages, failure = drain(source(server, page_size=5), None)
    assert len(pages) == 1 and failure.verdict == RETRY
    rest, failure = drain(source(server, page_size=5), pages[-1].state)
    assert failure is None and sorted(ids_of(pages) + ids_of(rest), key=int) == dev_ids_oldest_first()


def test_connection_refused_is_retry():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    _, failure = drain(XSource("x", {"token": TOKEN, "user": DEV, "base_url": f"http://127.0.0.1:{port}"}), None)
    assert failure.verdict == RETRY


def test_check_reports_connection_credentials_and_account(server):
    good = source(server).check()
    assert all(c.ok for c in good) and [c.name for c in good] == ["settings", "connection", "credentials", "account"]
    assert "2244994945" in good[-1].message
    bad = XSource("x", {"token": "wrong", "user": DEV, "base_url": server.url}).check()
    assert [(c.name, c.ok) for c in bad][-1] == ("credentials", False) and "Unauthorized" in bad[-1].message
    unknown = source(server, "nobody_here").check()
    assert [(c.name, c.ok) for c in unknown][-1] == ("account", False)


# -- malformed and hostile items ---------------------------------------------------------------

def _template() -> dict:
    return dict(page("derived/conversation.json")["data"][2])


def _served(double, post_id: str, change) -> bytes:
    obj = _template()
    obj.update(id=post_id, edit_history_tweet_ids=[post_id], conversation_id=post_id)
    text = change(obj)
    data = text if isinstance(text, bytes) else json.dumps(obj if text is None else text, ensure_ascii=False).encode()
    double.set_text(post_id, data)
    return data


HOSTILE = {
    "bad date": (lambda o: o.update(created_at="last tuesday"), "created_at: 'last tuesday'"),
    "year 9999": (lambda o: o.update(created_at="9999-12-31T23:59:59.000Z"), "created_at: 9999-12-31"),
    "wrong type": (lambda o: o.update(referenced_tweets="quoted"), "referenced_tweets"),
    "foreign history": (lambda o: o.update(edit_history_tweet_ids=["1"]), "edit_history_tweet_ids"),
    "lone surrogate": (lambda o: json.dumps(o).replace("Starting", "\\ud800Starting").encode(), "lone surrogate"),
    "nul": (lambda o: o.update(text="a\u0000b"), "NUL"),
    "invalid utf-8": (lambda o: json.dumps(o).replace("Starting", "Start\xe9ing").encode("latin-1"),
                      "not valid UTF-8"),
    "huge": (lambda o: o.update(text="x" * (1024 * 1024 + 10)), "bytes, more than"),
    "deeply nested": (lambda o: (json.dumps(o)[:-1] + ', "deep": ' + "[" * 100000 + "]" * 100000 + "}").encode(),
                      "nested too deeply"),
}


@pytest.mark.parametrize("how", HOSTILE)
def test_malformed_or_hostile_item_is_quarantined_and_the_rest_goes_through(server, double, how):
    state = full_poll(server)[-1].state
    change, reason = HOSTILE[how]
    before = double.add(_template(), DEV)
    bad = double.add(_template(), DEV)
    served = _served(double, bad, change)
    after = double.add(_template(), DEV)
    pages, failure = drain(source(server), state)
    assert failure is None
    assert ids_of(pages) == [before, after]
    quarantined = [q for p in pages for q in p.quarantined]
    assert [q.raw for q in quarantined] == [served]
    assert reason in quarantined[0].reason and quarantined[0].item_id == bad
    assert pages[-1].state["since_id"] == after
    again, _ = drain(source(server), pages[-1].state)  # the cursor moved past it
    assert [q for p in again for q in p.quarantined] == []


def test_raw_is_the_posts_exact_bytes(server, double):
    pages = full_poll(server)
    for message in (m for p in pages for m in p.messages):
        assert message.raw.body == double.posts[message.version or message.id].text.encode()
        assert message.raw.page_url.startswith(server.url + "/2/users/2244994945/tweets")


def test_partial_error_keeps_the_post_and_the_error(server, double):
    pages = full_poll(server)
    derived = page("derived/conversation.json")
    reply = derived["data"][0]  # replies to a post X does not give (not in the replay): Not Found
    messages = {m.id: m for p in pages for m in p.messages}
    assert messages[reply["id"]].in_reply_to == reply["referenced_tweets"][0]["id"]
    [held] = [q for p in pages for q in p.quarantined]
    assert held.item_id == reply["id"] and "the post itself was kept" in held.reason
    error = json.loads(held.raw)
    assert error["resource_id"] == reply["referenced_tweets"][0]["id"] and error["title"] == "Not Found Error"


def test_protected_quoted_post_gives_a_quote_without_text(server, double):
    quote = page("derived/conversation.json")["data"][2]
    quoted = quote["referenced_tweets"][0]["id"]
    double.protect(quoted)
    messages = {m.id: m for p in full_poll(server) for m in p.messages}
    assert messages[quote["id"]].quote.id == quoted
    assert (messages[quote["id"]].quote.text, messages[quote["id"]].quote.handle) == ("", "")
    assert messages[quote["id"]].quote.url == f"https://x.com/i/web/status/{quoted}"


@pytest.mark.parametrize("body", [b"<html><body>Bad gateway</body></html>", b'{"data":[{"id":"1364275610764201984",'])
def test_a_page_unreadable_as_a_whole_is_retry_and_the_cursor_stays(server, body):
    state = full_poll(server)[-1].state
    src = source(server)
    real = src.session.get

    def proxy(url, **kwargs):  # a proxy's error page, or an answer cut off in transit, with status 200
        response = real(url, **kwargs)
        if url.endswith("/tweets") and "/users/" in url:
            response._content = body
        return response
    src.session.get = proxy
    pages, failure = drain(src, state)
    assert pages == [] and failure.verdict == RETRY and "unreadable response" in failure.message
