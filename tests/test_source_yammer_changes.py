"""The Yammer source against the replay double: replies and media as served, edits (new versions),
deletions (404 on re-check), malformed and hostile items, check() and the options."""
from __future__ import annotations

import json
import socket

import marshmallow
import pytest

from connector.failures import RATE_LIMITED
from connector.message import MAX_RAW_BYTES
from connector.sources.yammer import YammerSource

from . import yammer_support
from .yammer_support import FIXTURES, TOKEN, by_id, drain, full_poll, ids_of, messages_by_id, replay, source

double = pytest.fixture(yammer_support.double)
server = pytest.fixture(yammer_support.server)


# -- what a poll hands on ----------------------------------------------------------------------

def test_replies_carry_their_parent_and_thread(server):
    messages = messages_by_id(full_poll(server))
    for item in replay()["messages"]:
        message = messages[str(item["id"])]
        parent = item["replied_to_id"]
        assert message.kind == ("reply" if parent else "post")
        assert message.in_reply_to == (str(parent) if parent else None)
        assert message.thread_id == str(item["thread_id"])
        if parent:  # the parent's own Message.id, so "follow the thread" finds it
            assert messages[message.in_reply_to].id == str(parent)
    assert (messages["303"].in_reply_to, messages["303"].thread_id) == ("302", "301")  # a reply to a reply


def test_attachments_as_served(server):
    messages = messages_by_id(full_poll(server))
    image, pdf, link = (by_id(i)["attachments"][0] for i in (301, 303, 304))
    assert [(a.url, a.media_type, a.description) for a in messages["301"].attachments] == [
        (image["image"]["url"], image["content_type"], image["name"])]
    assert [(a.url, a.media_type, a.description) for a in messages["303"].attachments] == [
        (pdf["download_url"], pdf["content_type"], pdf["name"])]
    assert [(a.url, a.description) for a in messages["304"].attachments] == [(link["web_url"], link["name"])]
    assert messages["5"].attachments == ()


def test_raw_is_each_messages_own_bytes(server, double):
    pages = full_poll(server)
    for message in (m for p in pages for m in p.messages):
        _, served = double.find(message.id)
        assert message.raw.body == served.text.encode()
        assert "/messages/in_group/7.json" in message.raw.page_url
    # the recorded message, served as it was recorded, is archived byte for byte
    assert messages_by_id(pages)["5"].raw.body == (FIXTURES / "message.json").read_bytes()


# -- edits -------------------------------------------------------------------------------------

def test_an_edit_becomes_a_new_version_once(server, double):
    before = full_poll(server)[-1].state
    double.edit_message("304", "Het persbericht is aangepast.", rich="Het persbericht is <b>aangepast</b>.")
    pages, failure = drain(source(server), before)
    assert failure is None and ids_of(pages) == ["304"]
    edited = pages[-1].messages[0]
    assert edited.version.startswith("edit-") and edited.edited_at is not None
    assert (edited.text, edited.html) == ("Het persbericht is aangepast.", "Het persbericht is <b>aangepast</b>.")
    assert edited.created_at == messages_by_id(full_poll(server))["304"].created_at
    assert edited.raw.body == double.find("304")[1].text.encode()
    assert ids_of(drain(source(server), pages[-1].state)[0]) == []  # seen once
    again, _ = drain(source(server), before)  # the same edit seen again (a crash): the same version
    assert [m.version for p in again for m in p.messages] == [edited.version]


def test_an_edit_outside_the_recheck_window_is_not_seen(server, double):
    state = full_poll(server, recheck=2)[-1].state
    assert sorted(state["recent"], key=int) == ["305", "306"]
    double.edit_message("301", "late edit")
    pages, failure = drain(source(server, recheck=2), state)
    assert failure is None and ids_of(pages) == []


# -- deletions ---------------------------------------------------------------------------------

def test_a_deleted_message_is_a_deletion_once(server, double):
    state = full_poll(server)[-1].state
    double.delete_message("304")
    pages, failure = drain(source(server), state)
    assert failure is None and ids_of(pages) == []
    [deletion] = [d for p in pages for d in p.deletions]
    assert deletion.id == "304" and "404" in deletion.reason and deletion.url.endswith("/messages/304.json")
    assert "304" not in pages[-1].state["recent"]
    assert {"path": "/api/v1/messages/304.json", "status": 404} in [
        {k: r[k] for k in ("path", "status")} for r in double.requests]
    again, _ = drain(source(server), pages[-1].state)
    assert [d for p in again for d in p.deletions] == []


def test_a_message_still_answering_is_not_a_deletion(server, double):
    state = full_poll(server)[-1].state
    group, moved = double.find("304")
    double.groups[group].remove(moved)
    double.groups["8"] = [moved]  # moved to another group: gone from this one, yet there
    pages, failure = drain(source(server), state)
    assert failure is None and [d for p in pages for d in p.deletions] == []


def test_a_deletion_outside_the_window_is_not_asked_after(server, double):
    state = full_poll(server, recheck=2)[-1].state
    double.delete_message("5")
    double.requests.clear()
    pages, failure = drain(source(server, recheck=2), state)
    assert failure is None and [d for p in pages for d in p.deletions] == []
    assert not [r for r in double.requests if r["path"] == "/api/v1/messages/5.json"]


def test_a_rate_limit_while_asking_after_deletions_keeps_those_found(server, double):
    state = full_poll(server)[-1].state
    double.delete_message("303")
    double.delete_message("304")
    double.reset_rate_limit()
    double.rate_limit = 3  # newer_than, the re-check page, 303; then 429
    pages, failure = drain(source(server), state)
    assert failure.verdict == RATE_LIMITED
    assert [d.id for p in pages for d in p.deletions] == ["303"]
    double.reset_rate_limit()
    double.rate_limit = 1000
    rest, failure = drain(source(server), pages[-1].state)
    assert failure is None and [d.id for p in rest for d in p.deletions] == ["304"]


# -- malformed and hostile items -----------------------------------------------------------------

def _variant(how: str, message_id: str) -> bytes:
    item = by_id(302)
    item["id"] = int(message_id)  # as the server numbered it
    if how == "bad date":
        item["created_at"] = "2013-04-05T12:40:00Z"
    elif how == "impossible date":
        item["created_at"] = "2013/02/30 12:40:00 +0000"
    elif how == "no sender":
        del item["sender_id"]
    elif how == "body not an object":
        item["body"] = "Mooi!"
    elif how == "lone surrogate":
        item["body"]["plain"] = "Mooi \ud800!"
    elif how == "nul":
        item["body"]["plain"] = "Mooi\x00!"
    elif how == "year 9999":
        item["created_at"] = "9999/12/31 23:59:59 +0000"
    elif how == "year 0001 east of UTC":
        item["created_at"] = "0001/01/01 00:00:00 +0100"
    elif how == "huge":
        item["body"]["plain"] = "x" * MAX_RAW_BYTES
    data = json.dumps(item).encode()
    if how == "invalid utf-8":
        data = data.replace(b"Mooi!", b"Mooi \xff!")
    elif how == "deeply nested":
        data = b'{"id": %s, "body": %s}' % (message_id.encode(), b"[" * 100_000 + b"]" * 100_000)
    return data


@pytest.mark.parametrize("how, reason", [
    ("bad date", "created_at: '2013-04-05T12:40:00Z' is not a Yammer date (expected 'YYYY/MM/DD HH:MM:SS +ZZZZ')"),
    ("impossible date", "created_at: '2013/02/30 12:40:00 +0000' is not a date that exists"),
    ("no sender", "missing 'sender_id'"),
    ("body not an object", "body: expected an object"),
    ("lone surrogate", "body.plain: contains a lone surrogate (U+D800)"),
    ("nul", "body.plain: contains a NUL character"),
    ("year 9999", "created_at: 9999-12-31T23:59:59Z is more than a day after the fetch"),
    ("year 0001 east of UTC", "created_at: '0001/01/01 00:00:00 +0100' is not a date that exists"),
    ("huge", "bytes, more than"),
    ("invalid utf-8", "not valid UTF-8"),
    ("deeply nested", "nested too deeply"),
])
def test_a_bad_item_is_quarantined_once_and_the_rest_goes_through(server, double, how, reason):
    state = full_poll(server)[-1].state
    good = double.add_message(by_id(302))
    bad = double.add_message(by_id(302))
    served = _variant(how, bad)
    double.set_text(bad, served)
    after = double.add_message(by_id(302))
    pages, failure = drain(source(server), state)
    assert failure is None and ids_of(pages) == [good, after]
    [held] = [q for p in pages for q in p.quarantined]
    assert held.raw == served and held.item_id == bad
    assert reason in held.reason, held.reason
    assert pages[-1].state["watermark"] == after
    newer = double.add_message(by_id(302))
    again, failure = drain(source(server), pages[-1].state)
    assert failure is None and ids_of(again) == [newer]
    assert [q for p in again for q in p.quarantined] == []


def test_a_quarantined_newest_item_still_moves_the_cursor(server, double):
    state = full_poll(server)[-1].state
    bad = double.add_message(by_id(302))
    double.set_text(bad, _variant("bad date", bad))
    pages, failure = drain(source(server), state)
    assert failure is None and ids_of(pages) == [] and len(pages[0].quarantined) == 1
    assert pages[-1].state["watermark"] == bad
    again, _ = drain(source(server), pages[-1].state)
    assert [q for p in again for q in p.quarantined] == []


# -- check and options -------------------------------------------------------------------------

def test_check_names_connection_credentials_and_group(server):
    good = source(server).check()
    assert [(c.name, c.ok) for c in good] == [("settings", True), ("connection", True), ("credentials", True),
                                              ("group", True)]
    bad = source(server, token="wrong").check()
    assert [(c.name, c.ok) for c in bad][-1] == ("credentials", False) and "Token not found." in bad[-1].message
    unknown = source(server, group_id="99").check()
    assert [(c.name, c.ok) for c in unknown][-1] == ("group", False) and "404" in unknown[-1].message


def test_check_without_a_server_fails_the_connection():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    checks = YammerSource("e", {"group_id": "7", "token": "t", "base_url": f"http://127.0.0.1:{port}"}).check()
    assert [(c.name, c.ok) for c in checks] == [("settings", True), ("connection", False)]


@pytest.mark.parametrize("options", [
    {"token": "t"}, {"group_id": "abc", "token": "t"}, {"group_id": "7"}, {"group_id": "7", "token": ""},
    {"group_id": "7", "token": "t", "recheck": 101}, {"group_id": "7", "token": "t", "initial": "some"},
    {"group_id": "7", "token": "t", "base_url": "ftp://www.yammer.com/api/v1"},
    {"group_id": "7", "token": "t", "colour": "blue"},
])
def test_invalid_options_are_rejected(options):
    with pytest.raises(marshmallow.ValidationError):
        YammerSource("engage", options)


def test_options_defaults_and_tidying():
    src = YammerSource("engage", {"group_id": 7, "token": "s3cret", "base_url": "https://www.yammer.com/api/v1/"})
    assert src.options["group_id"] == "7" and src.options["base_url"] == "https://www.yammer.com/api/v1"
    assert (src.options["network_host"], src.options["initial"], src.options["recheck"]) == (
        "https://web.yammer.com", "all", 20)
    assert "s3cret" not in repr(src) and "group 7" in repr(src)
    assert src.media_policy().hosts == ("www.yammer.com",)
    schema = YammerSource.options_schema()
    assert all(f.metadata.get("description") for f in schema.fields.values())
    assert TOKEN not in repr(src)


def test_an_item_without_a_readable_id_is_quarantined_once_and_the_page_still_read(server, double):
    state = full_poll(server)[-1].state
    bad = double.add_message(by_id(302))
    double.set_text(bad, b'{"id" 307, "body": "no colon after the id"}')
    good = double.add_message(by_id(302))
    double.requests.clear()
    pages, failure = drain(source(server, recheck=0), state)
    assert failure is None and ids_of(pages) == [good]
    assert [(q.item_id, "not valid JSON" in q.reason) for p in pages for q in p.quarantined] == [("", True)]
    # the page is no JSON as a whole, yet its meta still says older_available: false
    assert [r["args"] for r in double.requests] == [{"newer_than": "306"}]
