"""A captured web page as one WARC/1.1 file (ISO 28500:2017), written and read with warcio.

Written by :func:`write_warc`, in this order:

* a ``warcinfo`` record: software, format, the page, the channel;
* per exchange (each redirect hop of the page, the page, the oEmbed answer, each resource kept):
  a ``request`` record and a ``response`` record (``WARC-Concurrent-To`` it), with
  ``WARC-Target-URI``, ``WARC-Date`` (microseconds) and ``WARC-IP-Address``. The response record
  holds what came off the connection: status line, headers and body as received (a
  ``Content-Encoding`` or chunked framing stays, declared by the headers; a WARC reader such as
  warcio's ``content_stream()`` undoes them). Header values that carry credentials
  (``Cookie``, ``Set-Cookie``, ``Authorization``) are masked as ``***``;
* one ``metadata`` record (``application/warc-fields``, ``WARC-Refers-To`` the page's response):
  the page, its final URL, the oEmbed URL, each resource kept and each one skipped, with why.

:func:`read_warc` reads any WARC (gzipped per record or not) back into its response records and
the fields of its metadata records; :class:`~connector.sources.base.ParseError` for anything else.
"""
from __future__ import annotations

import io
from dataclasses import dataclass, field
from datetime import datetime, timezone

from warcio.archiveiterator import ArchiveIterator
from warcio.exceptions import ArchiveLoadFailed
from warcio.warcwriter import WARCWriter

from ..capture import SOFTWARE, Exchange, AsReceived, mask_head
from ..message import parse_iso
from .base import ParseError

WARC_TYPE = "application/warc"
MAX_FIELD = 2000


def _date(when: datetime) -> str:
    return when.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _field(value: str) -> str:
    """One line of a warc-fields value: no line breaks, bounded."""
    text = " ".join(str(value).split())
    return text if len(text) <= MAX_FIELD else text[:MAX_FIELD - 1] + "…"


def write_warc(exchanges: list[Exchange], *, page_url: str, final_url: str, channel: str, captured_at: datetime,
               oembed_url: str = "", kept: list[tuple[str, str]] = (), skipped: list[tuple[str, str]] = (),
               page_index: int = 0) -> bytes:
    """The WARC bytes of one capture (see the module docstring); ``exchanges[page_index]`` is the
    page's own final answer, ``kept`` (URL, what) the resources written, ``skipped`` (URL, why)."""
    out = io.BytesIO()
    writer = WARCWriter(out, gzip=False, warc_version="1.1")
    info = writer.create_warcinfo_record(f"capture-{captured_at.strftime('%Y%m%d%H%M%S')}.warc", {
        "software": SOFTWARE, "format": "WARC File Format 1.1",
        "conformsTo": "https://iipc.github.io/warc-specifications/specifications/warc-format/warc-1.1/",
        "description": _field(f"capture of {page_url} for channel {channel}"), "isPartOf": _field(channel)})
    warcinfo_id = info.rec_headers.get_header("WARC-Record-ID")
    writer.write_record(info)
    page_response = ""
    for position, exchange in enumerate(exchanges):
        response_id = writer._make_warc_id()
        common = {"WARC-Date": _date(exchange.started_at), "WARC-Warcinfo-ID": warcinfo_id}
        if exchange.ip:
            common["WARC-IP-Address"] = exchange.ip
        request = writer.create_warc_record(
            exchange.target_uri, "request", payload=io.BytesIO(exchange.request_body),
            length=len(exchange.request_body), http_headers=AsReceived(mask_head(exchange.request_head)),
            warc_headers_dict={**common, "WARC-Concurrent-To": response_id})
        response = writer.create_warc_record(
            exchange.target_uri, "response", payload=io.BytesIO(exchange.response_body),
            length=len(exchange.response_body), http_headers=AsReceived(mask_head(exchange.response_head)),
            warc_headers_dict={"WARC-Record-ID": response_id, **common})
        writer.write_record(request)
        writer.write_record(response)
        if position == page_index:
            page_response = response_id
    fields = [("page", page_url), ("final-url", final_url), ("captured-at", _date(captured_at)),
              ("channel", channel), ("software", SOFTWARE)]
    if oembed_url:
        fields.append(("oembed", oembed_url))
    fields += [("resource", f"{url} ({what})") for url, what in kept]
    fields += [("skipped", f"{url} ({why})") for url, why in skipped]
    fields.append(("note", "header values that carry credentials are masked as ***; bodies are as received"))
    text = "".join(f"{name}: {_field(value)}\r\n" for name, value in fields if value).encode("utf-8")
    extra = {"WARC-Date": _date(captured_at), "WARC-Warcinfo-ID": warcinfo_id}
    if page_response:
        extra["WARC-Refers-To"] = page_response
    metadata = writer.create_warc_record(page_url, "metadata", payload=io.BytesIO(text), length=len(text),
                                         warc_content_type="application/warc-fields", warc_headers_dict=extra)
    writer.write_record(metadata)
    return out.getvalue()


@dataclass
class WarcResponse:
    """One response record: its target, date, HTTP status and headers (lower-case names) and body
    with chunked framing and ``Content-Encoding`` undone."""

    uri: str
    date: datetime | None
    record_id: str
    status: int
    headers: dict
    body: bytes

    @property
    def media_type(self) -> str:
        return (self.headers.get("content-type") or "").split(";")[0].strip().lower()

    @property
    def charset(self) -> str:
        value = self.headers.get("content-type") or ""
        for part in value.split(";")[1:]:
            name, _, given = part.partition("=")
            if name.strip().lower() == "charset":
                return given.strip().strip('"')
        return ""


@dataclass
class WarcContent:
    responses: list[WarcResponse] = field(default_factory=list)
    metadata: list[tuple[str, str]] = field(default_factory=list)  # (name, value) of every metadata record

    def field(self, name: str) -> str:
        return next((value for key, value in self.metadata if key == name), "")


def read_warc(data: bytes) -> WarcContent:
    """The response records and metadata fields of a WARC file; :class:`ParseError` if it is none."""
    if not (data.startswith(b"WARC/") or data.startswith(b"\x1f\x8b")):
        raise ParseError("not a WARC file (it does not start with a WARC/ version line)", "byte 0")
    content = WarcContent()
    stream = io.BytesIO(data)
    iterator = ArchiveIterator(stream, check_digests=False)
    try:
        for record in iterator:
            kind = record.rec_type
            if kind == "response" and record.http_headers is not None:
                date = record.rec_headers.get_header("WARC-Date") or ""
                try:
                    when = parse_iso(date) if date else None
                except ValueError:
                    when = None
                status = record.http_headers.get_statuscode() or "0"
                headers = {k.lower(): v for k, v in record.http_headers.headers}
                body = record.content_stream().read()
                if getattr(record.raw_stream, "limit", 0) > 0:  # fewer bytes than its Content-Length
                    raise ParseError("the file ends inside a record: cut off", f"byte {iterator.offset}")
                content.responses.append(WarcResponse(
                    uri=record.rec_headers.get_header("WARC-Target-URI") or "", date=when,
                    record_id=record.rec_headers.get_header("WARC-Record-ID") or "",
                    status=int(status) if status.isdigit() else 0, headers=headers, body=body))
            elif kind == "metadata":
                text = record.content_stream().read().decode("utf-8", "replace")
                for line in text.splitlines():
                    name, sep, value = line.partition(":")
                    if sep:
                        content.metadata.append((name.strip().lower(), value.strip()))
    except (ArchiveLoadFailed, ValueError, EOFError, OSError) as exc:
        raise ParseError(f"not a readable WARC file ({exc})"[:300], f"byte {iterator.offset}") from None
    return content
