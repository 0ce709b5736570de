"""X posts as messages from saved files: ``connector messages parse x FILE`` on each recording gives
the messages written by hand in ``fixtures/x/expected/``; twarc's JSON lines, compliance events,
malformed files; and the conventions (edits, threads, media) on the recorded pages."""
from __future__ import annotations

import json
from datetime import datetime, timezone

import pytest

from connector.sources.base import ParseError
from connector.sources.x import XSource
from connector.sources.x_tweet import permalink, snowflake_time

from .conftest import run_cli
from .x_support import FIXTURES

RECORDINGS = {  # saved file -> its expected messages, written by hand
    "edited.jsonl": "edited.jsonl",
    "media_tweet.jsonl": "media_tweet.jsonl",
    "timeline_tweets.json": "timeline_tweets.jsonl",
    "tweepy_get_users_tweets.json": "tweepy_get_users_tweets.jsonl",
    "derived/conversation.json": "conversation.jsonl",
}


def expected(name: str) -> list[dict]:
    lines = (FIXTURES / "expected" / name).read_text(encoding="utf-8").splitlines()
    return [json.loads(line) for line in lines if line.strip()]


@pytest.mark.parametrize("recording", RECORDINGS)
def test_parse_cli_gives_the_expected_messages(capsys, recording):
    code, out, _ = run_cli(capsys, "messages", "parse", "x", str(FIXTURES / recording))
    assert code == 0
    got = [json.loads(line) for line in out.splitlines() if line.strip()]
    assert got == expected(RECORDINGS[recording])


@pytest.mark.parametrize("recording", RECORDINGS)
def test_each_raw_is_the_posts_exact_bytes_in_the_file(recording):
    data = (FIXTURES / recording).read_bytes()
    messages, quarantined = XSource.parse_payload(data, channel="x")
    assert quarantined == [] and messages
    for message in messages:
        assert message.raw.body in data and json.loads(message.raw.body)["id"] == (message.version or message.id)
        assert message.channel == "x"


def test_twarc_lines_are_pages_each_with_its_own_includes():
    data = (FIXTURES / "media_tweet.jsonl").read_bytes() + (FIXTURES / "edited.jsonl").read_bytes()
    messages, _ = XSource.parse_payload(data)
    assert [(m.id, m.author.handle) for m in messages] == [("1558553189766631429", "IgorBrigadir"),
                                                          ("1576994746135764992", "wongmjane")]
    assert messages[0].raw.page_url.startswith("https://api.twitter.com/2/tweets?")  # twarc's own record of it


def test_a_broken_line_is_named_by_its_number():
    data = (FIXTURES / "media_tweet.jsonl").read_bytes() + b'{"data": [\n'
    with pytest.raises(ParseError) as caught:
        XSource.parse_payload(data)
    assert caught.value.position == "line 2"


@pytest.mark.parametrize("data", [b"", b"<html>Bad gateway</html>", b"[1, 2]", b'"a string"'])
def test_what_is_no_page_is_a_parse_error(data):
    with pytest.raises(ParseError):
        XSource.parse_payload(data)


def test_partial_errors_are_tolerated_by_parse():
    data = (FIXTURES / "derived" / "conversation.json").read_bytes()
    assert b'"errors"' in data
    messages, quarantined = XSource.parse_payload(data)
    assert len(messages) == 4 and quarantined == []


def test_a_malformed_post_is_quarantined_with_its_bytes_and_the_others_kept():
    recorded = json.loads((FIXTURES / "timeline_tweets.json").read_text(encoding="utf-8"))
    recorded["data"][1]["created_at"] = "2021-02-30T25:61:00.000Z"
    data = json.dumps(recorded).encode()
    messages, [held] = XSource.parse_payload(data)
    assert len(messages) == 4 and held.item_id == recorded["data"][1]["id"]
    assert "created_at" in held.reason and json.loads(held.raw) == recorded["data"][1]


# -- compliance events ------------------------------------------------------------------------

def test_compliance_events_become_deletions():
    now = datetime(2026, 1, 2, tzinfo=timezone.utc)
    deletions = XSource.compliance_deletions((FIXTURES / "tweets_compliance.jsonl").read_bytes(), now)
    assert [(d.id, d.reason) for d in deletions] == [
        ("1170025343920402432", "X compliance event: delete (protected)"),
        ("1170147183095664640", "X compliance event: delete (deactivated)")]
    # the event's own time where it gives one; a batch result's created_at is the post's, not the event's
    assert deletions[0].at == now
    assert deletions[1].at == datetime(2021, 8, 17, 17, 26, 15, 788000, tzinfo=timezone.utc)


def test_compliance_stream_events_and_other_actions():
    data = (b'{"data":{"delete":{"tweet":{"id":"601430178305220608","author_id":"3198576760"},'
            b'"event_at":"2022-12-23T12:34:56.789Z"}}}\n'
            b'{"data":{"tweet_edit":{"tweet":{"id":"1567233994734948354"},"initial_tweet_id":"1567233844205453313"}}}\n')
    [deletion] = XSource.compliance_deletions(data)
    assert deletion.id == "601430178305220608" and deletion.at.year == 2022
    with pytest.raises(ParseError) as caught:
        XSource.compliance_deletions(data + b"{not json\n")
    assert caught.value.position == "line 3"


def test_compliance_file_parses_to_no_messages(capsys):
    code, out, _ = run_cli(capsys, "messages", "parse", "x", str(FIXTURES / "tweets_compliance.jsonl"))
    assert code == 0 and out == ""


# -- conventions on the recorded pages ---------------------------------------------------------

def test_snowflake_times_match_xs_created_at():
    for name in ("timeline_tweets.json", "derived/conversation.json"):
        for tweet in json.loads((FIXTURES / name).read_text(encoding="utf-8"))["data"]:
            made = snowflake_time(tweet["id"])
            assert made.isoformat()[:19] == tweet["created_at"][:19]  # X's created_at drops the milliseconds
    assert snowflake_time("20") is None and snowflake_time("abc") is None


def test_permalinks():
    assert permalink("1", "TwitterDev") == "https://x.com/TwitterDev/status/1"
    assert permalink("1") == "https://x.com/i/web/status/1"


def test_edited_post_without_its_original_included_is_dated_by_the_originals_id():
    recorded = json.loads((FIXTURES / "edited.jsonl").read_text(encoding="utf-8").splitlines()[0])
    recorded["includes"].pop("tweets")
    [message], _ = XSource.parse_payload(json.dumps(recorded).encode())
    assert message.id == "1576994746135764992"
    assert message.created_at == snowflake_time("1576994746135764992")
    assert message.edited_at == datetime(2022, 10, 3, 17, 57, 11, tzinfo=timezone.utc)


def test_a_reply_to_an_edited_post_names_the_original():
    recorded = json.loads((FIXTURES / "edited.jsonl").read_text(encoding="utf-8").splitlines()[0])
    reply = dict(recorded["data"][0], id="1576995000000000000", edit_history_tweet_ids=["1576995000000000000"],
                 referenced_tweets=[{"type": "replied_to", "id": "1576994789110992896"}],
                 conversation_id="1576994789110992896", created_at="2022-10-03T17:58:00.000Z")
    recorded["data"] = [reply]
    [message], _ = XSource.parse_payload(json.dumps(recorded).encode())
    assert (message.kind, message.in_reply_to, message.thread_id) == ("reply", "1576994746135764992",
                                                                      "1576994746135764992")


def test_a_long_post_is_read_whole_from_note_tweet():
    recorded = json.loads((FIXTURES / "edited.jsonl").read_text(encoding="utf-8").splitlines()[0])
    long_text = "A long announcement #Gemeente " + "with many words " * 30 + "https://t.co/AbC123xyz0"
    post = dict(recorded["data"][0], note_tweet={"text": long_text, "entities": {
        "hashtags": [{"start": 20, "end": 29, "tag": "Gemeente"}],
        "urls": [{"url": "https://t.co/AbC123xyz0", "expanded_url": "https://example.org/news",
                  "display_url": "example.org/news"}]}})
    recorded["data"] = [post]
    [message], _ = XSource.parse_payload(json.dumps(recorded).encode())
    assert message.text == long_text.replace("https://t.co/AbC123xyz0", "https://example.org/news")
    assert message.hashtags == ("gemeente",)
    assert message.html.endswith('<a href="https://example.org/news" rel="nofollow noopener noreferrer">'
                                 'example.org/news</a></p>')


def test_html_escapes_what_x_sends_and_links_only_http():
    recorded = json.loads((FIXTURES / "media_tweet.jsonl").read_text(encoding="utf-8").splitlines()[0])
    post = dict(recorded["data"][0], text="a &lt;b&gt; &amp; <script>x</script> https://t.co/Xy12",
                entities={"urls": [{"url": "https://t.co/Xy12", "expanded_url": "javascript:alert(1)",
                                    "display_url": "click"}]})
    recorded["data"] = [post]
    [message], _ = XSource.parse_payload(json.dumps(recorded).encode())
    assert message.text == "a <b> & <script>x</script> javascript:alert(1)"
    assert "<script>" not in message.html and "javascript:" not in message.html
    assert message.html.startswith("<p>a &lt;b&gt; &amp; &lt;script&gt;")


def test_a_malformed_included_post_does_not_cost_the_post_that_references_it():
    derived = json.loads((FIXTURES / "derived" / "conversation.json").read_text(encoding="utf-8"))
    for included in derived["includes"]["tweets"]:
        included.update(entities={"urls": "not a list"}, created_at="yesterday")
    messages, quarantined = XSource.parse_payload(json.dumps(derived).encode())
    assert len(messages) == 4 and quarantined == []
    quote = next(m for m in messages if m.quote)
    assert quote.quote.id == "1364275610764201984" and quote.quote.text == ""


def test_a_retweet_carries_the_retweeted_posts_media():
    recorded = json.loads((FIXTURES / "media_tweet.jsonl").read_text(encoding="utf-8").splitlines()[0])
    video = recorded["data"][0]
    retweet = {"id": "1558600000000000000", "author_id": "495430242", "created_at": "2022-08-13T23:43:00.000Z",
               "edit_history_tweet_ids": ["1558600000000000000"], "conversation_id": "1558600000000000000",
               "text": "RT @IgorBrigadir: She's GOING with it! 🐍 https://t.co/uXqSAGWkWJ",
               "referenced_tweets": [{"type": "retweeted", "id": video["id"]}]}
    recorded["data"] = [retweet]
    [message], _ = XSource.parse_payload(json.dumps(recorded).encode())
    assert message.kind == "share" and message.text.startswith("RT @IgorBrigadir: She's GOING with it!")
    assert [a.media_type for a in message.attachments] == ["video/mp4"]
    assert message.in_reply_to is None and message.thread_id == retweet["id"]
