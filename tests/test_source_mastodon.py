"""The Mastodon source against the local replay server (127.0.0.1 only): incremental polling,
edits, failures, options and check. Normalising statuses is tested in
``test_source_mastodon_payload.py``, the replay server itself in ``test_source_mastodon_double.py``.
"""
from __future__ import annotations

import copy
import email.utils
import json
import socket
from datetime import timedelta

import marshmallow
import pytest
import requests

from connector_doubles.mastodon import serve
from connector.failures import CONFIGURATION, RATE_LIMITED, RETRY
from connector.htmltext import to_text
from connector.message import iso, parse_iso
from connector.sources.base import SOURCES
from connector.sources.mastodon import MastodonSource

from .mastodon_support import (double, drain, full_poll, ids_of, ids_oldest_first, messages_by_id,  # noqa: F401
                               replay, server, source)


# -- incremental polling ---------------------------------------------------------------------

def test_source_is_registered():
    assert SOURCES.get_class("mastodon") is MastodonSource


@pytest.mark.parametrize("account", ["schochastics", "mastodonpy_test"])
def test_first_poll_collects_every_status_once_across_pages(server, double, account):
    pages = full_poll(server, account, page_size=3)
    assert len(pages) > 3
    assert ids_of(pages) == ids_oldest_first(account)  # each once, oldest first overall
    for page in pages:
        assert [int(m.id) for m in page.messages] == sorted(int(m.id) for m in page.messages)
    assert pages[-1].state["watermark"] == ids_oldest_first(account)[-1]
    first = next(r for r in double.requests if r["path"].endswith("/statuses"))
    assert first["args"]["min_id"] == "0"


def test_second_poll_returns_nothing_new(server):
    pages = full_poll(server, page_size=7)
    again, failure = drain(source(server, page_size=7), pages[-1].state)
    assert failure is None
    assert ids_of(again) == []


def test_added_status_appears_on_next_poll(server, double):
    state = full_poll(server)[-1].state
    template = replay("schochastics")["statuses"][3]
    new_id = double.add_status(template)
    pages, failure = drain(source(server), state)
    assert failure is None
    assert ids_of(pages) == [new_id]
    message = pages[0].messages[0]
    assert message.text == to_text(template["content"])
    assert new_id in message.url
    assert ids_of(drain(source(server), pages[-1].state)[0]) == []


def test_edit_appears_as_new_version(server, double):
    state = full_poll(server)[-1].state
    target = replay("schochastics")["statuses"][4]
    assert target["edited_at"] is None
    edited_at = double.edit_status(target["id"], "<p>Corrected: the <b>right</b> date</p>")
    pages, failure = drain(source(server), state)
    assert failure is None
    assert ids_of(pages) == [target["id"]]
    message = pages[-1].messages[0]
    assert message.version == iso(parse_iso(edited_at))
    assert message.text == "Corrected: the right date"
    assert message.created_at == parse_iso(target["created_at"])
    # seen once: the next poll does not emit it again
    assert ids_of(drain(source(server), pages[-1].state)[0]) == []


def test_edit_older_than_lookback_is_not_seen(server, double):
    state = full_poll(server, edit_lookback=3)[-1].state
    assert len(state["recent"]) == 3
    oldest = ids_oldest_first("schochastics")[0]
    double.edit_status(oldest, "<p>late edit</p>")
    pages, failure = drain(source(server, edit_lookback=3), state)
    assert failure is None
    assert ids_of(pages) == []


def test_recorded_edit_is_a_version_of_its_own(server):
    messages = messages_by_id(full_poll(server))
    edited = [s for s in replay("schochastics")["statuses"] if s["edited_at"]]
    assert edited
    for status in edited:
        assert messages[status["id"]].version == iso(parse_iso(status["edited_at"]))
        assert messages[status["id"]].edited_at == parse_iso(status["edited_at"])
    unedited = [s["id"] for s in replay("schochastics")["statuses"] if not s["edited_at"]]
    assert all(messages[i].version == "" for i in unedited)


def test_initial_latest_fetches_only_the_newest_page(server):
    pages = full_poll(server, initial="latest", page_size=5)
    assert sorted(ids_of(pages), key=int) == ids_oldest_first("schochastics")[-5:]
    assert ids_of(drain(source(server, initial="latest", page_size=5), pages[-1].state)[0]) == []


def test_edit_check_reads_a_second_page_when_the_lookback_is_longer_than_one(server, double):
    template = replay("schochastics")["statuses"][1]
    for _ in range(30):
        double.add_status(template)
    newest_first = [s["id"] for s in double.statuses("schochastics")]
    assert len(newest_first) == 50
    state = full_poll(server, edit_lookback=45)[-1].state
    double.edit_status(newest_first[42], "<p>on the second page</p>")  # within the newest 45, past the first 40
    double.edit_status(newest_first[47], "<p>too old to be checked</p>")
    double.requests.clear()
    pages, failure = drain(source(server, edit_lookback=45), state)
    assert failure is None
    assert ids_of(pages) == [newest_first[42]]
    checks = [r["args"] for r in double.requests if "min_id" not in r["args"]]
    assert [(a["limit"], a.get("max_id")) for a in checks] == [("40", None), ("40", newest_first[39])]


def _session_rewriting_link_headers(rewrite) -> requests.Session:
    session = requests.Session()

    def hook(response, *args, **kwargs):
        link = rewrite(response.headers.pop("Link", None))
        if link:
            response.headers["Link"] = link
        return response
    session.hooks["response"].append(hook)
    return session


def test_a_link_to_another_host_is_followed_on_the_configured_one(server, double):
    # a reverse proxy announcing its internal host: the bearer token must not travel there
    double.token = "s3cret-token"
    session = _session_rewriting_link_headers(
        lambda link: link and link.replace(server.url, "http://mastodon.internal:3000"))
    src = MastodonSource("social", {"base_url": server.url, "account": "schochastics", "page_size": 4,
                                    "token": "s3cret-token"}, session=session)
    pages, failure = drain(src, None)
    assert failure is None  # mastodon.internal does not resolve: asking it would have failed the poll
    assert ids_of(pages) == ids_oldest_first("schochastics")
    assert len(pages) > 3 and all(r["status"] == 200 for r in double.requests)


def test_a_server_without_link_headers_is_walked_by_min_id(server, double):
    session = _session_rewriting_link_headers(lambda link: None)
    src = MastodonSource("social", {"base_url": server.url, "account": "schochastics", "page_size": 3},
                         session=session)
    pages, failure = drain(src, None)
    assert failure is None
    ids = ids_oldest_first("schochastics")
    assert ids_of(pages) == ids
    asked = [r["args"] for r in double.requests if r["path"].endswith("/statuses")]
    # each page's newest id, until the page above the newest comes back empty
    assert [a["min_id"] for a in asked] == ["0"] + [ids[min(i + 2, len(ids) - 1)] for i in range(0, len(ids), 3)]
    assert {a["limit"] for a in asked} == {"3"}


def test_poll_does_not_mutate_state(server):
    state = full_poll(server, page_size=10)[-1].state
    before = copy.deepcopy(state)
    drain(source(server), state)
    assert state == before


@pytest.mark.parametrize("option, excluded", [
    ("include_boosts", lambda s, account_id: s["reblog"] is not None),
    # Mastodon keeps replies to oneself (threads) when replies are excluded
    ("include_replies", lambda s, account_id: bool(s["in_reply_to_id"]) and s["in_reply_to_account_id"] != account_id),
])
@pytest.mark.parametrize("account", ["schochastics", "mastodonpy_test", "admin"])
def test_excluding_replies_or_boosts(server, option, excluded, account):
    data = replay(account)
    expected = sorted((s["id"] for s in data["statuses"] if not excluded(s, data["account"]["id"])), key=int)
    assert ids_of(full_poll(server, account, **{option: False})) == expected


# -- failures --------------------------------------------------------------------------------

def test_rate_limit_budget_exhausted_yields_pages_then_rate_limited(server, double):
    double.rate_limit = 4  # lookup + 3 pages
    pages, failure = drain(source(server, page_size=3), None)
    assert len(pages) == 3
    assert failure.verdict == RATE_LIMITED
    assert failure.retry_at == double.reset_at
    assert len(double.requests) == 4  # paused politely: no request spent on a sure 429
    double.rate_limit = 300
    double.reset_rate_limit()
    rest, failure = drain(source(server, page_size=3), pages[-1].state)
    assert failure is None
    assert ids_of(pages) + ids_of(rest) == ids_oldest_first("schochastics")


def test_exhausted_budget_pauses_without_asking_again(server, double):
    double.rate_limit = 3
    src = source(server, page_size=3)
    pages, failure = drain(src, None)
    assert failure.verdict == RATE_LIMITED
    sent = len(double.requests)
    _, again = drain(src, pages[-1].state)
    assert again.verdict == RATE_LIMITED and again.retry_at == double.reset_at
    assert len(double.requests) == sent


def test_429_mid_pagination_skips_nothing_on_next_poll(server, double):
    double.fail_next(429, after=3)  # lookup, page 1, page 2, then 429
    pages, failure = drain(source(server, page_size=4), None)
    assert len(pages) == 2
    assert failure.verdict == RATE_LIMITED and failure.status == 429
    assert failure.retry_at == double.reset_at
    rest, failure = drain(source(server, page_size=4), pages[-1].state)
    assert failure is None
    assert ids_of(pages) + ids_of(rest) == ids_oldest_first("schochastics")


def test_server_error_on_a_page_is_retry_and_earlier_state_still_valid(server, double):
    double.fail_next(500, after=2)
    pages, failure = drain(source(server, page_size=5), None)
    assert len(pages) == 1
    assert failure.verdict == RETRY and failure.status == 500
    rest, failure = drain(source(server, page_size=5), pages[-1].state)
    assert failure is None
    assert ids_of(pages) + ids_of(rest) == ids_oldest_first("schochastics")


def test_429_retry_after_wins_over_ratelimit_reset(server, double):
    # a proxy in front of Mastodon may answer 429 with Retry-After (an HTTP date here) next to X-RateLimit-Reset
    later = double.reset_at + timedelta(hours=1)
    double.fail_next(429, after=2, headers={"Retry-After": email.utils.format_datetime(later, usegmt=True)})
    pages, failure = drain(source(server, page_size=5), None)
    assert len(pages) == 1
    assert failure.verdict == RATE_LIMITED and failure.retry_at == later


def test_truncated_page_is_retry_and_a_later_poll_succeeds(server, double):
    pages, _ = drain(source(server, page_size=5), None)
    state = pages[0].state  # as stored after the first page
    number = double.truncate_next(after=0)
    rest, failure = drain(source(server, page_size=5), state)
    assert double.requests[number - 1]["truncated"] and double.requests[number - 1]["status"] == 200
    assert rest == [] and failure.verdict == RETRY and "unreadable" in failure.message
    again, failure = drain(source(server, page_size=5), state)  # the cursor did not move
    assert failure is None
    assert ids_of(pages[:1]) + ids_of(again) == ids_oldest_first("schochastics")


def test_server_repeating_the_boundary_status_neither_loops_nor_repeats(server, double):
    # bug: with inclusive min_id the last page always came back with itself as prev link, and the
    # poll requested it again and again until the rate limit ran out
    double.repeat_boundary = True
    pages, failure = drain(source(server, page_size=4), None)
    assert failure is None
    assert ids_of(pages) == ids_oldest_first("schochastics")
    statuses_requests = [r for r in double.requests if r["path"].endswith("/statuses")]
    assert len(statuses_requests) <= len(pages) + 1
    again, failure = drain(source(server, page_size=4), pages[-1].state)
    assert failure is None and ids_of(again) == []


def test_bad_token_is_configuration(double):
    double.token = "s3cret-token"
    with serve(double) as served:
        _, failure = drain(source(served, token="wrong-token"), None)
        assert failure.verdict == CONFIGURATION and failure.status == 401
        assert "wrong-token" not in failure.message + repr(source(served, token="wrong-token"))
        good, failure = drain(source(served, token="s3cret-token"), None)
        assert failure is None and ids_of(good) == ids_oldest_first("schochastics")


def test_unknown_account_is_configuration(server):
    _, failure = drain(source(server, account="nobody"), None)
    assert failure.verdict == CONFIGURATION and failure.status == 404


def test_connection_refused_is_retry():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    src = MastodonSource("social", {"base_url": f"http://127.0.0.1:{port}", "account": "x"})
    _, failure = drain(src, None)
    assert failure.verdict == RETRY


def _broken(how: str, status_id: str) -> bytes:
    status = replay("schochastics")["statuses"][0]
    status["id"] = status_id  # as the server numbered it
    if how == "missing id":
        del status["id"]
    elif how == "bad date":
        status["created_at"] = "last tuesday"
    else:
        status["account"] = ["not", "an", "object"]
    return json.dumps(status).encode()


@pytest.mark.parametrize("how, reason", [("missing id", "id"), ("bad date", "created_at"),
                                         ("wrong type", "account")])
def test_malformed_item_is_quarantined_and_the_rest_goes_through(server, double, how, reason):
    state = full_poll(server)[-1].state
    template = replay("schochastics")["statuses"][1]
    before = double.add_status(template)
    broken_id = double.add_status(template)
    double.set_text(broken_id, _broken(how, broken_id))
    after = double.add_status(template)
    pages, failure = drain(source(server), state)
    assert failure is None
    assert ids_of(pages) == [before, after]
    quarantined = [q for page in pages for q in page.quarantined]
    assert [q.raw for q in quarantined] == [_broken(how, broken_id)]
    assert reason in quarantined[0].reason
    # the cursor moved past it: not fetched (and quarantined) again
    again, _ = drain(source(server), pages[-1].state)
    assert [q for page in again for q in page.quarantined] == []


@pytest.mark.parametrize("how", ["missing id", "bad date", "wrong type"])
def test_quarantined_newest_item_still_moves_the_cursor(server, double, how):
    state = full_poll(server)[-1].state
    broken_id = double.add_status(replay("schochastics")["statuses"][0])
    double.set_text(broken_id, _broken(how, broken_id))
    pages, failure = drain(source(server), state)
    assert failure is None
    assert ids_of(pages) == [] and len(pages[0].quarantined) == 1
    again, _ = drain(source(server), pages[-1].state)
    assert [q for page in again for q in page.quarantined] == []


def test_non_json_page_is_retry(server, double):
    state = full_poll(server)[-1].state
    double.fail_next(200, body={"not": "a list"})
    _, failure = drain(source(server), state)
    assert failure.verdict == RETRY


def test_html_error_page_with_status_200_is_a_retry(server):
    # a proxy answering the statuses request with its own page: the page is unreadable, not an item
    broken = MastodonSource("c", {"base_url": server.url, "account": "schochastics"},
                            session=requests.Session())
    original = broken.session.get

    def proxy_page(url, **kwargs):
        response = original(url, **kwargs)
        if "/statuses" in url:
            response._content = b"<html><body>Bad gateway</body></html>"
        return response
    broken.session.get = proxy_page
    pages, failure = drain(broken, None)
    assert pages == [] and failure.verdict == RETRY and "unreadable response" in failure.message


# -- options and check -----------------------------------------------------------------------

@pytest.mark.parametrize("options", [
    {"base_url": "https://social.overheid.nl", "account": "x", "colour": "blue"},
    {"base_url": "https://social.overheid.nl", "account": "x", "page_size": 41},
    {"base_url": "https://social.overheid.nl", "account": "x", "initial": "some"},
    {"base_url": "ftp://social.overheid.nl", "account": "x"},
    {"base_url": "https://social.overheid.nl", "account": "not a handle"},
    {"account": "x"},
])
def test_invalid_options_are_rejected(options):
    with pytest.raises(marshmallow.ValidationError):
        MastodonSource("social", options)


def test_options_defaults_and_tidying():
    src = MastodonSource("social", {"base_url": "https://social.overheid.nl/", "account": "@rijksoverheid"})
    assert src.options["base_url"] == "https://social.overheid.nl"
    assert src.options["account"] == "rijksoverheid"
    assert (src.options["page_size"], src.options["initial"], src.options["edit_lookback"]) == (40, "all", 40)
    assert src.options["include_replies"] and src.options["include_boosts"]


def test_check_reports_account_and_credentials(double):
    double.token = "s3cret-token"
    with serve(double) as served:
        good = source(served, token="s3cret-token").check()
        assert all(c.ok for c in good) and [c.name for c in good][-1] == "account"
        bad = source(served, token="wrong").check()
        assert [(c.name, c.ok) for c in bad][-1] == ("credentials", False)
