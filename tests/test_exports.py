"""Importers of platform exports: the fixture archives give the hand-written expected messages.

The expected files (``fixtures/exports/expected/*.jsonl``) were written by hand from the fixture
archives; the zip and folder forms of each must give exactly those messages, quarantine exactly
the listed items, in order, oldest first.
"""
from __future__ import annotations

import hashlib
import json
import re
import shutil
from datetime import datetime, timezone

import pytest

from connector.exports import BATCH_SIZE, EXPORTS, Batch, ExportError, open_media, read_export
from connector.exports.facebook_export import repair
from connector.message import Attachment

from .conftest import FIXTURES

EXPORT_FIXTURES = FIXTURES / "exports"
EXPECTED = EXPORT_FIXTURES / "expected"
CHANNEL = "archief"
KINDS = ("x-archive", "facebook-export")


def read_all(kind, path, **options) -> tuple[list, list]:
    messages, quarantined = [], []
    for batch in read_export(kind, path, CHANNEL, **options):
        assert isinstance(batch, Batch)
        messages += batch.messages
        quarantined += batch.quarantined
    return messages, quarantined


def expected_lines(name: str) -> list[dict]:
    return [json.loads(line) for line in (EXPECTED / name).read_text("utf-8").splitlines() if line.strip()]


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("form", ["folder", "zip"])
def test_fixture_export_gives_the_expected_messages(kind, form):
    path = EXPORT_FIXTURES / (kind if form == "folder" else f"{kind}.zip")
    messages, quarantined = read_all(kind, path)
    assert [m.to_dict() for m in messages] == expected_lines(f"{kind}.jsonl")
    expected_q = expected_lines(f"{kind}.quarantined.jsonl")
    assert [(q.item_id, q.reason, q.page_url) for q in quarantined] == [
        (e["item_id"], e["reason"], e["page_url"].format(label=path.name)) for e in expected_q]


def test_registry_names_both_kinds():
    assert set(EXPORTS) == {"x-archive", "facebook-export"}
    with pytest.raises(ExportError, match="unknown export kind 'myspace'.*facebook-export, x-archive"):
        list(read_export("myspace", EXPORT_FIXTURES / "x-archive", CHANNEL))


def test_x_raw_is_the_tweet_objects_exact_bytes_with_the_archive_date():
    messages, quarantined = read_all("x-archive", EXPORT_FIXTURES / "x-archive.zip")
    text = (EXPORT_FIXTURES / "x-archive" / "data" / "tweets.js").read_bytes()
    for message in messages:
        assert message.raw.body in text or message.id == "1633422306309074944"  # that one is in deleted-tweets.js
        tweet = json.loads(message.raw.body)
        assert tweet["id_str"] == (message.version or message.id)
        assert message.raw.body.startswith(b"{") and message.raw.body.endswith(b"}")
        assert message.raw.media_type == "application/json"
        assert message.raw.fetched_at == datetime(2023, 4, 1, 8, 0, tzinfo=timezone.utc)  # manifest.js
    deleted = next(m for m in messages if m.id == "1633422306309074944")
    assert deleted.raw.page_url == "x-archive:x-archive.zip/data/deleted-tweets.js"
    assert b'"created_at" : "2023-03-07 10:00"' in quarantined[0].raw  # the tweet object, not the wrapper
    assert not quarantined[0].raw.startswith(b'{\n    "tweet"')


def test_facebook_raw_is_the_items_exact_bytes_and_the_id_hashes_them():
    messages, _ = read_all("facebook-export", EXPORT_FIXTURES / "facebook-export")
    posts = (EXPORT_FIXTURES / "facebook-export" / "your_facebook_activity" / "posts"
             / "your_posts__check_ins__photos_and_videos_1.json").read_bytes()
    first = messages[0]
    assert first.raw.body in posts and b"\\u00c3\\u00a9" in first.raw.body  # as written: mojibake kept in raw
    stamp = json.loads(first.raw.body)["timestamp"]
    assert first.id == f"fbexport:{stamp}:{hashlib.sha256(first.raw.body).hexdigest()[:12]}"


def test_edit_is_the_next_version_of_the_original():
    messages, _ = read_all("x-archive", EXPORT_FIXTURES / "x-archive")
    original, edit = messages[0], messages[1]
    assert original.key == (CHANNEL, "1630870491755474944", "")
    assert edit.key == (CHANNEL, "1630870491755474944", "1630875524920274944")
    assert edit.created_at == original.created_at and edit.edited_at > edit.created_at


def test_self_thread_replies_carry_the_root():
    messages, _ = read_all("x-archive", EXPORT_FIXTURES / "x-archive")
    replies = {m.id: m for m in messages if m.kind == "reply"}
    third = replies["1631587717739474944"]
    assert third.in_reply_to == "1631217780126674944"  # the parent's own Message.id
    assert third.thread_id == "1630870491755474944"   # the thread's first tweet, in the same archive
    assert {m.id for m in messages} >= {third.in_reply_to, third.thread_id}


def write_archive(folder, tweets: list[dict], name="tweets.js", account=True):
    data = folder / "data"
    data.mkdir(parents=True, exist_ok=True)
    body = ",\n".join(json.dumps({"tweet": t}, indent=2) for t in tweets)
    (data / name).write_text(f"window.YTD.{name[:-3].split('-')[0]}.part0 = [\n{body}\n]", "utf-8")
    if account:
        (data / "account.js").write_text('window.YTD.account.part0 = [{"account": {"accountId": "7", '
                                         '"username": "voorbeeld", "accountDisplayName": "Voorbeeld"}}]')
    return folder


def tweet(n: int, text: str = "bericht", **more) -> dict:
    stamp = datetime.fromtimestamp(1600000000 + 60 * n, timezone.utc).strftime("%a %b %d %H:%M:%S +0000 %Y")
    return {"id_str": str(1300000000000000000 + n * 4194304 * 60000), "created_at": stamp,
            "full_text": f"{text} {n}", **more}


def test_batches_are_at_most_200_and_oldest_first(tmp_path):
    count = 2 * BATCH_SIZE + 37
    write_archive(tmp_path / "big", [tweet(n) for n in reversed(range(count))])  # newest first, as X writes
    batches = list(read_export("x-archive", tmp_path / "big", CHANNEL))
    assert [len(b.messages) for b in batches] == [BATCH_SIZE, BATCH_SIZE, 37]
    created = [m.created_at for b in batches for m in b.messages]
    assert created == sorted(created) and len(set(created)) == count


def test_batches_are_made_lazily(tmp_path, monkeypatch):
    from connector.exports import x_archive

    calls = []
    normalise = x_archive.tweet_to_message
    monkeypatch.setattr(x_archive, "tweet_to_message", lambda *a, **k: calls.append(1) or normalise(*a, **k))
    write_archive(tmp_path / "big", [tweet(n) for n in range(2 * BATCH_SIZE + 5)])
    batches = read_export("x-archive", tmp_path / "big", CHANNEL)
    assert len(next(batches).messages) == BATCH_SIZE
    assert len(calls) == BATCH_SIZE  # the next batches' tweets are not normalised yet
    batches.close()


def test_older_archive_names_and_parts(tmp_path):
    folder = write_archive(tmp_path / "old", [tweet(2), tweet(1)], name="tweet.js")
    (folder / "data" / "tweet-part1.js").write_text(
        "window.YTD.tweet.part1 = " + json.dumps([{"tweet": tweet(0)}, {"tweet": tweet(3)}]) + ";")
    messages, quarantined = read_all("x-archive", folder)
    assert [m.text for m in messages] == ["bericht 0", "bericht 1", "bericht 2", "bericht 3"]
    assert quarantined == []


def test_wrapper_folder_inside_the_zip(tmp_path):
    shutil.copytree(EXPORT_FIXTURES / "x-archive", tmp_path / "twitter-2023-04-01-abc")
    zipped = shutil.make_archive(str(tmp_path / "wrapped"), "zip", tmp_path, "twitter-2023-04-01-abc")
    messages, _ = read_all("x-archive", zipped)
    assert len(messages) == len(expected_lines("x-archive.jsonl"))
    assert messages[0].raw.page_url == "x-archive:wrapped.zip/twitter-2023-04-01-abc/data/tweets.js"


def test_missing_tweets_js_names_what_was_expected(tmp_path):
    (tmp_path / "empty" / "data").mkdir(parents=True)
    with pytest.raises(ExportError, match=r"no data/tweets\.js \(nor data/tweet\.js.*Download an archive"):
        list(read_export("x-archive", tmp_path / "empty", CHANNEL))


def test_missing_posts_names_what_was_expected(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(ExportError, match=r"no posts file \(your_facebook_activity/posts/.*Download your information"):
        list(read_export("facebook-export", tmp_path / "empty", CHANNEL))


def test_owner_from_the_manifest_when_account_js_is_missing(tmp_path):
    folder = write_archive(tmp_path / "a", [tweet(1)], account=False)
    (folder / "data" / "manifest.js").write_text('window.__THAR_CONFIG = {"userInfo": {"accountId": "9", '
                                                 '"userName": "ander", "displayName": "Ander"}}')
    messages, _ = read_all("x-archive", folder)
    assert (messages[0].author.id, messages[0].author.handle) == ("9", "ander")
    assert messages[0].url == f"https://x.com/ander/status/{messages[0].id}"
    assert messages[0].raw.fetched_at == datetime.fromtimestamp(
        (folder / "data" / "tweets.js").stat().st_mtime, timezone.utc)  # no generationDate: the file's time


def test_no_owner_is_a_clear_error(tmp_path):
    folder = write_archive(tmp_path / "a", [tweet(1)], account=False)
    with pytest.raises(ExportError, match="no data/account.js"):
        list(read_export("x-archive", folder, CHANNEL))


def test_facebook_author_option_and_older_layout(tmp_path):
    posts = tmp_path / "fb" / "posts"
    posts.mkdir(parents=True)
    (posts / "your_posts_1.json").write_text(json.dumps(
        {"status_updates": [{"timestamp": 1500000000, "data": [{"post": "Oude vorm"}]}]}))
    messages, _ = read_all("facebook-export", tmp_path / "fb", author_name="Gemeente X", author_id="42")
    assert [(m.text, m.author.name, m.author.id) for m in messages] == [("Oude vorm", "Gemeente X", "42")]


@pytest.mark.parametrize("posts, comments", [
    ("your_facebook_activity/posts/your_posts__check_ins__photos_and_videos_2.json",
     "your_facebook_activity/comments_and_reactions/comments.json"),
    ("this_profile's_activity_across_facebook/posts/profile_posts_1.json",
     "this_profile's_activity_across_facebook/comments_and_reactions/comments.json"),
    ("posts/your_posts_1.json", "comments/comments.json"),
    ("facebook-gemeente-2024-01-01/posts/your_posts_1.json", "facebook-gemeente-2024-01-01/comments/comments.json"),
])
def test_facebook_layouts(tmp_path, posts, comments):
    for name, body in ((posts, [{"timestamp": 1500000000, "data": [{"post": "Bericht"}]}]),
                       (comments, {"comments": [{"timestamp": 1500000100, "data": [{"comment": {
                           "timestamp": 1500000100, "comment": "Reactie", "author": "Jan"}}]}]})):
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(json.dumps(body))
    messages, quarantined = read_all("facebook-export", tmp_path)
    assert [(m.kind, m.text, m.author.name) for m in messages] == [("post", "Bericht", ""), ("comment", "Reactie", "Jan")]
    assert quarantined == []


@pytest.mark.parametrize("broken, fixed", [
    ("Caf\u00c3\u00a9", "Café"),
    ("\u00f0\u009f\u0098\u008a", "😊"),
    ("\u00e2\u0080\u0093", "–"),
    ("plain ascii", "plain ascii"),
    ("Café", "Café"),        # a genuine é: not UTF-8 when encoded as Latin-1, kept
    ("Zoë – 😊", "Zoë – 😊"),  # beyond Latin-1: not mojibake, kept
    ("\udc00", "\udc00"),     # a lone surrogate is kept (and quarantined by admit)
])
def test_mojibake_is_repaired_only_where_it_round_trips(broken, fixed):
    assert repair(broken) == fixed


@pytest.mark.parametrize("kind, wanted, prefix", [
    ("facebook-export", "fbexport:your_facebook_activity/posts/media/Tijdlijnfotos_8123/fietsbrug_10158.jpg",
     b"\xff\xd8\xff"),
    ("x-archive", "https://pbs.twimg.com/media/FqAbCdEfGhIjKlM.jpg", b"\xff\xd8\xff"),
    ("x-archive", "https://video.twimg.com/ext_tw_video/1632769240000000002/pu/vid/1280x720/"
                  "Vd8kLmNoPqRsTuV0.mp4?tag=12", b"\x00\x00\x00\x18ftyp"),
])
@pytest.mark.parametrize("form", ["folder", "zip"])
def test_open_media_reads_the_file_in_the_export(kind, wanted, prefix, form):
    path = EXPORT_FIXTURES / (kind if form == "folder" else f"{kind}.zip")
    messages, _ = read_all(kind, path)
    attachment = next(a for m in messages for a in m.attachments if a.url == wanted)
    with open_media(path, attachment) as stream:
        assert stream.read().startswith(prefix)


@pytest.mark.parametrize("kind", KINDS)
def test_export_media_opens_every_attachment_from_one_index(kind):
    from connector.exports import ExportMedia

    path = EXPORT_FIXTURES / f"{kind}.zip"
    messages, _ = read_all(kind, path)
    attachments = [a for m in messages for a in m.attachments]
    with ExportMedia(path) as media:
        for attachment in attachments:
            with media.open(attachment) as stream:
                assert len(stream.read()) > 40
    assert len(attachments) == {"x-archive": 2, "facebook-export": 1}[kind]


def test_open_media_of_a_file_not_in_the_export():
    with pytest.raises(ExportError, match="no file for the medium"):
        open_media(EXPORT_FIXTURES / "x-archive.zip", Attachment(url="https://pbs.twimg.com/media/Elders.jpg"))
    with pytest.raises(ExportError, match="no file for the medium"):
        open_media(EXPORT_FIXTURES / "facebook-export", Attachment(url="fbexport:../../etc/passwd"))


def test_deleted_tweets_are_messages_too():
    messages, _ = read_all("x-archive", EXPORT_FIXTURES / "x-archive")
    deleted = [m for m in messages if m.raw.page_url.endswith("/data/deleted-tweets.js")]
    assert [m.id for m in deleted] == ["1633422306309074944"]
    assert re.search(rb'"deleted_at"', deleted[0].raw.body)


def test_a_long_post_takes_its_whole_text_from_note_tweet_js_only_when_unambiguous():
    from connector.exports.x_tweet import long_text

    second = datetime(2023, 3, 9, 9, 0, tzinfo=timezone.utc)
    note = {"text": "Het college heeft besloten: de hele tekst &amp; meer", "urls": []}
    truncated = "Het college heeft besloten: de hele …"
    assert long_text(truncated, second, {second: [note]}) == "Het college heeft besloten: de hele tekst & meer"
    assert long_text(truncated, second, {second: [note, dict(note)]}) == truncated    # two candidates
    assert long_text(truncated, second.replace(second=1), {second: [note]}) == truncated  # another second
    assert long_text("Iets anders", second, {second: [note]}) == "Iets anders"         # another beginning


def test_the_tweet_objects_bytes_are_cut_the_same_fast_or_careful_way():
    from connector.exports import items

    body = items.strip_assignment((EXPORT_FIXTURES / "x-archive" / "data" / "tweets.js").read_bytes(), "t")
    for start, end in items.spans(body, "t"):
        raw = body[start:end]
        inner = items.member_bytes(raw, "tweet")
        assert inner == items.member_bytes(raw, "tweet", sole=True)
        assert inner.startswith(b"{") and inner.endswith(b"}") and raw.index(inner) > 0
    assert items.member_bytes(b'{"\\u0074weet" : {"a": 1} }', "tweet", sole=True) == b'{"a": 1}'
    assert items.member_bytes(b'{"tweet": [1]}', "tweet", sole=True) is None


def test_html_links_only_http_and_leaves_the_sentence_punctuation_out():
    from connector.exports.common import text_html

    html = text_html('Zie https://a.example/b?c=1&d=2. En <script>x</script> javascript:alert(1) (https://e.example)')
    assert '<a href="https://a.example/b?c=1&amp;d=2" rel="nofollow noopener noreferrer">' in html
    assert "</a>. En &lt;script&gt;" in html and "javascript:alert(1)" in html and "<script>" not in html
    assert html.endswith('https://e.example</a>)</p>')
