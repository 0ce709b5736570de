"""The Mastodon source against the local replay server (127.0.0.1 only), and the server itself.

Expected values are read from the fixture JSON (real recorded statuses), never copied in.
"""
from __future__ import annotations

import copy
import email.utils
import json
import re
import socket
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import marshmallow
import pytest
import requests

from connector.doubles.mastodon import MastodonDouble, serve
from connector.failures import CONFIGURATION, RATE_LIMITED, RETRY, Failed
from connector.htmltext import to_text
from connector.message import iso, parse_iso
from connector.sources.base import SOURCES, ParseError
from connector.sources.mastodon import MastodonSource

from .conftest import SHARED

ROOT = Path(__file__).resolve().parents[1]
FIXTURES = ROOT / "fixtures" / "mastodon"
REPLAY = FIXTURES / "replay"
RECORDINGS = SHARED / "recordings" / "mastodon"


def replay(acct: str) -> dict:
    return json.loads((REPLAY / f"{acct}.json").read_text(encoding="utf-8"))


def ids_oldest_first(acct: str) -> list[str]:
    return sorted((s["id"] for s in replay(acct)["statuses"]), key=int)


@pytest.fixture
def double():
    return MastodonDouble(REPLAY)


@pytest.fixture
def server(double):
    served = serve(double)
    yield served
    served.shutdown()


def source(server, account="schochastics", **options) -> MastodonSource:
    return MastodonSource("social", {"base_url": server.url, "account": account, **options})


def drain(src: MastodonSource, state):
    """All pages a poll yields, and the failure it ended with (or None)."""
    pages = []
    try:
        for page in src.poll(state):
            pages.append(page)
    except Failed as failed:
        return pages, failed.failure
    return pages, None


def ids_of(pages) -> list[str]:
    return [m.id for page in pages for m in page.messages]


def messages_by_id(pages) -> dict:
    return {m.id: m for page in pages for m in page.messages}


def full_poll(server, account="schochastics", **options):
    pages, failure = drain(source(server, account, **options), None)
    assert failure is None
    return pages


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


# -- normalisation ---------------------------------------------------------------------------

def test_boost_is_a_share_with_the_boosted_content_and_author(server):
    messages = messages_by_id(full_poll(server, "mastodonpy_test"))
    boosts = [s for s in replay("mastodonpy_test")["statuses"] if s["reblog"]]
    assert boosts
    for status in boosts:
        message = messages[status["id"]]
        assert message.kind == "share"
        assert to_text(status["reblog"]["content"]) in message.text
        assert "@" + status["reblog"]["account"]["acct"] in message.text
        assert message.sensitive == status["reblog"]["sensitive"]
        assert message.in_reply_to is None and message.thread_id == status["id"]


@pytest.mark.parametrize("account", ["schochastics", "admin"])
def test_reply_keeps_its_parent_as_thread(server, account):
    messages = messages_by_id(full_poll(server, account))
    for status in replay(account)["statuses"]:
        message = messages[status["id"]]
        if status["in_reply_to_id"]:
            assert (message.kind, message.in_reply_to, message.thread_id) == \
                ("reply", status["in_reply_to_id"], status["in_reply_to_id"])
        else:
            assert (message.kind, message.in_reply_to, message.thread_id) == ("post", None, status["id"])


@pytest.mark.parametrize("account", ["schochastics", "mastodonpy_test"])
def test_media_attachments(server, account):
    messages = messages_by_id(full_poll(server, account))
    with_media = [s for s in replay(account)["statuses"] if s["media_attachments"]]
    assert with_media
    for status in with_media:
        attachments = messages[status["id"]].attachments
        assert [a.url for a in attachments] == [m["url"] for m in status["media_attachments"]]
        assert [a.description for a in attachments] == [m["description"] or "" for m in status["media_attachments"]]
        for attachment, media in zip(attachments, status["media_attachments"]):
            assert attachment.media_type.startswith(media["type"] + "/")


def test_attachment_falls_back_to_remote_url():
    status = json.loads((FIXTURES / "derived" / "spoiler_status.json").read_text(encoding="utf-8"))
    media = status["media_attachments"][0]
    media["remote_url"], media["url"] = "https://elsewhere.example/pic.png", None
    messages, _ = MastodonSource.parse_payload(json.dumps(status).encode())
    assert [(a.url, a.media_type) for a in messages[0].attachments] == [(media["remote_url"], "image/png")]


def test_content_warning_is_kept(server, double):
    state = full_poll(server)[-1].state
    status = json.loads((FIXTURES / "derived" / "spoiler_status.json").read_text(encoding="utf-8"))
    new_id = double.add_status(status)
    message = messages_by_id(drain(source(server), state)[0])[new_id]
    assert message.spoiler_text == status["spoiler_text"] and status["spoiler_text"]
    assert message.sensitive is True


def test_hashtags_mentions_language_and_author(server):
    messages = messages_by_id(full_poll(server))
    host = "127.0.0.1"
    for status in replay("schochastics")["statuses"]:
        message = messages[status["id"]]
        assert message.hashtags == tuple(t["name"].lower() for t in status["tags"])
        expected = [m["acct"] if "@" in m["acct"] else f"{m['acct']}@{host}" for m in status["mentions"]]
        assert list(message.mentions) == expected
        assert message.language == status["language"]
        assert message.url == status["url"]
        assert message.author.id == status["account"]["id"]
        assert message.author.handle == f"{status['account']['acct']}@{host}"  # local: base_url host added
        assert message.author.name == status["account"]["display_name"]
        assert message.created_at == parse_iso(status["created_at"])
        assert message.text == to_text(status["content"])
        assert "<script" not in message.html and "class=" not in message.html


def test_url_falls_back_to_uri():
    status = replay("admin")["statuses"][0]
    status["url"] = None
    messages, _ = MastodonSource.parse_payload(json.dumps(status).encode())
    assert messages[0].url == status["uri"]


def test_raw_body_is_the_items_exact_bytes(server):
    pages = full_poll(server, page_size=6)
    replay_bytes = (REPLAY / "schochastics.json").read_bytes()
    for page in pages:
        for message in page.messages:
            assert message.raw.body in replay_bytes
            assert json.loads(message.raw.body)["id"] == message.id
            assert message.raw.media_type == "application/json"
            assert message.raw.page_url == page.url and page.url.startswith(server.url + "/api/v1/accounts/")
            assert message.raw.fetched_at.tzinfo is not None


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


# -- parse_payload ---------------------------------------------------------------------------

def test_parse_payload_keeps_each_items_exact_bytes():
    data = (FIXTURES / "fosstodon_statuses_page1.json").read_bytes()
    messages, quarantined = MastodonSource.parse_payload(data, channel="fosstodon")
    assert quarantined == []
    assert [m.id for m in messages] == [s["id"] for s in json.loads(data)]
    # the recorded array has no whitespace between items: the slices rebuild it byte for byte
    assert b"[" + b",".join(m.raw.body for m in messages) + b"]" == data
    assert {m.channel for m in messages} == {"fosstodon"}
    assert {m.author.handle for m in messages} == {"schochastics@fosstodon.org"}  # host from profile URL


def test_parse_payload_matches_the_hand_written_message():
    # fixtures/messages/ holds a status normalised by hand, independently of this module
    expected = json.loads((ROOT / "fixtures" / "messages" / "mastodon-status.json").read_text(encoding="utf-8"))
    raw = (ROOT / "fixtures" / "messages" / expected["raw"]["file"]).read_bytes()
    messages, _ = MastodonSource.parse_payload(raw, channel=expected["message"]["channel"])
    assert messages[0].to_dict() == expected["message"]
    assert messages[0].raw.body == raw.strip()


@pytest.mark.parametrize("name, reason", [
    ("status_missing_id", "missing 'id'"),
    ("status_missing_created_at", "missing 'created_at'"),
    ("status_bad_date", "is not an ISO 8601 date"),
    ("status_wrong_types", "account"),
])
def test_parse_payload_quarantines_malformed_status(name, reason):
    data = (FIXTURES / "malformed" / f"{name}.json").read_bytes()
    messages, quarantined = MastodonSource.parse_payload(data)
    items = json.loads(data)
    assert [m.id for m in messages] == [items[0]["id"], items[2]["id"]]
    assert len(quarantined) == 1 and reason in quarantined[0].reason
    assert json.loads(quarantined[0].raw) == items[1]


def test_parse_payload_truncated_json_is_parse_error_with_position():
    with pytest.raises(ParseError) as caught:
        MastodonSource.parse_payload((FIXTURES / "malformed" / "truncated.json").read_bytes())
    assert re.fullmatch(r"line \d+ column \d+", caught.value.position)


@pytest.mark.parametrize("data", [(FIXTURES / "malformed" / "not_a_list.json").read_bytes(), b"42", b"\xff\xfe[]"])
def test_parse_payload_rejects_non_status_payloads(data):
    with pytest.raises(ParseError):
        MastodonSource.parse_payload(data)


def test_parse_payload_single_status_object():
    data = (FIXTURES / "derived" / "spoiler_status.json").read_bytes()
    messages, quarantined = MastodonSource.parse_payload(data)
    assert quarantined == [] and len(messages) == 1
    assert messages[0].raw.body == data.strip()


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


# -- the replay server itself ----------------------------------------------------------------

def test_double_lists_its_accounts(double):
    assert double.accounts[0] == "schochastics"
    assert set(double.accounts) == {p.stem for p in REPLAY.glob("*.json")}


@pytest.mark.parametrize("acct", ["schochastics", "@schochastics", "schochastics@fosstodon.org",
                                  "schochastics@127.0.0.1"])
def test_double_lookup(server, acct):
    response = requests.get(server.url + "/api/v1/accounts/lookup", params={"acct": acct}, timeout=5)
    assert response.status_code == 200
    assert response.json() == replay("schochastics")["account"]


@pytest.mark.parametrize("path", ["/api/v1/accounts/lookup?acct=nobody", "/api/v1/accounts/1/statuses",
                                  "/api/v1/statuses/1"])
def test_double_record_not_found(server, path):
    response = requests.get(server.url + path, timeout=5)
    assert (response.status_code, response.json()) == (404, {"error": "Record not found"})


def _statuses(server, account_id, **params):
    response = requests.get(f"{server.url}/api/v1/accounts/{account_id}/statuses", params=params, timeout=5)
    assert response.status_code == 200
    return [s["id"] for s in response.json()], response


@pytest.mark.skipif(not RECORDINGS.is_dir(), reason="shared recordings not available")
def test_double_serves_the_recorded_page_byte_for_byte(server):
    recorded = json.loads((FIXTURES / "fosstodon_statuses_page1.headers.json").read_text())
    account_id = replay("schochastics")["account"]["id"]
    _, response = _statuses(server, account_id, limit=20, exclude_reblogs="FALSE")
    assert response.content == (FIXTURES / "fosstodon_statuses_page1.json").read_bytes()
    assert response.headers["Link"] == recorded["headers"]["link"].replace("https://fosstodon.org", server.url)


@pytest.mark.skipif(not RECORDINGS.is_dir(), reason="shared recordings not available")
def test_double_paginates_like_the_recorded_server(tmp_path):
    yaml = pytest.importorskip("yaml")
    cassette = yaml.safe_load((RECORDINGS / "test_fetch_next_previous.yaml").read_text())["interactions"]
    created = [i["response"]["body"]["string"] for i in cassette if i["request"]["method"] == "POST"]
    account = json.loads(created[0])["account"]
    (tmp_path / "a.json").write_text(json.dumps({"account": account, "statuses": [json.loads(c) for c in created]}))
    with serve(MastodonDouble(tmp_path)) as served:
        for interaction in cassette:
            request = interaction["request"]
            if request["method"] != "GET" or "/statuses?" not in request["uri"]:
                continue
            uri = request["uri"].replace("http://localhost:3000", served.url)
            response = requests.get(uri, timeout=5)
            recorded = interaction["response"]
            assert [s["id"] for s in response.json()] == [s["id"] for s in json.loads(recorded["body"]["string"])]
            assert response.headers["Link"] == recorded["headers"]["link"][0].replace("http://localhost:3000",
                                                                                      served.url)


def test_double_paging_parameters(server):
    account_id = replay("schochastics")["account"]["id"]
    newest_first = ids_oldest_first("schochastics")[::-1]
    assert _statuses(server, account_id)[0] == newest_first[:20]
    assert _statuses(server, account_id, limit=3)[0] == newest_first[:3]
    assert len(_statuses(server, account_id, limit=100)[0]) == len(newest_first)  # capped at 40, only 20 exist
    assert _statuses(server, account_id, limit=3, max_id=newest_first[5])[0] == newest_first[6:9]
    # since_id: the newest page, only newer than since_id; min_id: the page right above min_id
    assert _statuses(server, account_id, limit=3, since_id=newest_first[10])[0] == newest_first[:3]
    assert _statuses(server, account_id, limit=3, min_id=newest_first[10])[0] == newest_first[7:10]
    ids, response = _statuses(server, account_id, limit=3, min_id=newest_first[0])
    assert ids == [] and "Link" not in response.headers


def test_double_rate_limit_headers_and_429(server, double):
    double.rate_limit = 2
    first = requests.get(server.url + "/api/v1/accounts/lookup?acct=admin", timeout=5)
    assert first.headers["X-RateLimit-Remaining"] == "1"
    assert parse_iso(first.headers["X-RateLimit-Reset"]) == double.reset_at
    requests.get(server.url + "/api/v1/accounts/lookup?acct=admin", timeout=5)
    third = requests.get(server.url + "/api/v1/accounts/lookup?acct=admin", timeout=5)
    assert third.status_code == 429
    assert (third.headers["X-RateLimit-Limit"], third.headers["X-RateLimit-Remaining"]) == ("2", "0")


def test_double_requires_token_when_configured(double):
    double.token = "tok"
    with serve(double) as served:
        url = served.url + "/api/v1/accounts/lookup?acct=admin"
        denied = requests.get(url, timeout=5)
        assert (denied.status_code, denied.json()) == (401, {"error": "The access token is invalid"})
        assert requests.get(url, headers={"Authorization": "Bearer tok"}, timeout=5).status_code == 200


def test_double_fault_fires_once(server, double):
    double.fail_next(503)
    url = server.url + "/api/v1/accounts/lookup?acct=admin"
    assert [requests.get(url, timeout=5).status_code for _ in range(2)] == [503, 200]
    assert [r["status"] for r in double.requests] == [503, 200]


def test_double_truncate_next_cuts_the_body_once(server, double):
    url = server.url + "/api/v1/accounts/lookup?acct=admin"
    whole = requests.get(url, timeout=5).content
    double.truncate_next(keep=0.5)
    cut = requests.get(url, timeout=5)
    assert cut.status_code == 200 and cut.content == whole[:len(whole) // 2]
    assert int(cut.headers["Content-Length"]) == len(cut.content)
    assert requests.get(url, timeout=5).content == whole


def test_double_repeat_boundary_makes_bounds_inclusive(server, double):
    account_id = replay("schochastics")["account"]["id"]
    newest_first = ids_oldest_first("schochastics")[::-1]
    double.repeat_boundary = True
    assert _statuses(server, account_id, limit=3, min_id=newest_first[10])[0] == newest_first[8:11]
    assert _statuses(server, account_id, limit=3, max_id=newest_first[5])[0] == newest_first[5:8]


def test_double_runs_standalone():
    process = subprocess.Popen([sys.executable, "-m", "connector.doubles.mastodon", "--port", "0"],
                               cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    try:
        url = re.search(r"http://\S+", process.stdout.readline()).group(0)
        response = requests.get(url + "/api/v1/accounts/lookup?acct=schochastics", timeout=5)
        assert response.json()["acct"] == "schochastics"
    finally:
        process.terminate()
        process.wait(timeout=10)


# -- item boundaries on bytes (one unreadable status does not hide the others) ----------------

def test_items_are_cut_on_bytes_whatever_their_strings_hold():
    # brackets, commas and escaped quotes inside strings, whitespace between items, an invalid byte
    statuses = json.loads((FIXTURES / "fosstodon_statuses_page1.json").read_bytes())[:3]
    first = json.dumps(dict(statuses[0], content='<p>a "]" , "}" \\" [{</p>')).encode()
    second = json.dumps(statuses[1]).encode().replace(b"<p>", b"<p>\xff", 1)
    third = json.dumps(statuses[2], indent=2).encode()
    page = b"\n[ " + first + b" ,\n\t" + second + b",\r\n" + third + b"\n]\n"
    messages, quarantined = MastodonSource.parse_payload(page)
    assert [m.raw.body for m in messages] == [first, third]
    assert [(q.raw, q.item_id) for q in quarantined] == [(second, statuses[1]["id"])]
    assert "not valid UTF-8: byte 0xff" in quarantined[0].reason


@pytest.mark.parametrize("page, where", [
    (b"<html><body>502 Bad Gateway</body></html>", "line 1 column 1"),
    (b'[{"id": "1"}, {"id": "2"', "line 1 column 25"),
    (b'[{"id": "1"}, {"id": "2]', "line 1 column 22"),
    (b'[{"id": "1"},]', "line 1 column 14"),
    (b'[{"id": "1"}}', "line 1 column 13"),
    (b'[{"id": "1"}] trailing', "line 1 column 15"),
])
def test_a_page_that_is_not_a_json_array_as_a_whole_is_a_parse_error(page, where):
    with pytest.raises(ParseError) as caught:
        MastodonSource.parse_payload(page)
    assert caught.value.position == where


def test_a_value_that_is_no_status_is_quarantined_not_the_page():
    status = (FIXTURES / "derived" / "spoiler_status.json").read_bytes().strip()
    messages, quarantined = MastodonSource.parse_payload(b"[42, " + status + b', {"id": tru}]')
    assert len(messages) == 1 and messages[0].raw.body == status
    assert [(q.raw, q.reason.split(":")[0]) for q in quarantined] == [
        (b"42", "expected a status object, got int"), (b'{"id": tru}', "not valid JSON")]


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
