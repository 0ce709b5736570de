"""An export is hostile input: crafted zips and folders cost one item or fail clearly, never more.

Each test builds its hostile archive in ``tmp_path``; nothing is ever extracted to disk.
"""
from __future__ import annotations

import io
import json
import os
import zipfile

import pytest

from connector.exports import ExportError, Limits, open_media, read_export
from connector.exports.container import Export, _Bounded, safe_name
from connector.message import Attachment

from .test_exports import CHANNEL, EXPORT_FIXTURES, read_all, tweet, write_archive

ACCOUNT = ('window.YTD.account.part0 = [{"account": {"accountId": "7", "username": "voorbeeld", '
           '"accountDisplayName": "Voorbeeld"}}]')


def make_zip(path, members: dict[str, bytes]):
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return path


def tweets_js(*items: bytes) -> bytes:
    return b"window.YTD.tweets.part0 = [\n" + b",\n".join(items) + b"\n]"


def item(t: dict) -> bytes:
    return json.dumps({"tweet": t}).encode()


def test_zip_bomb_is_refused_by_its_compression_ratio(tmp_path):
    bomb = make_zip(tmp_path / "bomb.zip", {"data/account.js": ACCOUNT.encode(),
                                             "data/tweets.js": tweets_js() + b" " * (4 * 1024 * 1024)})
    with pytest.raises(ExportError, match=r"data/tweets.js: compressed \d+ bytes inflate to \d+.*zip bomb"):
        list(read_export("x-archive", bomb, CHANNEL))


def test_member_over_the_size_limit(tmp_path):
    archive = make_zip(tmp_path / "a.zip", {"data/account.js": ACCOUNT.encode(),
                                             "data/tweets.js": tweets_js(*(item(tweet(n)) for n in range(5)))})
    with pytest.raises(ExportError, match=r"a\.zip/data/tweets\.js: \d+ bytes, more than the 400 allowed"):
        list(read_export("x-archive", archive, CHANNEL, limits=Limits(max_json_bytes=400)))


def test_a_stream_that_gives_more_than_its_header_said_is_cut_off():
    bounded = _Bounded(io.BytesIO(b"x" * 100), 10, "a.zip/data/tweets.js")
    with pytest.raises(ExportError, match="more bytes than its limit"):
        bounded.read()


def test_too_many_members(tmp_path):
    with pytest.raises(ExportError, match="entries, more than the 3 allowed"):
        Export(EXPORT_FIXTURES / "x-archive.zip", Limits(max_members=3))


@pytest.mark.parametrize("name", ["../data/tweets.js", "/data/tweets.js", "data\\tweets.js", "a/../data/tweets.js",
                                  "data/./tweets.js", "C:/data/tweets.js", "data/tweets.js\n"])
def test_names_that_climb_or_hide_are_never_read(tmp_path, name):
    assert safe_name(name) is None
    archive = make_zip(tmp_path / "a.zip", {"data/account.js": ACCOUNT.encode(), name: tweets_js(item(tweet(1)))})
    with pytest.raises(ExportError, match=r"no data/tweets\.js"):
        list(read_export("x-archive", archive, CHANNEL))


def test_symlink_out_of_the_folder_is_not_followed(tmp_path):
    outside = tmp_path / "secret.js"
    outside.write_bytes(tweets_js(item(tweet(1))))
    data = tmp_path / "export" / "data"
    data.mkdir(parents=True)
    (data / "account.js").write_text(ACCOUNT)
    os.symlink(outside, data / "tweets.js")
    with pytest.raises(ExportError, match=r"no data/tweets\.js"):
        list(read_export("x-archive", tmp_path / "export", CHANNEL))
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (elsewhere / "tweets.js").write_bytes(tweets_js(item(tweet(1))))
    (elsewhere / "account.js").write_text(ACCOUNT)
    (tmp_path / "export2").mkdir()
    os.symlink(elsewhere, tmp_path / "export2" / "data")  # the data folder itself points out
    with pytest.raises(ExportError, match=r"no data/tweets\.js|points outside"):
        list(read_export("x-archive", tmp_path / "export2", CHANNEL))


def test_invalid_utf8_costs_that_tweet_only(tmp_path):
    bad = item(tweet(2, "kapot")).replace(b"kapot", b"kap\xffot")
    archive = make_zip(tmp_path / "a.zip", {"data/account.js": ACCOUNT.encode(),
                                             "data/tweets.js": tweets_js(item(tweet(3)), bad, item(tweet(1)))})
    messages, quarantined = read_all("x-archive", archive)
    assert [m.text for m in messages] == ["bericht 1", "bericht 3"]
    assert len(quarantined) == 1 and quarantined[0].raw == bad
    assert quarantined[0].item_id == tweet(2)["id_str"]
    assert quarantined[0].reason.startswith("not valid UTF-8: byte 0xff")


def test_unparseable_tweet_is_not_named_after_a_mentioned_users_id(tmp_path):
    broken = (b'{"tweet": {"entities": {"user_mentions": [{"id_str": "42", "id": "42"}]}, '
              b'"id_str": "1300000251658240000", "full_text": "geen komma" "created_at": "x"}}')
    folder = write_archive(tmp_path / "a", [])
    (folder / "data" / "tweets.js").write_bytes(tweets_js(item(tweet(1)), broken))
    messages, quarantined = read_all("x-archive", folder)
    assert len(messages) == 1 and quarantined[0].raw == broken
    assert quarantined[0].reason.startswith("not valid JSON: Expecting ',' delimiter")
    assert quarantined[0].item_id == ""


def test_lone_surrogate_nesting_and_a_huge_item_are_quarantined(tmp_path):
    surrogate = item(tweet(2)).replace(b"bericht 2", b"bericht \\udfff")
    deep = b'{"tweet": ' + b"[" * 100_000 + b"]" * 100_000 + b"}"
    huge = item(tweet(4, "x" * (1024 * 1024)))
    folder = tmp_path / "a"
    write_archive(folder, [])
    (folder / "data" / "tweets.js").write_bytes(tweets_js(item(tweet(1)), surrogate, deep, huge, item(tweet(5))))
    messages, quarantined = read_all("x-archive", folder)
    assert [m.text for m in messages] == ["bericht 1", "bericht 5"]
    reasons = sorted(q.reason for q in quarantined)
    assert reasons[0].startswith("full_text: contains a lone surrogate (U+DFFF)")
    assert reasons[1].startswith("item is ") and "more than the 1048576" in reasons[1]
    assert reasons[2] == "nested too deeply to read"


@pytest.mark.parametrize("stamp, reason", [
    ("Wed Feb 30 10:00:00 +0000 2023", "created_at: 'Wed Feb 30 10:00:00 +0000 2023' is not a date like"),
    ("Fri Dec 31 23:59:59 +0000 9999", "created_at: 9999-12-31T23:59:59Z is more than a day after the fetch"),
    ("Sat Jan 01 00:00:00 +0000 1983", "created_at: 1983-01-01T00:00:00Z is before 1990"),
    (None, "missing 'created_at'"),
])
def test_malformed_tweet_dates_are_quarantined_with_a_precise_reason(tmp_path, stamp, reason):
    bad = tweet(2)
    bad["created_at"] = stamp
    messages, quarantined = read_all("x-archive", write_archive(tmp_path / "a", [tweet(1), bad]))
    assert len(messages) == 1 and len(quarantined) == 1
    assert quarantined[0].reason.startswith(reason)
    assert quarantined[0].item_id == bad["id_str"]


@pytest.mark.parametrize("stamp, reason", [
    (10 ** 20, "timestamp: 100000000000000000000 is not a representable unix time"),
    (253402300799, "created_at: 9999-12-31T23:59:59Z is more than a day after the fetch ("),
    (True, "timestamp: expected a unix time in seconds, got True"),
    (None, "missing 'timestamp'"),
])
def test_malformed_facebook_times_are_quarantined(tmp_path, stamp, reason):
    posts = tmp_path / "fb" / "posts"
    posts.mkdir(parents=True)
    items = [{"timestamp": 1600000000, "data": [{"post": "goed"}]}, {"timestamp": stamp, "data": [{"post": "x"}]}]
    (posts / "your_posts_1.json").write_text(json.dumps(items))
    messages, quarantined = read_all("facebook-export", tmp_path / "fb")
    assert [m.text for m in messages] == ["goed"]
    assert len(quarantined) == 1 and quarantined[0].reason.startswith(reason)


@pytest.mark.parametrize("text, reason", [
    (tweets_js(item(tweet(1)))[:-2], "truncated"),
    (tweets_js(item(tweet(1)))[:-20], "unterminated string"),
    (b"alert('hi'); window.YTD.tweets.part0 = []", "expected 'window.YTD.<type>.part0 = [' at the start"),
    (tweets_js(item(tweet(1))) + b"; fetch('https://evil.example')", "extra data after the JSON value"),
    (b"window.YTD.tweets.part0 = {\"tweet\": {}}", "expected a JSON array, found an object"),
    (b"\xff\xfe" + "window.YTD.tweets.part0 = []".encode("utf-16-le"), "expected 'window.YTD"),
])
def test_an_unreadable_tweets_file_is_a_clear_error(tmp_path, text, reason):
    folder = write_archive(tmp_path / "a", [])
    (folder / "data" / "tweets.js").write_bytes(text)
    with pytest.raises(ExportError, match=r"a/data/tweets\.js: .*" + reason.replace("(", r"\(").replace("[", r"\[")):
        list(read_export("x-archive", folder, CHANNEL))


def test_not_a_zip(tmp_path):
    (tmp_path / "x.zip").write_bytes(b"PK\x03\x04 this is no zip at all")
    with pytest.raises(ExportError, match="not a zip file nor a folder"):
        list(read_export("x-archive", tmp_path / "x.zip", CHANNEL))
    with pytest.raises(ExportError, match="no such file or folder"):
        list(read_export("x-archive", tmp_path / "missing.zip", CHANNEL))


def test_medium_over_its_limit(tmp_path):
    attachment = Attachment(url="https://pbs.twimg.com/media/FqAbCdEfGhIjKlM.jpg")
    with pytest.raises(ExportError, match="more than the 10 allowed"):
        open_media(EXPORT_FIXTURES / "x-archive.zip", attachment, limits=Limits(max_media_bytes=10))
