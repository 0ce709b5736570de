"""Large files through the Documenten API's large-file flow, streamed from disk.

A file above the sink's ``large_file_threshold`` is not sent as base64 ``inhoud`` (a third more
bytes, and the whole file in memory on both sides). Instead, as the Documenten API (1.1.0 and
later) describes and Open Zaak does it:

1. ``POST /enkelvoudiginformatieobjecten`` with ``bestandsomvang`` and no ``inhoud``: the case
   system answers with the document locked, its ``lock`` and ``bestandsdelen[{url, volgnummer,
   omvang, lock}]`` (Open Zaak: one part per 4 GiB by default);
2. ``PUT`` each part's URL as multipart/form-data (``lock``, ``inhoud``), the part's own ``lock``,
   and exactly ``omvang`` bytes of the file from where the previous part ended; the body is
   produced while it is sent (:class:`PartBody`), never held in memory;
3. ``POST .../unlock {lock}`` with the document's lock: the case system joins the parts.

Memoised like the sink's other steps (``name`` is ``document:<role>``):

``<name>:created``   the create, through the sink's ``_create_once``: a retry whose create answer was
                     lost looks the document up by its identificatie (:func:`find`) instead of
                     creating a second one; a lookup that finds it still locked takes the lock and
                     the parts from it (Open Zaak shows each part's lock, the document's own);
``<name>:part:<n>``  one per part, saved once the case system confirmed it: a retry after a crash
                     between parts sends only the parts not confirmed (a part sent again replaces
                     its earlier upload: ``PUT`` is idempotent);
``<name>:unlock``    the unlock; a retry whose unlock answer was lost gets a 400 (the document is no
                     longer locked) and then reads the document: unlocked without parts means done.
"""
from __future__ import annotations

import uuid
from typing import Iterator
from urllib.parse import urlsplit

import requests

from ...failures import PERMANENT, Failed, Failure
from ...http import Session
from ...record import RecordFile
from .client import has_code

CHUNK = 1 << 20  # bytes read from the file and handed to the socket at a time
# A part upload's deadline: the session's own, plus the part's size at this (slow WAN) rate. The
# deadline bounds a whole call (connect, send, answer); a 4 GiB part would never fit the default.
MIN_UPLOAD_RATE = 1 << 20  # bytes per second


class PartBody:
    """The multipart/form-data body of one bestandsdeel: the field ``lock`` and the file ``inhoud``,
    ``size`` bytes of ``file`` from ``offset``, read chunk by chunk while it is sent.

    ``requests`` sends an iterable with a length as a stream with that ``Content-Length``
    (no chunked transfer encoding, which not every server in front of a case system takes)."""

    def __init__(self, file: RecordFile, offset: int, size: int, lock: str, filename: str):
        boundary = uuid.uuid4().hex
        self.content_type = f"multipart/form-data; boundary={boundary}"
        safe_name = filename.replace('"', "").replace("\r", "").replace("\n", "")
        self.head = (f'--{boundary}\r\nContent-Disposition: form-data; name="lock"\r\n\r\n{lock}\r\n'
                     f'--{boundary}\r\nContent-Disposition: form-data; name="inhoud"; filename="{safe_name}"\r\n'
                     "Content-Type: application/octet-stream\r\n\r\n").encode("utf-8")
        self.tail = f"\r\n--{boundary}--\r\n".encode("ascii")
        self.file, self.offset, self.size = file, offset, size

    def __len__(self) -> int:
        return len(self.head) + self.size + len(self.tail)

    def __iter__(self) -> Iterator[bytes]:
        yield self.head
        left = self.size
        with self.file.open() as stream:
            stream.seek(self.offset)
            while left:
                block = stream.read(min(CHUNK, left))
                if not block:
                    raise OSError(f"{self.file.role}: the file ended {left} bytes early (it changed on disk?)")
                left -= len(block)
                yield block
        yield self.tail


def upload(sink, steps, name: str, file: RecordFile, payload: dict, find_existing) -> dict:
    """Deliver ``file`` as the document ``payload`` describes (its fields, without ``inhoud``);
    returns ``{url, identificatie, titel}``. ``find_existing()`` looks the document up by its
    identificatie (a dict of the document as served, or None)."""
    payload = {**payload, "bestandsomvang": file.size}
    payload.pop("inhoud", None)
    created = sink._create_once(steps, f"{name}:created",
                                lambda: create(sink, payload, find_existing),
                                lambda: found(find_existing(), payload))
    if not created.get("done"):
        send_parts(sink, steps, name, file, created, payload["bestandsnaam"])
        steps.run(f"{name}:unlock", lambda: unlock(sink, created))
    return {"url": created["url"], "identificatie": payload["identificatie"], "titel": payload["titel"]}


def send_parts(sink, steps, name: str, file: RecordFile, created: dict, filename: str) -> None:
    """PUT every part of ``created`` (``{url, lock, parts}``) not yet confirmed, each memoised as
    ``<name>:part:<n>``; parts off the Documenten API's origin or not adding up to the file are refused."""
    parts = sorted(created["parts"], key=lambda p: p["volgnummer"])
    home = _origin(sink.options["documenten_url"])
    for part in parts:  # the JWT goes with every PUT: never to a host the answer names instead
        if _origin(part["url"]) != home or not isinstance(part["omvang"], int) or part["omvang"] < 0:
            raise Failed(Failure(PERMANENT, f"{name}: the case system named a bestandsdeel the connector will"
                                            f" not send to ({part['url']}, {part['omvang']!r} bytes): only parts"
                                            f" on {home} of a whole number of bytes", url=created["url"]))
    total = sum(p["omvang"] for p in parts)
    if total != file.size:
        raise Failed(Failure(PERMANENT, f"{name}: the case system's bestandsdelen of {created['url']} add up"
                                        f" to {total} bytes, the file has {file.size}"))
    offset = 0
    for part in parts:
        if not part.get("voltooid"):
            steps.run(f"{name}:part:{part['volgnummer']}",
                      lambda part=part, offset=offset: put_part(sink, file, part, offset, filename))
        offset += part["omvang"]


def create(sink, payload: dict, find_existing) -> dict:
    url = sink._documenten("enkelvoudiginformatieobjecten")
    what = "POST /enkelvoudiginformatieobjecten (large file)"
    response = sink.client.post(url, what, payload, accept=(400,))
    if response.status_code == 400 and has_code(response, "identificatie-niet-uniek"):
        existing = found(find_existing(), payload)
        if existing is not None:
            return existing
    data = sink.client.created(response, what)
    parts = data.get("bestandsdelen") or []
    if not parts:
        raise Failed(Failure(PERMANENT, f"{what}: the case system gave no bestandsdelen for a document of"
                                        f" {payload['bestandsomvang']} bytes without inhoud", url=data.get("url", "")))
    lock = data.get("lock") or _common_lock(parts)
    if not lock:
        raise Failed(Failure(PERMANENT, f"{what}: the answer carries no lock to unlock {data.get('url')} with"))
    return {"url": data["url"], "lock": lock, "parts": [_part(p) for p in parts]}


def found(document: dict | None, payload: dict) -> dict | None:
    """The create step's result from a document looked up after a lost create answer (None: absent)."""
    if document is None:
        return None
    parts = document.get("bestandsdelen") or []
    if not document.get("locked") or not parts:
        # unlocked: a case system unlocks only once every part is in (Open Zaak checks it)
        return {"url": document["url"], "done": True}
    lock = document.get("lock") or _common_lock(parts)
    if not lock:
        raise Failed(Failure(PERMANENT, f"document {payload['identificatie']} ({document['url']}) is locked by an"
                                        " interrupted upload whose lock only the lost create answer carried;"
                                        " unlock it in the case system (geforceerd unlock) or remove it",
                             url=document["url"]))
    return {"url": document["url"], "lock": lock, "parts": [_part(p) for p in parts]}


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{(parts.hostname or '').lower()}:{parts.port or (443 if parts.scheme == 'https' else 80)}"


def _part(part: dict) -> dict:
    return {"url": part["url"], "volgnummer": part["volgnummer"], "omvang": part["omvang"],
            "lock": part.get("lock", ""), "voltooid": bool(part.get("voltooid"))}


def _common_lock(parts: list[dict]) -> str | None:
    locks = {p.get("lock") for p in parts}
    return locks.pop() if len(locks) == 1 else None


def _session_for(sink, size: int) -> requests.Session | None:
    """A session whose deadline leaves time to send ``size`` bytes (None: the client's own will do)."""
    own = sink.client.session
    if not isinstance(own, Session):
        return None   # a plain requests session has no deadline
    deadline = own.deadline + size / MIN_UPLOAD_RATE
    session = Session(deadline=deadline, timeout=own.timeout, max_body=own.max_body)
    session.headers.update(own.headers)
    return session


def put_part(sink, file: RecordFile, part: dict, offset: int, filename: str) -> dict:
    body = PartBody(file, offset, part["omvang"], part["lock"], filename)
    session = _session_for(sink, part["omvang"])
    try:
        response = sink.client.request("PUT", part["url"], f"PUT /bestandsdelen (part {part['volgnummer']})",
                                       data=body, content_type=body.content_type, session=session)
    finally:
        if session is not None:
            session.close()
    sink.client.body(response, "PUT /bestandsdelen")
    return {"voltooid": True, "omvang": part["omvang"]}


def unlock(sink, created: dict) -> dict:
    what = "POST /enkelvoudiginformatieobjecten/{uuid}/unlock"
    response = sink.client.post(created["url"] + "/unlock", what, {"lock": created["lock"]}, accept=(400,))
    if response.status_code == 400:
        # an earlier attempt's unlock may have gone through with its answer lost: then it is unlocked
        document = sink.client.get(created["url"], "GET enkelvoudiginformatieobject")
        if document.get("locked") or document.get("bestandsdelen"):
            sink.client.created(response, what)   # raises the 400 as its classified failure
    return {"unlocked": True}
