"""A SOAP message whose ``inhoud`` is a file base64-encoded while it is sent, never held in memory.

The body is built and validated with a stand-in (a random base64 string) where the content goes;
:class:`StreamedEnvelope` sends the serialised message up to the stand-in, then the file encoded
chunk by chunk, then the rest. ``requests`` sends an iterable with a length as a stream with that
``Content-Length`` (no chunked transfer encoding, which not every SOAP server takes).
"""
from __future__ import annotations

import base64
from typing import Iterator

import requests

from ...http import Session
from ...record import RecordFile

CHUNK = 3 * (1 << 18)   # bytes of the file per block: a multiple of 3, so the blocks' base64 joins up
MIN_UPLOAD_RATE = 1 << 20  # bytes per second a slow WAN still manages: a big document's deadline grows with it


class StreamedEnvelope:
    def __init__(self, data: bytes, stand_in: str, file: RecordFile):
        marker = stand_in.encode("ascii")
        if data.count(marker) != 1:
            raise ValueError("the stand-in for the document's content must occur exactly once")
        self.head, self.tail = data.split(marker)
        self.file = file
        self.encoded = 4 * ((file.size + 2) // 3)

    def __len__(self) -> int:
        return len(self.head) + self.encoded + len(self.tail)

    def __iter__(self) -> Iterator[bytes]:
        yield self.head
        left = self.file.size
        with self.file.open() as stream:
            while left:
                block = stream.read(min(CHUNK, left))
                if not block:
                    raise OSError(f"{self.file.role}: the file ended {left} bytes early (it changed on disk?)")
                left -= len(block)
                yield base64.b64encode(block)
        yield self.tail


def session_for(session: requests.Session, size: int) -> requests.Session | None:
    """A session like ``session`` whose deadline leaves time to send ``size`` bytes, or None when
    the session's own deadline will do (or it has none)."""
    if not isinstance(session, Session):
        return None
    extra = size / MIN_UPLOAD_RATE
    if extra < 1:
        return None
    longer = Session(deadline=session.deadline + extra, timeout=session.timeout, max_body=session.max_body)
    longer.headers.update(session.headers)
    longer.auth, longer.cert, longer.verify = session.auth, session.cert, session.verify
    return longer
