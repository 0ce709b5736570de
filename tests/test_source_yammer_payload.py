"""Normalising Yammer messages and parsing saved answers (no network): the recorded message and the
derived in_group pages against their hand-written expected output, Yammer's date form, references,
permalinks and markup."""
from __future__ import annotations

import base64
import json

import pytest

from connector.sources.base import ParseError
from connector.sources.jsonitems import split_member
from connector.sources.yammer import YammerSource
from connector.sources.yammer_message import (References, _Invalid, message_to_message, parse_date,
                                              thread_link)
from connector_doubles.yammer import YammerDouble

from .conftest import run_cli
from .yammer_support import FIXTURES, REPLAY, by_id

PARSED = [("message.json", "message.jsonl"), ("derived/in_group_page1.json", "in_group_page1.jsonl"),
          ("derived/in_group_page2.json", "in_group_page2.jsonl")]


def expected(name: str) -> list[dict]:
    lines = (FIXTURES / "expected" / name).read_text(encoding="utf-8").splitlines()
    return [json.loads(line) for line in lines if line.strip()]


@pytest.mark.parametrize("payload, name", PARSED)
def test_parse_payload_gives_the_hand_written_messages(payload, name):
    messages, quarantined = YammerSource.parse_payload((FIXTURES / payload).read_bytes())
    assert quarantined == []
    assert [m.to_dict() for m in messages] == expected(name)


@pytest.mark.parametrize("payload, name", PARSED)
def test_connector_messages_parse_prints_them(capsys, payload, name):
    code, out, err = run_cli(capsys, "messages", "parse", "yammer", str(FIXTURES / payload))
    assert code == 0 and "skipped" not in err and "yammer" not in err
    assert [json.loads(line) for line in out.splitlines()] == expected(name)


def test_each_message_of_a_page_keeps_its_own_bytes():
    data = (FIXTURES / "derived" / "in_group_page2.json").read_bytes()
    messages, _ = YammerSource.parse_payload(data)
    assert [m.raw.body for m in messages] == [raw for raw, _ in split_member(data, "messages")]
    assert messages[-1].raw.body == (FIXTURES / "message.json").read_bytes()  # the recorded one, verbatim


@pytest.mark.parametrize("name, query", [("in_group_page1.json", "limit=4"),
                                         ("in_group_page2.json", "limit=4&older_than=303")])
def test_the_derived_pages_are_what_the_double_serves(name, query):
    double = YammerDouble(REPLAY)
    answer = double.create_app().test_client().get(f"/api/v1/messages/in_group/7.json?{query}",
                                                   headers={"Authorization": f"Bearer {double.token}"})
    assert answer.data == (FIXTURES / "derived" / name).read_bytes()


def test_a_page_with_a_bad_message_quarantines_it_and_says_so(capsys, tmp_path):
    page = json.loads((FIXTURES / "derived" / "in_group_page1.json").read_bytes())
    page["messages"][1]["created_at"] = "2013-04-06T10:15:00Z"
    path = tmp_path / "page.json"
    path.write_text(json.dumps(page))
    messages, quarantined = YammerSource.parse_payload(path.read_bytes())
    assert [m.id for m in messages] == ["306", "304", "303"]
    assert [(q.item_id, q.reason) for q in quarantined] == [
        ("305", "created_at: '2013-04-06T10:15:00Z' is not a Yammer date (expected 'YYYY/MM/DD HH:MM:SS +ZZZZ')")]
    code, _, err = run_cli(capsys, "messages", "parse", "yammer", str(path))
    assert code == 2 and "item 305 skipped: created_at" in err


def test_an_array_of_messages_is_read_too():
    messages, quarantined = YammerSource.parse_payload(b"[" + (FIXTURES / "message.json").read_bytes() + b"]")
    assert [m.id for m in messages] == ["5"] and quarantined == []


def test_one_unreadable_message_is_quarantined_with_its_id():
    data = b'{"id": 7, "created_at": "2013/04/05 12:34:56 +0000", "body": {"plain": "\xff"}}'
    messages, [held] = YammerSource.parse_payload(data)
    assert messages == [] and held.item_id == "7" and "not valid UTF-8" in held.reason and held.raw == data


@pytest.mark.parametrize("data", [b"<html></html>", b'{"messages": [', b"42"])
def test_a_payload_that_is_no_json_document_is_a_parse_error(data):
    with pytest.raises(ParseError):
        YammerSource.parse_payload(data)


# -- Yammer's date form ------------------------------------------------------------------------

def test_yammer_dates_are_read_as_utc():
    assert parse_date("2013/04/05 12:34:56 +0200").isoformat() == "2013-04-05T10:34:56+00:00"
    assert parse_date("2012/12/08 01:23:16 +0000").isoformat() == "2012-12-08T01:23:16+00:00"


@pytest.mark.parametrize("value", ["2013-04-05T12:34:56Z", "2013/04/05 12:34:56", "2013/04/05 12:34:56 +00:00",
                                   "2013/4/5 12:34:56 +0000", " 2013/04/05 12:34:56 +0000", "2013/13/05 12:34:56 +0000",
                                   "2013/04/05 24:00:00 +0000", 1365165296, None])
def test_anything_else_is_refused_with_the_value(value):
    with pytest.raises(_Invalid, match="created_at"):
        parse_date(value)


# -- references, permalinks, markup ------------------------------------------------------------

def _page_refs() -> References:
    return References.of_page((FIXTURES / "derived" / "in_group_page2.json").read_bytes())


def test_a_sender_missing_from_the_references_keeps_its_id_only():
    message = message_to_message(by_id(302), References())
    assert (message.author.id, message.author.handle, message.author.name) == ("67", "", "")
    assert message.mentions == () and message.hashtags == ()


def test_mentions_and_topics_come_from_the_references():
    message = message_to_message(by_id(301), _page_refs())
    assert (message.mentions, message.hashtags) == (("averbeek",), ("opening",))
    assert (message.author.handle, message.author.name) == ("jsmith", "John Smith")


def test_the_permalink_is_the_messages_own_then_its_threads_then_the_web_hosts():
    item = by_id(302)
    del item["web_url"]
    assert message_to_message(item, _page_refs()).url == "https://www.yammer.com/yammer-inc.com/threads/301"
    url = message_to_message(item, References(), network_host="https://web.yammer.com").url
    assert url.startswith("https://web.yammer.com/main/threads/")
    token = url.rsplit("/", 1)[1]
    assert json.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))) == {"_type": "Thread", "id": "301"}
    assert url == thread_link("https://web.yammer.com", "301")


def test_without_a_rich_body_the_html_is_the_plain_text_escaped_with_links():
    item = by_id(304)
    del item["body"]["rich"]
    item["body"]["plain"] = item["body"]["parsed"] = "<b>Zie</b> https://www.example.org/a?b=1&c=2\nen verder"
    message = message_to_message(item, References())
    assert message.html == ('<p>&lt;b&gt;Zie&lt;/b&gt; <a href="https://www.example.org/a?b=1&amp;c=2" rel="nofollow'
                            ' noopener noreferrer">https://www.example.org/a?b=1&amp;c=2</a><br>en verder</p>')
    assert message.text == item["body"]["plain"]


def test_without_a_rich_body_mentions_and_topics_link_to_their_pages():
    item = by_id(301)
    del item["body"]["rich"]
    message = message_to_message(item, _page_refs())
    assert message.html == (
        '<p>Het nieuwe stadhuis is open! <a href="https://www.yammer.com/yammer-inc.com/users/averbeek" rel="nofollow'
        ' noopener noreferrer">@Anna Verbeek</a> kijk je mee? <a href="https://www.yammer.com/yammer-inc.com/topics/'
        '9001" rel="nofollow noopener noreferrer">#opening</a></p>')
    unknown = message_to_message(item, References())
    assert unknown.html == "<p>Het nieuwe stadhuis is open! @67 kijk je mee? #9001</p>"


def test_scripts_in_the_rich_body_are_dropped():
    message = message_to_message(by_id(306), References())
    assert "script" not in message.html and "alert" not in message.html
    assert message.text == by_id(306)["body"]["plain"]


@pytest.mark.parametrize("change, reason", [
    (lambda m: m.update(id=True), "id: expected a Yammer id"),
    (lambda m: m.update(id="abc"), "id: expected a Yammer id"),
    (lambda m: m.update(replied_to_id=-1), "replied_to_id: expected a Yammer id or null"),
    (lambda m: m.update(attachments="none"), "attachments: expected a list of objects"),
    (lambda m: m.update(attachments=[{"type": 5, "web_url": "https://x.example"}]), "attachments[0].type"),
    (lambda m: m.pop("created_at"), "missing 'created_at'"),
])
def test_item_defects_are_named(change, reason):
    item = by_id(303)
    change(item)
    with pytest.raises(_Invalid, match=reason.replace("[", r"\[").replace("]", r"\]")):
        message_to_message(item, References())
