"""Facebook posts and comments as messages: the recorded pages through parse_payload and
``connector messages parse`` against expectations written by hand, each item's exact bytes,
and the normaliser's choices on hand-made variants of the recorded items."""
from __future__ import annotations

import json

import pytest

from connector.sources.base import ParseError
from connector.sources.facebook import FacebookSource, comment_to_message, post_to_message

from .conftest import run_cli
from .graph_support import FB, data

RECORDINGS = ["feeds_default_fields_p1", "comments_p1"]


def expected(name: str) -> list[dict]:
    return [json.loads(line) for line in (FB / "expected" / f"{name}.jsonl").read_text(encoding="utf-8").splitlines()]


@pytest.mark.parametrize("name", RECORDINGS)
def test_parse_payload_gives_the_expected_messages(name):
    messages, quarantined = FacebookSource.parse_payload((FB / f"{name}.json").read_bytes())
    assert quarantined == []
    assert [m.to_dict() for m in messages] == expected(name)


@pytest.mark.parametrize("name", RECORDINGS)
def test_messages_parse_command_prints_the_expected_lines(capsys, name):
    code, out, err = run_cli(capsys, "messages", "parse", "facebook", str(FB / f"{name}.json"))
    assert code == 0, err
    assert [json.loads(line) for line in out.splitlines()] == expected(name)


@pytest.mark.parametrize("name", RECORDINGS)
def test_each_message_keeps_its_items_exact_bytes(name):
    body = (FB / f"{name}.json").read_bytes()
    messages, _ = FacebookSource.parse_payload(body)
    for message, item in zip(messages, data(FB / f"{name}.json")):
        assert message.raw.body in body and json.loads(message.raw.body) == item
        assert message.raw.media_type == "application/json"


def test_an_error_body_is_no_page(capsys):
    code, out, err = run_cli(capsys, "messages", "parse", "facebook", str(FB / "error_data.json"))
    assert code == 2 and out == "" and "a Graph API error, not a page: (#100) Object does not exist" in err


def test_a_cut_off_page_is_a_parse_error():
    with pytest.raises(ParseError):
        FacebookSource.parse_payload((FB / "comments_p1.json").read_bytes()[:700])


def test_one_post_or_a_bare_list_parses_too():
    post = data(FB / "feeds_default_fields_p1.json")[0]
    one, _ = FacebookSource.parse_payload(json.dumps(post).encode())
    many, _ = FacebookSource.parse_payload(json.dumps([post, post]).encode())
    assert [m.id for m in one] == [post["id"]] and [m.id for m in many] == [post["id"]] * 2


# -- the normaliser on variants of recorded items --------------------------------------------

def recorded_post(index: int = 0) -> dict:
    return data(FB / "feeds_default_fields_p1.json")[index]


def recorded_comment(index: int = 0) -> dict:
    return data(FB / "comments_p1.json")[index]


def test_from_is_the_author_when_graph_gives_it():
    post = dict(recorded_post(), **{"from": {"name": "Facebook for Developers", "id": "19292868552"}})
    assert post_to_message(post).author.name == "Facebook for Developers"


def test_an_album_gives_each_photo_and_a_video_its_source():
    post = recorded_post()
    photo = post["attachments"]["data"][0]
    video = dict(recorded_post(4)["attachments"]["data"][0])
    video["media"] = dict(video["media"], source="https://video.xx.fbcdn.net/v/t42/clip.mp4?x=1")
    post["attachments"] = {"data": [{"media_type": "album", "subattachments": {"data": [
        dict(photo, description="Het team van Ninja Van"), video]}}]}
    attachments = post_to_message(post).attachments
    assert [(a.url, a.media_type, a.description) for a in attachments] == [
        (photo["media"]["image"]["src"], "image/jpeg", "Het team van Ninja Van"),
        ("https://video.xx.fbcdn.net/v/t42/clip.mp4?x=1", "video/mp4", "")]


def test_older_message_tags_by_offset_and_hashtags_in_the_text():
    post = recorded_post()
    post["message_tags"] = {"30": [{"id": "957138134486129", "name": "Ninja Van Singapore", "type": "page"}]}
    post["message"] = "#Afval en #afval, #Gemeente2022 maar geen&#38; of kleur#rood"
    message = post_to_message(post)
    assert message.mentions == ("957138134486129",) and message.hashtags == ("afval", "gemeente2022")


def test_a_post_without_message_uses_its_story_and_html_is_safe():
    post = {"id": "1_2", "created_time": "2021-08-10T16:05:28+0000", "story": "<script>x</script> updated a photo"}
    message = post_to_message(post)
    assert message.text == post["story"] and "<script" not in message.html and "&lt;script&gt;" in message.html


def test_a_comment_with_graphs_own_id_and_parent():
    comment = {"id": "10158407654328553_1", "message": "Dank je", "created_time": "2021-08-12T10:00:00+0000",
               "from": {"id": "77", "name": "Inwoner"}, "parent": {"id": "10158407654328553_10158407835073553"},
               "permalink_url": recorded_comment()["permalink_url"]}
    message = comment_to_message(comment, post_id="19292868552_10158407654328553")
    assert (message.id, message.in_reply_to, message.thread_id, message.author.id) == \
        ("10158407654328553_1", "10158407654328553_10158407835073553", "19292868552_10158407654328553", "77")


@pytest.mark.parametrize("change, reason", [
    (lambda c: c.pop("permalink_url"), "cannot tell which post"),
    (lambda c: c.update(created_time="yesterday"), "created_time"),
    (lambda c: c.update(parent="10158407835073553"), "parent: expected an object"),
    (lambda c: c.update(id="'; drop table"), "is not a Graph id"),
])
def test_malformed_comment_is_quarantined_with_its_reason(change, reason):
    comment = recorded_comment()
    change(comment)
    page = json.dumps({"data": [recorded_comment(1), comment, recorded_comment(2)]}).encode()
    messages, quarantined = FacebookSource.parse_payload(page)
    assert len(messages) == 2 and len(quarantined) == 1 and reason in quarantined[0].reason
    assert json.loads(quarantined[0].raw) == comment
