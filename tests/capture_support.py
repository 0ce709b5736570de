"""What the capture-log tests share: warcio readers, a local server that answers gzip and chunked, its fixture."""
from __future__ import annotations

import gzip
import subprocess
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from warcio.archiveiterator import ArchiveIterator



TOKEN = "masto-token-0123456789-secret"
FEED_KEY = "feed-key-9876543210-secret"


def warcio_check(path: Path) -> subprocess.CompletedProcess:
    """The ``warcio check`` command line on one file (exit 0: every record and digest is sound)."""
    script = Path(sys.executable).parent / "warcio"
    command = [str(script)] if script.exists() else [sys.executable, "-c", "from warcio.cli import main; main()"]
    return subprocess.run(command + ["check", "-v", str(path)], capture_output=True, text=True, timeout=120)


def records(path: Path) -> list[tuple[str, str, int, dict]]:
    """(type, record id, offset, headers) of every record in a file."""
    found = []
    with open(path, "rb") as handle:
        iterator = ArchiveIterator(handle)
        for record in iterator:
            record.content_stream().read()
            found.append((record.rec_type, record.rec_headers.get_header("WARC-Record-ID"),
                          iterator.get_record_offset(), dict(record.rec_headers.headers)))
    return found


def record_at(folder: Path, file: str, offset: int):
    """The record at ``offset`` of ``file``: (its id, its type, its payload decoded as a WARC reader does)."""
    with open(folder / file, "rb") as handle:
        handle.seek(offset)
        record = next(iter(ArchiveIterator(handle)))
        return record.rec_headers.get_header("WARC-Record-ID"), record.rec_type, record.content_stream().read()



# -- the wire: bytes as received -------------------------------------------------------------------

BODY = b'[{"id":"1","content":"caf\xc3\xa9"}]'


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def do_GET(self):
        if self.path.startswith("/gzip"):
            packed = gzip.compress(BODY)
            self.send_response(200)
            self.send_header("Content-Encoding", "gzip")
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            for i in range(0, len(packed), 7):
                self.wfile.write(b"%x\r\n" % len(packed[i:i + 7]) + packed[i:i + 7] + b"\r\n")
            self.wfile.write(b"0\r\n\r\n")
        elif self.path.startswith("/big"):
            self.send_response(200)
            self.send_header("Content-Length", str(200_000))
            self.end_headers()
            self.wfile.write(b"x" * 200_000)
        else:
            self.send_response(200)
            self.send_header("Content-Length", str(len(BODY)))
            self.end_headers()
            self.wfile.write(BODY)


@pytest.fixture
def local():
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    server.server_close()


