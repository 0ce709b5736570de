"""LinkedIn payloads without a network: ``connector messages parse linkedin FILE`` on the recorded
comments page and the derived posts page gives the hand-written expected messages; the "little"
commentary format; item bytes kept exactly."""
from __future__ import annotations

import gzip
import json

import pytest

from connector.sources.base import ParseError
from connector.sources.linkedin import LinkedInSource
from connector.sources.linkedin_item import comment_to_message, post_to_message
from connector.sources.linkedin_text import parse_little

from .conftest import run_cli
from .linkedin_support import FIXTURES, recorded_comments


@pytest.mark.parametrize("name", ["posts_page", "comments_page", "superface_replies_linkedin.recording",
                                  "superface_publishing_profiles_linkedin.recording"])
def test_cli_parse_gives_the_hand_written_messages(capsys, name):
    """Each copied recording and the derived page: ``expected/<name>.jsonl`` (the organization lookups
    of the publishing-profiles recording hold no message)."""
    code, out, err = run_cli(capsys, "messages", "parse", "linkedin", str(FIXTURES / f"{name}.json"))
    assert (code, err) == (0, "")
    expected = (FIXTURES / "expected" / f"{name}.jsonl").read_text("utf-8").splitlines()
    assert [json.loads(line) for line in out.splitlines()] == [json.loads(line) for line in expected]


def test_the_comments_page_is_the_recordings_response():
    recording = json.loads((FIXTURES / "superface_replies_linkedin.recording.json").read_text("utf-8"))
    (calls,) = [c for usecase in recording.values() for c in usecase.values()]
    response = calls[0]["response"]
    if isinstance(response, list):  # nock's hex-encoded gzip body
        response = json.loads(gzip.decompress(bytes.fromhex("".join(response))))
    assert json.loads((FIXTURES / "comments_page.json").read_text("utf-8")) == response
    assert calls[0]["path"].startswith("/v2/socialActions/urn:li:activity:6905096044615405568/comments")


def test_a_recordings_comments_keep_the_recorded_values_and_where_they_came_from():
    data = (FIXTURES / "superface_replies_linkedin.recording.json").read_bytes()
    messages, quarantined = LinkedInSource.parse_payload(data)
    assert quarantined == [] and [json.loads(m.raw.body) for m in messages] == recorded_comments()
    assert {m.raw.page_url for m in messages} == {
        "https://api.linkedin.com:443/v2/socialActions/urn:li:activity:6905096044615405568/comments?count=10&start=0"}


def test_a_recording_with_a_gzip_hex_body_is_read():
    import gzip as gz

    page = (FIXTURES / "posts_page.json").read_bytes()
    recording = {"posts": {"h": [{"scope": "https://api.linkedin.com:443", "method": "GET", "status": 200,
                                  "path": "/rest/posts?q=author", "response": [gz.compress(page).hex()]}]}}
    messages, _ = LinkedInSource.parse_payload(json.dumps(recording).encode())
    assert [m.raw.body for m in messages] == [m.raw.body for m in LinkedInSource.parse_payload(page)[0]]


def test_each_message_keeps_its_elements_exact_bytes():
    data = (FIXTURES / "posts_page.json").read_bytes()
    messages, quarantined = LinkedInSource.parse_payload(data, channel="li")
    assert quarantined == [] and len(messages) == 7
    for message in messages:
        assert message.raw.body in data and json.loads(message.raw.body)["id"] == message.id


def test_one_post_object_parses_too():
    page = json.loads((FIXTURES / "posts_page.json").read_text("utf-8"))
    data = json.dumps(page["elements"][4]).encode()
    messages, quarantined = LinkedInSource.parse_payload(data)
    assert quarantined == [] and [m.id for m in messages] == [page["elements"][4]["id"]]


@pytest.mark.parametrize("data", [b"[]", b'{"paging": {}, "elements": [', b"<html>502</html>", b'"text"'])
def test_what_is_no_linkedin_page_is_a_parse_error(data):
    with pytest.raises(ParseError):
        LinkedInSource.parse_payload(data)


def test_unreadable_element_is_quarantined_and_the_others_kept():
    data = (b'{"paging":{"start":0,"count":10,"total":2},"elements":[{"id":"urn:li:share:1","commentary":"caf\xe9"},'
            + json.dumps(json.loads((FIXTURES / "posts_page.json").read_text())["elements"][0]).encode() + b"]}")
    messages, quarantined = LinkedInSource.parse_payload(data)
    assert len(messages) == 1 and len(quarantined) == 1 and "not valid UTF-8" in quarantined[0].reason


def test_draft_is_no_message():
    post = json.loads((FIXTURES / "posts_page.json").read_text())["elements"][0]
    post["lifecycleState"] = "DRAFT"
    assert LinkedInSource.parse_payload(json.dumps(post).encode()) == ([], [])


def test_nested_comment_replies_to_its_parent_comment():
    comment = json.loads((FIXTURES / "comments_page.json").read_text())["elements"][1]
    parent = "urn:li:comment:(urn:li:activity:6905096044615405568,6930467700934590464)"
    comment["parentComment"] = parent
    message = comment_to_message(comment, post="urn:li:ugcPost:6905096043868655616")
    assert (message.in_reply_to, message.thread_id) == (parent, "urn:li:ugcPost:6905096043868655616")
    assert message.url.startswith("https://www.linkedin.com/feed/update/urn:li:ugcPost:6905096043868655616?")


def test_resolved_media_take_the_download_url():
    post = json.loads((FIXTURES / "posts_page.json").read_text())["elements"][6]
    url = "https://media.licdn.com/dms/image/C4E10AQH7eQ2gm0u1Pg/feedshare-shrink_2048_1536/0/1"
    message = post_to_message(post, resolved={"urn:li:image:C4E10AQH7eQ2gm0u1Pg": url})
    assert [(a.url, a.media_type) for a in message.attachments] == [(url, "image/*")]


# -- little text ------------------------------------------------------------------------------

@pytest.mark.parametrize("little, text, mentions, hashtags", [
    ("plain text", "plain text", (), ()),
    ("\\(a\\) \\[b\\] \\{c\\} \\@d \\#e \\*f \\_g \\~h \\<i\\> \\|j \\\\k", "(a) [b] {c} @d #e *f _g ~h <i> |j \\k", (),
     ()),
    ("Hi @[Devtestco](urn:li:organization:2414183) and @[Eddy](urn:li:person:1234)!", "Hi Devtestco and Eddy!",
     ("urn:li:organization:2414183", "urn:li:person:1234"), ()),
    ("@[Name \\(BV\\)](urn:li:organization:1)", "Name (BV)", ("urn:li:organization:1",), ()),
    ("{hashtag|\\#|LinkedIn} {hashtag|\\#|linkedin} {hashtag|\\#|Wmo2015}", "#LinkedIn #linkedin #Wmo2015", (),
     ("linkedin", "wmo2015")),
    ("@[broken](not-a-urn) {hashtag|x|y} {unclosed", "@[broken](not-a-urn) {hashtag|x|y} {unclosed", (), ()),
    ("trailing backslash \\", "trailing backslash \\", (), ()),
])
def test_little_text(little, text, mentions, hashtags):
    parsed = parse_little(little)
    assert (parsed.text, parsed.mentions, parsed.hashtags) == (text, mentions, hashtags)


def test_little_html_is_escaped_and_links_only_http():
    html = parse_little('<script>x</script> "q" javascript:alert(1) https://ok.example/a?b=1&c=2.\nline').html()
    assert "<script>" not in html and "&lt;script&gt;" in html and "&quot;q&quot;" in html
    assert '<a href="https://ok.example/a?b=1&amp;c=2">' in html and "javascript:alert(1)</a>" not in html
    assert html.startswith("<p>") and "<br>line</p>" in html
    assert parse_little("").html() == ""


def test_comment_text_becomes_safe_html_with_links():
    comment = json.loads((FIXTURES / "comments_page.json").read_text())["elements"][1]
    comment["message"]["text"] = "Zie <b>hier</b>:\nhttps://www.example.nl/a?b=1&c=2"
    message = comment_to_message(comment)
    assert message.text == comment["message"]["text"]
    assert message.html == ('<p>Zie &lt;b&gt;hier&lt;/b&gt;:<br><a href="https://www.example.nl/a?b=1&amp;c=2">'
                            'https://www.example.nl/a?b=1&amp;c=2</a></p>')
