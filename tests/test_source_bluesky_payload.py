"""Bluesky posts as messages: the recorded answers through ``parse_payload`` and the CLI against
expected messages written by hand (``fixtures/bluesky/expected/``), totals counted from the
recording, each item's exact bytes, threads, getPosts answers, and rich-text edge cases."""
from __future__ import annotations

import json
from collections import Counter

import pytest

from connector.sources.base import ParseError
from connector.sources.bluesky import BlueskySource
from connector.sources.bluesky_post import feed_item_to_message, rich_text

from .bluesky_support import FIXTURES, recorded_feed
from .conftest import run_cli

EXPECTED = FIXTURES / "expected"


def parsed(name: str):
    return BlueskySource.parse_payload((FIXTURES / name).read_bytes())


def expected(name: str) -> list[dict]:
    return [json.loads(line) for line in (EXPECTED / name).read_text(encoding="utf-8").splitlines()]


def test_the_recorded_thread_post_is_as_expected():
    messages, quarantined = parsed("f_postthread.json")
    assert quarantined == []
    assert [m.to_dict() for m in messages] == expected("f_postthread.jsonl")


def test_a_hand_checked_subset_of_the_recorded_feed_is_as_expected():
    messages, quarantined = parsed("f_autfeed.json")
    assert quarantined == []
    by_id = {m.id: m.to_dict() for m in messages}
    wanted = expected("f_autfeed.jsonl")
    kinds = Counter(w["kind"] for w in wanted)
    assert len(wanted) >= 10 and kinds["share"] and kinds["reply"] and kinds["post"]
    for want in wanted:
        assert by_id[want["id"]] == want, want["id"]


def test_totals_of_the_recorded_feed():
    # counted from the recording (see fixtures/bluesky/ATTRIBUTION.md), not from the source
    messages, _ = parsed("f_autfeed.json")
    assert len(messages) == 50
    assert Counter(m.kind for m in messages) == {"reply": 24, "post": 19, "share": 7}
    assert sum(m.quote is not None for m in messages) == 7
    assert sum(bool(m.attachments) for m in messages) == 11
    assert sum(len(m.attachments) for m in messages) == 20
    assert sum(len(m.hashtags) for m in messages) == 31
    assert sum(len(m.mentions) for m in messages) == 6
    cards = sum(m.html.count("<p>") - (2 if m.kind == "share" else 1) for m in messages)
    assert cards == 15
    assert sum(m.language is None for m in messages) == 1
    assert all(m.in_reply_to and m.thread_id for m in messages if m.kind == "reply")


def test_replies_whose_parent_is_not_found_keep_their_thread_from_the_record():
    feed = recorded_feed()
    messages = {m.id: m for m in parsed("f_autfeed.json")[0]}
    gone = [i for i in feed if (i.get("reply") or {}).get("parent", {}).get("$type", "").endswith("#notFoundPost")]
    assert len(gone) == 3
    for item in gone:
        reply = item["post"]["record"]["reply"]
        message = messages[item["post"]["uri"]]
        assert (message.in_reply_to, message.thread_id) == (reply["parent"]["uri"], reply["root"]["uri"])


def test_each_message_keeps_its_items_exact_bytes():
    data = (FIXTURES / "f_autfeed.json").read_bytes()
    messages, _ = parsed("f_autfeed.json")
    for message, item in zip(messages, recorded_feed()):
        assert message.raw.body in data
        assert json.loads(message.raw.body) == item
        assert message.raw.media_type == "application/json"


@pytest.mark.parametrize("name", ["f_postthread.json", "f_autfeed.json"])
def test_connector_messages_parse_prints_the_expected_messages(capsys, name):
    code, out, err = run_cli(capsys, "messages", "parse", "bluesky", str(FIXTURES / name))
    assert code == 0 and err == ""
    printed = {m["id"]: m for m in map(json.loads, out.splitlines())}
    for want in expected(name.replace(".json", ".jsonl")):
        assert printed[want["id"]] == want


def test_a_nested_thread_reads_parents_post_and_replies_and_skips_missing_nodes():
    messages, quarantined = parsed("derived/thread_nested.json")
    thread = json.loads((FIXTURES / "derived" / "thread_nested.json").read_text(encoding="utf-8"))["thread"]
    assert quarantined == []
    assert [m.id for m in messages] == [thread["parent"]["post"]["uri"], thread["post"]["uri"],
                                        thread["replies"][2]["post"]["uri"]]
    data = (FIXTURES / "derived" / "thread_nested.json").read_bytes()
    for message in messages:
        assert json.loads(message.raw.body)["uri"] == message.id and message.raw.body in data
    record = thread["post"]["record"]["reply"]
    assert (messages[1].kind, messages[1].in_reply_to, messages[1].thread_id) == \
        ("reply", record["parent"]["uri"], record["root"]["uri"])


def test_a_get_posts_answer_is_read():
    messages, quarantined = parsed("derived/getposts.json")
    answer = json.loads((FIXTURES / "derived" / "getposts.json").read_text(encoding="utf-8"))
    assert quarantined == [] and [m.id for m in messages] == [p["uri"] for p in answer["posts"]]
    assert [m.kind for m in messages] == ["post", "reply"]


@pytest.mark.parametrize("data, reason", [
    (b"", "empty"), (b"<html>Bad gateway</html>", "JSON"), (b'[{"post": {}}]', "JSON object"),
    (b'{"feed": [', "truncated"), (b'{"something": []}', "getAuthorFeed"),
])
def test_unreadable_answers_raise_parse_error(data, reason):
    with pytest.raises(ParseError, match=reason):
        BlueskySource.parse_payload(data)


# -- rich text and embeds, on recorded items changed in one respect -----------------------------

def _item(index: int) -> dict:
    return json.loads(json.dumps(recorded_feed()[index]))


def test_byte_offsets_count_utf8_bytes_of_astral_emoji():
    html, tags, mentions = rich_text("🚨 #a 🚨 @x.bsky.social", [
        {"index": {"byteStart": 5, "byteEnd": 7}, "features": [{"$type": "app.bsky.richtext.facet#tag", "tag": "A"}]},
        {"index": {"byteStart": 13, "byteEnd": 27},
         "features": [{"$type": "app.bsky.richtext.facet#mention", "did": "did:plc:x"}]}], {})
    assert tags == ["a"] and mentions == ["x.bsky.social"]
    assert html == ('🚨 <a href="https://bsky.app/hashtag/A">#a</a> 🚨 '
                    '<a href="https://bsky.app/profile/did:plc:x">@x.bsky.social</a>')


@pytest.mark.parametrize("facet", [
    {"index": {"byteStart": 1, "byteEnd": 3}, "features": [{"$type": "app.bsky.richtext.facet#link",
                                                            "uri": "https://x.org"}]},  # inside 🚨
    {"index": {"byteStart": 0, "byteEnd": 99}, "features": [{"$type": "app.bsky.richtext.facet#link",
                                                             "uri": "https://x.org"}]},  # past the end
    {"index": {"byteStart": 5, "byteEnd": 7}, "features": [{"$type": "app.bsky.richtext.facet#link",
                                                            "uri": "javascript:alert(1)"}]},
    {"index": {"byteStart": "5", "byteEnd": 7}, "features": []},
    "not a facet",
])
def test_unusable_facets_leave_the_text_alone(facet):
    html, tags, mentions = rich_text("🚨 <b>#a</b>", [facet], {})
    assert html == "🚨 &lt;b&gt;#a&lt;/b&gt;" and tags == [] and mentions == []


def test_a_mentions_handle_comes_from_the_items_context_first():
    item = _item(0)  # a reply whose parent's author is smachlis.bsky.social
    parent = item["reply"]["parent"]["author"]
    item["post"]["record"]["text"] = "@old-name.example thanks"
    item["post"]["record"]["facets"] = [{"index": {"byteStart": 0, "byteEnd": 17}, "features": [
        {"$type": "app.bsky.richtext.facet#mention", "did": parent["did"]}]}]
    assert feed_item_to_message(item).mentions == (parent["handle"],)


def test_video_quote_of_a_blocked_post_and_labels():
    item = _item(12)
    item["post"]["embed"] = {"$type": "app.bsky.embed.recordWithMedia#view", "media": {
        "$type": "app.bsky.embed.video#view", "cid": "bafkrei", "alt": "a clip",
        "playlist": "https://video.bsky.app/watch/did%3Aplc%3Ax/bafkrei/playlist.m3u8"},
        "record": {"record": {"$type": "app.bsky.embed.record#viewBlocked", "blocked": True,
                              "uri": "at://did:plc:blocked/app.bsky.feed.post/3k2a",
                              "author": {"did": "did:plc:blocked", "viewer": {}}}}}
    item["post"]["labels"] = [{"val": "graphic-media", "src": "did:plc:mod"}]
    message = feed_item_to_message(item)
    assert [(a.url, a.media_type, a.description) for a in message.attachments] == [
        ("https://video.bsky.app/watch/did%3Aplc%3Ax/bafkrei/playlist.m3u8", "application/vnd.apple.mpegurl", "a clip")]
    assert (message.quote.id, message.quote.url, message.quote.text, message.quote.handle) == (
        "at://did:plc:blocked/app.bsky.feed.post/3k2a", "https://bsky.app/profile/did:plc:blocked/post/3k2a", "", "")
    assert message.sensitive is True


def test_an_invalid_handle_gives_a_did_permalink():
    item = _item(12)
    item["post"]["author"]["handle"] = "handle.invalid"
    assert feed_item_to_message(item).url.startswith("https://bsky.app/profile/did:plc:wpe35pganb6d4pg4ekmfy6u5/post/")


def test_a_repost_uses_the_reasons_own_uri_where_the_appview_sends_it():
    item = _item(38)
    item["reason"]["uri"] = "at://did:plc:wpe35pganb6d4pg4ekmfy6u5/app.bsky.feed.repost/3l6t5yaaaaa2x"
    message = feed_item_to_message(item)
    assert (message.id, message.kind, message.thread_id) == (item["reason"]["uri"], "share", item["reason"]["uri"])
