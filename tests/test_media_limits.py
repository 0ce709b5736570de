"""Media within bounds: size (declared, chunked, gzip), time (dripping servers), types, HTTP errors."""
from __future__ import annotations

import hashlib
import socket
import threading
from datetime import datetime, timedelta, timezone

import pytest

from connector.failures import PERMANENT, RATE_LIMITED, RETRY
from connector.media import (MediaPolicy, fetch, sniff)
from connector.message import Attachment
from connector_doubles.drip import DripServer
from .media_support import LIMIT, LOCAL, PNG, fetch_failure, files_in, local_policy
from .media_support import media  # noqa: F401 (fixtures)


# -- size ------------------------------------------------------------------------------------

@pytest.mark.timeout(30)
def test_a_declared_oversize_medium_is_refused_at_once_with_a_clear_record(media, tmp_path):
    _, server = media
    failure = fetch_failure(Attachment(server.url + "/declares-big.png", "image/png"), local_policy(server), tmp_path)
    assert failure.verdict == PERMANENT and failure.detail == {"reason": "oversize", "limit": LIMIT}
    assert f"larger than max_media_bytes={LIMIT} (it declares 10000000 bytes)" in failure.message
    assert files_in(tmp_path) == []


@pytest.mark.timeout(30)
def test_a_chunked_body_passing_the_bound_is_cut_off_and_its_file_removed(media, tmp_path):
    _, server = media
    url = server.url + f"/chunked.png?size={LIMIT * 3}"
    failure = fetch_failure(Attachment(url, "image/png"), local_policy(server), tmp_path)
    assert failure.detail["reason"] == "oversize"
    assert f"more than {LIMIT} bytes arrived" in failure.message
    assert files_in(tmp_path) == []
    exact = fetch(Attachment(server.url + f"/chunked.png?size={LIMIT}"), local_policy(server), tmp_path)
    assert exact.size == LIMIT  # the bound itself is allowed


@pytest.mark.timeout(30)
def test_a_gzip_bomb_is_counted_after_decompression(media, tmp_path):
    _, server = media
    failure = fetch_failure(Attachment(server.url + "/bomb.png", "image/png"), local_policy(server), tmp_path)
    assert failure.detail["reason"] == "oversize" and files_in(tmp_path) == []


@pytest.mark.timeout(30)
def test_a_compressed_answer_is_stored_as_the_medium_itself(media, tmp_path):
    """Content-Encoding is undone: the file is the PNG its Content-Type names, not gzip bytes."""
    _, server = media
    result = fetch(Attachment(server.url + "/gzipped.png", "image/png"), local_policy(server), tmp_path)
    assert result.path.read_bytes() == PNG and result.sha256 == hashlib.sha256(PNG).hexdigest()


# -- time ------------------------------------------------------------------------------------

@pytest.mark.timeout(30)
def test_a_dripping_body_is_bounded_by_the_deadline(media, tmp_path):
    _, server = media
    failure = fetch_failure(Attachment(server.url + "/drip.png", "image/png"),
                            local_policy(server, deadline=1.0, timeout=5.0), tmp_path)
    assert failure.verdict == RETRY and failure.detail["reason"] == "transport"
    assert "deadline of 1 s" in failure.message
    assert files_in(tmp_path) == []


@pytest.mark.timeout(30)
def test_dripping_headers_are_bounded_by_the_deadline(tmp_path):
    with DripServer("headers", interval=0.05) as server:
        failure = fetch_failure(Attachment(server.url + "/a.png"), local_policy(server, deadline=1.0), tmp_path)
    assert failure.verdict == RETRY and "deadline" in failure.message


@pytest.mark.timeout(30)
def test_a_body_cut_short_is_transient_and_leaves_no_file(tmp_path):
    listener = socket.create_server(("127.0.0.1", 0))
    port = listener.getsockname()[1]

    def serve():
        conn, _ = listener.accept()
        with conn:
            conn.recv(65536)
            conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: image/png\r\nContent-Length: 1000\r\n\r\n" + PNG[:500])

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        policy = MediaPolicy.for_channel(f"http://127.0.0.1:{port}/", trusted_networks=LOCAL)
        failure = fetch_failure(Attachment(f"http://127.0.0.1:{port}/a.png"), policy, tmp_path)
    finally:
        thread.join(5)
        listener.close()
    assert failure.verdict == RETRY and failure.detail["reason"] == "transport"
    assert files_in(tmp_path) == []


# -- types -----------------------------------------------------------------------------------

@pytest.mark.timeout(30)
@pytest.mark.parametrize("path, declared, says", [
    ("/page.html", "image/png", "the server sent text/html, not one of image/, video/, audio/"),
    ("/page.html", "", "the server sent text/html"),
    ("/clip.mp4", "image/*", "the server sent video/mp4, but the message declares image/*"),
    ("/octet?what=html", "", "application/octet-stream holding no type"),
])
def test_a_medium_of_the_wrong_type_is_refused(media, tmp_path, path, declared, says):
    _, server = media
    failure = fetch_failure(Attachment(server.url + path, declared), local_policy(server), tmp_path)
    assert failure.verdict == PERMANENT and failure.detail["reason"] == "wrong_type"
    assert says in failure.message and files_in(tmp_path) == []


@pytest.mark.timeout(30)
def test_a_declared_type_outside_the_families_is_refused_without_a_request(media, tmp_path):
    app, server = media
    failure = fetch_failure(Attachment(server.url + "/report.pdf", "application/pdf"), local_policy(server), tmp_path)
    assert failure.detail["reason"] == "wrong_type" and app.requests == []


@pytest.mark.timeout(30)
def test_octet_stream_holding_an_image_is_stored_with_the_sniffed_type(media, tmp_path):
    _, server = media
    result = fetch(Attachment(server.url + "/octet?what=png", "image/*"), local_policy(server), tmp_path)
    assert result.media_type == "image/png" and result.path.suffix == ".png"


@pytest.mark.parametrize("head, media_type", [
    (b"\xff\xd8\xff\xe0\0\x10JFIF", "image/jpeg"), (b"GIF89a\x01\0", "image/gif"),
    (b"RIFF\0\0\0\0WEBPVP8 ", "image/webp"), (b"\0\0\0\x20ftypisom", "video/mp4"),
    (b"\0\0\0\x1cftypavif", "image/avif"), (b"\x1a\x45\xdf\xa3\x9f", "video/webm"), (b"OggS\0\x02", "audio/ogg"),
    (b"ID3\x04\0", "audio/mpeg"), (b"<!DOCTYPE html>", ""), (b"", ""),
])
def test_sniff(head, media_type):
    assert sniff(head) == media_type


# -- HTTP errors -----------------------------------------------------------------------------

@pytest.mark.timeout(30)
@pytest.mark.parametrize("code", [404, 410, 403])
def test_a_missing_medium_is_permanent(media, tmp_path, code):
    _, server = media
    failure = fetch_failure(Attachment(server.url + f"/status/{code}"), local_policy(server), tmp_path)
    assert failure.verdict == PERMANENT and failure.status == code and failure.retry_at is None
    assert len(failure.detail["body"]) <= 500


@pytest.mark.timeout(30)
def test_a_busy_server_is_transient_with_its_retry_after(media, tmp_path):
    _, server = media
    before = datetime.now(timezone.utc)
    failure = fetch_failure(Attachment(server.url + "/status/503?retry_after=120"), local_policy(server), tmp_path)
    assert failure.verdict == RETRY and failure.status == 503
    assert before + timedelta(seconds=100) < failure.retry_at < before + timedelta(seconds=200)
    limited = fetch_failure(Attachment(server.url + "/status/429?retry_after=60"), local_policy(server), tmp_path)
    assert limited.verdict == RATE_LIMITED and limited.retry_at is not None


