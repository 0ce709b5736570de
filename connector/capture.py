"""Capture log: every exchange with a platform kept in WARC files (ISO 28500), written with warcio.

**Format.** WARC/1.1 (ISO 28500:2017, the current edition; its ``WARC-Date`` has microseconds, so
the exchanges of one second keep their order), uncompressed, as the Nationaal Archief's
web-archiving guideline asks. Each file starts with a ``warcinfo`` record (software, format,
operator); each exchange is a ``request``, a ``response`` and a ``metadata`` record (fetch time,
duration, channel, connector version), the other two ``WARC-Concurrent-To`` the response.

**As received.** The response record holds what came off the connection (status line, headers,
body) before ``requests`` takes off a ``Content-Encoding`` or chunked framing: both stay, declared
by the record's headers, and a WARC reader (warcio's ``content_stream()``) decodes them. The body is
never altered. Header values carrying credentials are masked (``Authorization``, ``Cookie``, what
:mod:`connector.redact` masks); the request record is rebuilt from the prepared request. A body
cut off (size bound, deadline, dropped connection) is marked ``WARC-Truncated``.

**Files.** ``<prefix>-<UTC time>-<pid>-<serial>.warc`` (sortable, unique across processes), written
as ``NAME.warc.open`` under an exclusive ``flock`` and renamed when closed: before an exchange would
take it past ``max_file_bytes`` (a larger exchange gets a file of its own), and when the log closes
(at exit at the latest). So a crash never leaves a file that looks complete. On start, an ``.open``
file whose lock is free keeps its complete records, a record cut off goes to ``NAME.warc.partial``
(no WARC), a ``metadata`` record says so, and the file gets its final name. :class:`WireResponse`
and :class:`Tap` record a connection for :class:`connector.http.Session`.
"""
from __future__ import annotations

import fcntl  # POSIX (the connector runs on Linux): the lock that tells a live writer's file
import http.client
import io
import itertools
import logging
import os
import re
import socket
import threading
import time
import weakref
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

from warcio.statusandheaders import StatusAndHeaders, StatusAndHeadersParser
from warcio.warcwriter import WARCWriter

from . import __version__
from .redact import MASK, redact_text, redact_url

log = logging.getLogger(__name__)

GIB = 1024 ** 3
SOFTWARE = f"midoffice-connector/{__version__}"
OPEN, PARTIAL = ".open", ".partial"
_SECRET_HEADERS = re.compile(rb"^(authorization|proxy-authorization|cookie|set-cookie)[ \t]*:.*$", re.I | re.M)
_CHUNKED_END = re.compile(rb"(?:^|\r\n)0+[ \t]*(?:;[^\r\n]*)?\r\n(?:[^\r\n]+\r\n)*\r\n\Z")
_serial = itertools.count(1)


@dataclass(frozen=True)
class CaptureRef:
    """Where an exchange's response record is: file name, ``WARC-Record-ID``, byte offset."""

    file: str
    record_id: str
    offset: int


@dataclass
class Exchange:
    """One request and its response as they went over the wire (before masking); ``truncated`` is the
    ``WARC-Truncated`` reason, ``""`` when the whole response arrived; ``label`` the channel."""

    target_uri: str
    request_head: bytes
    request_body: bytes = b""
    response_head: bytes = b""
    response_body: bytes = b""
    started_at: datetime = field(default_factory=lambda: datetime.now(timezone.utc))
    duration: float = 0.0
    label: str = ""
    ip: str = ""
    truncated: str = ""


class AsReceived(StatusAndHeaders):
    """HTTP headers written back exactly as given (warcio would re-serialise them)."""

    def __init__(self, head: bytes):
        parsed = StatusAndHeadersParser([], verify=False).parse(io.BytesIO(head))
        super().__init__(parsed.statusline, parsed.headers, parsed.protocol, parsed.total_len)
        self._head = head

    def compute_headers_buffer(self, header_filter=None):
        self.headers_buff = self._head


def mask_head(head: bytes) -> bytes:
    """An HTTP header block without credentials: secret headers' values and secret URL parts masked."""
    head = _SECRET_HEADERS.sub(lambda m: m.group(1) + b": " + MASK.encode(), head)
    return redact_text(head.decode("latin-1")).encode("latin-1")


class CaptureLog:
    """WARC files in ``folder``, shared safely by every thread of a process (see the module docstring)."""

    def __init__(self, folder, max_file_bytes: int = GIB, operator: str = "", prefix: str = "connector"):
        self.folder = Path(folder)
        self.folder.mkdir(parents=True, exist_ok=True)
        self.max_file_bytes, self.operator, self.prefix = int(max_file_bytes), operator, prefix
        self._lock, self._file, self._name, self._warcinfo_id, self._exchanges = threading.Lock(), None, "", "", 0
        self.closed = False
        self.recovered = recover_folder(self.folder)  # .open files left by stopped processes
        self._finalizer = weakref.finalize(self, CaptureLog._close_file, self.__dict__)

    def write(self, exchange: Exchange) -> CaptureRef:
        """Write one exchange (request, response, metadata records); the response record's reference."""
        writer = WARCWriter(None, gzip=False, warc_version="1.1")
        response_id = writer._make_warc_id()
        with self._lock:
            if self.closed:
                raise ValueError("the capture log is closed")
            if self._file is None:
                self._open()
            data, offset = self._serialise(writer, exchange, response_id)
            if self._exchanges and self._file.tell() + len(data) > self.max_file_bytes:
                self._close_file(self.__dict__)
                self._open()
                data, offset = self._serialise(writer, exchange, response_id)
            start = self._file.tell()
            try:
                self._file.write(data)
                self._file.flush()
            except OSError:  # a full disk, say: leave no half exchange for the next one to follow
                self._file.truncate(start)
                self._file.seek(start)
                raise
            self._exchanges += 1
            return CaptureRef(self._name, response_id, start + offset)

    def _serialise(self, writer: WARCWriter, exchange: Exchange, response_id: str) -> tuple[bytes, int]:
        out = io.BytesIO()
        writer.out = out
        uri = redact_url(exchange.target_uri)
        date = exchange.started_at.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
        common = {"WARC-Date": date, "WARC-Warcinfo-ID": self._warcinfo_id}
        if exchange.ip:
            common["WARC-IP-Address"] = exchange.ip
        concurrent = {**common, "WARC-Concurrent-To": response_id}
        request = writer.create_warc_record(
            uri, "request", payload=io.BytesIO(exchange.request_body), length=len(exchange.request_body),
            http_headers=AsReceived(mask_head(exchange.request_head)), warc_headers_dict=concurrent)
        extra = {"WARC-Record-ID": response_id, **common}
        if exchange.truncated:
            extra["WARC-Truncated"] = exchange.truncated
        body, head = exchange.response_body, exchange.response_head
        # cut off before the headers were complete: what came, as a resource record
        response = writer.create_warc_record(
            uri, "response" if head else "resource", payload=io.BytesIO(body), length=len(body),
            http_headers=AsReceived(mask_head(head)) if head else None, warc_headers_dict=extra,
            warc_content_type="" if head else "application/octet-stream")
        fields = {"fetched-at": date, "duration": f"{exchange.duration:.6f} s", "channel": exchange.label,
                  "software": SOFTWARE, "truncated": exchange.truncated,
                  "note": "header values that carry credentials are masked as ***; the body is as received"}
        text = "".join(f"{k}: {v}\r\n" for k, v in fields.items() if v).encode("utf-8")
        metadata = writer.create_warc_record(uri, "metadata", payload=io.BytesIO(text), length=len(text),
                                             warc_content_type="application/warc-fields", warc_headers_dict=concurrent)
        writer.write_record(request)
        offset = out.tell()
        for record in (response, metadata):
            writer.write_record(record)
        return out.getvalue(), offset

    def _open(self) -> None:
        stamp = datetime.now(timezone.utc).strftime("%Y%m%d%H%M%S%f")
        self._name = f"{self.prefix}-{stamp}-{os.getpid()}-{next(_serial):05d}.warc"
        handle = open(self.folder / (self._name + OPEN), "xb")
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)  # held while open: recovery leaves the file alone
        writer = WARCWriter(handle, gzip=False, warc_version="1.1")
        info = {"software": SOFTWARE, "format": "WARC File Format 1.1",
                "conformsTo": "https://iipc.github.io/warc-specifications/specifications/warc-format/warc-1.1/",
                "operator": self.operator, "hostname": socket.gethostname(),
                "description": "API exchanges of the midoffice connector with social-media platforms"}
        record = writer.create_warcinfo_record(self._name, info)
        self._warcinfo_id = record.rec_headers.get_header("WARC-Record-ID")
        writer.write_record(record)
        handle.flush()
        self._file, self._exchanges = handle, 0

    @staticmethod
    def _close_file(state: dict) -> None:
        handle, folder, name = state.get("_file"), state["folder"], state["_name"]
        if handle is None:
            return
        state["_file"] = None
        handle.flush()
        os.fsync(handle.fileno())
        os.rename(folder / (name + OPEN), folder / name)  # complete: only now does it look like one
        handle.close()

    def close(self) -> None:
        """Close the current file (it gets its final name); later writes raise ``ValueError``."""
        with self._lock:
            self.closed = True
            self._close_file(self.__dict__)


def _complete_records_end(data: bytes) -> tuple[int, int]:
    """Where the last complete WARC record ends, and how many complete records there are."""
    end, count = 0, 0
    while True:
        head_end = data.find(b"\r\n\r\n", end)
        match = re.search(rb"^content-length:[ \t]*(\d+)[ \t]*\r?$", data[end:head_end + 2], re.I | re.M)
        if head_end < 0 or not data.startswith(b"WARC/", end) or match is None:
            return end, count
        stop = head_end + 4 + int(match.group(1)) + 4
        if stop > len(data) or data[stop - 4:stop] != b"\r\n\r\n":
            return end, count
        end, count = stop, count + 1


def recover_folder(folder: Path) -> list[Path]:
    """Give every ``.open`` file whose writer is gone its final name, keeping only complete records."""
    done = []
    for path in sorted(folder.glob(f"*.warc{OPEN}")):
        try:
            handle = open(path, "r+b")
        except FileNotFoundError:
            continue  # another process recovered it meanwhile
        with handle:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                continue  # its writer is alive
            if not path.exists():
                continue  # recovered by another process between our open and our lock
            data = handle.read()
            end, count = _complete_records_end(data)
            final = path.with_name(path.name[:-len(OPEN)])
            if end < len(data):
                final.with_name(final.name + PARTIAL).write_bytes(data[end:])
            if count == 0:
                path.unlink()
                continue
            handle.truncate(end)
            handle.seek(end)
            note = (f"recovery: the writer of {final.name} stopped before closing it; {count} complete records kept"
                    + (f", {len(data) - end} bytes of a record cut off moved to {final.name}{PARTIAL}"
                       if end < len(data) else "") + "\r\n").encode("utf-8")
            writer = WARCWriter(handle, gzip=False, warc_version="1.1")
            writer.write_record(writer.create_warc_record("", "metadata", payload=io.BytesIO(note), length=len(note),
                                                          warc_content_type="application/warc-fields"))
            handle.flush()
            os.fsync(handle.fileno())
            os.rename(path, final)
            log.warning("capture log: %s was left open by a stopped process; %s", final.name, note.decode().strip())
            done.append(final)
    return done


_ACTIVE = threading.local()


class Tap:
    """One :class:`~connector.http.Session` call's capture, redirects included (one exchange per hop).

    ``expired`` tells whether the call's deadline cut it off (``WARC-Truncated: time``).
    """

    def __init__(self, log: CaptureLog, label: str, expired=lambda: False):
        self.log, self.label, self.expired = log, label, expired
        self.pending, self.current = None, None

    def request(self, prepared) -> None:
        """The request about to be sent (each hop of a redirect calls this)."""
        self.pending = (prepared, datetime.now(timezone.utc), time.monotonic())

    def open(self, sock, method: str) -> "_Recording | None":
        if self.pending is None:
            return None
        (prepared, started, clock), self.pending = self.pending, None
        try:
            ip = sock.getpeername()[0]
        except (OSError, AttributeError, IndexError):
            ip = ""
        self.current = _Recording(self, prepared, started, clock, ip, method)
        return self.current

    def cut(self, reason: str) -> None:
        if self.current is not None and not self.current.reason:
            self.current.reason = reason

    def __enter__(self):
        _ACTIVE.tap = self

    def __exit__(self, *exc):
        _ACTIVE.tap = None


class _Recording:
    """The bytes of one response as they are read off the connection."""

    def __init__(self, tap: Tap, prepared, started: datetime, clock: float, ip: str, method: str):
        self.tap, self.prepared, self.started, self.clock, self.ip = tap, prepared, started, clock, ip
        self.method, self.data, self.head_end, self.eof = (method or "GET").upper(), bytearray(), -1, False
        self.reason, self.ref, self.done, self._response = "", None, False, None

    def bind(self, response) -> None:
        self._response = weakref.ref(response)
        if self.ref is not None:
            response.capture_ref = self.ref

    def _complete(self, response: http.client.HTTPResponse) -> bool:
        if self.head_end < 0:
            return False
        if self.method == "HEAD" or response.status in (204, 304) or 100 <= response.status < 200:
            return True
        body, declared = self.data[self.head_end:], (response.getheader("Content-Length") or "").strip()
        if response.chunked:
            return bool(_CHUNKED_END.search(body))
        return len(body) >= int(declared) if declared.isdigit() else self.eof

    def finish(self, response: http.client.HTTPResponse) -> None:
        if self.done:
            return
        self.done, prepared, head_end = True, self.prepared, max(self.head_end, 0)
        try:  # a full disk (or a bug here) must be seen, but never cost the poll its answer
            reason = "" if self._complete(response) else (
                self.reason or ("time" if self.tap.expired() else "disconnect" if self.eof else "unspecified"))
            host = prepared.url.split("://", 1)[-1].split("/", 1)[0].rsplit("@", 1)[-1]
            headers = "".join(f"{k}: {v.decode('latin-1') if isinstance(v, bytes) else v}\r\n"
                              for k, v in prepared.headers.items())
            if "host" not in {k.lower() for k in prepared.headers}:
                headers = f"Host: {host}\r\n" + headers
            body = prepared.body.encode("utf-8") if isinstance(prepared.body, str) else prepared.body
            self.ref = self.tap.log.write(Exchange(
                target_uri=prepared.url, request_head=f"{prepared.method} {prepared.path_url} HTTP/1.1\r\n"
                                                      f"{headers}\r\n".encode("latin-1", "replace"),
                request_body=body if isinstance(body, bytes) else b"", response_head=bytes(self.data[:head_end]),
                response_body=bytes(self.data[head_end:]), started_at=self.started,
                duration=time.monotonic() - self.clock, label=self.tap.label, ip=self.ip, truncated=reason))
        except Exception:  # noqa: BLE001
            log.exception("capture log: the exchange with %s could not be written", redact_url(prepared.url))
            return
        if self._response is not None and self._response() is not None:
            self._response().capture_ref = self.ref


class _Tee:
    """The response's file object, copying every byte read into the recording."""

    def __init__(self, fp, recording: _Recording):
        self._fp, self._recording = fp, recording

    def _keep(self, data, asked=None):
        self._recording.eof = self._recording.eof or (not data and asked != 0)
        self._recording.data += data
        return data

    def read(self, amt=None):
        return self._keep(self._fp.read(amt), amt)

    def read1(self, amt=-1):
        return self._keep(self._fp.read1(amt), amt)

    def readline(self, limit=-1):
        return self._keep(self._fp.readline(limit), limit)

    def readinto(self, buffer):
        count = self._fp.readinto(buffer)
        self._keep(bytes(memoryview(buffer)[:count or 0]), len(buffer))
        return count

    def __getattr__(self, name):
        return getattr(self._fp, name)


class WireResponse(http.client.HTTPResponse):
    """``http.client``'s response, recorded when a :class:`Tap` is active on this thread."""

    def __init__(self, sock, *args, **kwargs):
        super().__init__(sock, *args, **kwargs)
        tap = getattr(_ACTIVE, "tap", None)
        self._recording = tap.open(sock, self._method) if tap is not None and self._method != "CONNECT" else None
        if self._recording is not None:
            self.fp = _Tee(self.fp, self._recording)

    def begin(self):
        super().begin()
        if self._recording is not None:
            self._recording.head_end = len(self._recording.data)

    def _close_conn(self):
        super()._close_conn()
        if self._recording is not None:
            self._recording.finish(self)

    def close(self):
        super().close()
        if self._recording is not None:
            self._recording.finish(self)
