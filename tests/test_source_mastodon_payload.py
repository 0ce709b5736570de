"""Mastodon statuses as messages: normalisation (through polls of the replay server), saved pages
through ``parse_payload``, and item boundaries cut on the bytes (one unreadable status does not
hide the others)."""
from __future__ import annotations

import json
import re

import pytest

from connector.htmltext import to_text
from connector.message import parse_iso
from connector.sources.base import ParseError
from connector.sources.mastodon import MastodonSource

from .mastodon_support import (FIXTURES, REPLAY, ROOT, double, drain, full_poll, messages_by_id,  # noqa: F401
                               replay, server, source)


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
