"""The Documenten API endpoints of the double, including the large-file flow and versions.

Small files arrive base64-encoded in ``inhoud`` and are kept in memory. A document created with
``bestandsomvang`` > 0 and no (or an empty) ``inhoud`` goes the large-file way, as in Open Zaak
1.21.0 and the Documenten API 1.4.3 description:

1. ``POST /enkelvoudiginformatieobjecten`` answers 201 with the document locked, its ``lock`` and
   ``bestandsdelen[{url, volgnummer, omvang, voltooid, lock}]``: ``ceil(bestandsomvang /
   part_size)`` parts of ``part_size`` bytes (the last one the rest). ``part_size`` is a double
   setting; Open Zaak's default is 4 GiB, so usually one part.
2. ``PUT /bestandsdelen/{uuid}`` (multipart/form-data: ``inhoud`` file, ``lock``): the lock must be
   that part's lock and the file exactly ``omvang`` bytes, else 400 (``incorrect-lock-id``,
   ``file-size``). A part may be sent again (it replaces the earlier upload). The upload is
   streamed to a file in the state's ``upload_dir`` by the app (never held in memory) and moved
   into place here.
3. ``POST /enkelvoudiginformatieobjecten/{uuid}/unlock {lock}``: with the document's lock and every
   part complete, the parts are joined into one file, the parts are gone (their URLs 404) and
   the document is unlocked (204). The download then streams the whole file.

``part_locks`` decides what each part's ``lock`` is: ``"document"`` (Open Zaak: the document's own
lock on every part) or ``"own"`` (a different lock per part, as some servers do; the unlock still
needs the document's lock, which only the create answer carries).

Editing, as in the API: ``POST .../lock`` gives a lock; ``PUT``/``PATCH`` with that lock make a new
version (``versie`` + 1; a new ``inhoud`` replaces the content, a ``bestandsomvang`` without
``inhoud`` starts a large-file upload of the new version's content); ``unlock`` ends the edit.
Earlier versions stay readable with ``?versie=N`` on the detail and the download. As in Open Zaak,
a ``definitief`` document may be updated only by a client with ``documenten.geforceerd-bijwerken``
(else 400 ``modify-status-definitief``), and unlocked without its lock only by one with
``documenten.geforceerd-unlock``: the double's ``forced`` setting says whether the client has both
(an Open Zaak application with ``heeft_alle_autorisaties`` has). A forced unlock here must send no
lock at all; a wrong lock is refused whatever the rights, so the double never hides a client's
lock mix-up.
"""
from __future__ import annotations

import base64
import binascii
import copy
import datetime as dt
import os
import shutil
import uuid as uuidlib
from pathlib import Path

from .handlers import (_UUID, Call, Reply, _check_rsin, _check_unique, _filtered, _now, lookup,
                       paginate)
from .problems import Problem, invalid, not_found
from .state import CATALOGI, DOCUMENTEN
from .validation import Param

BAD_LOCK = "Lock id is not correct"
#: what a document has for the fields a client did not send
_BLANK = {
    "identificatie": "", "bronorganisatie": "", "creatiedatum": None, "titel": "",
    "vertrouwelijkheidaanduiding": "", "auteur": "", "status": "", "formaat": "", "taal": "",
    "bestandsnaam": "", "link": "", "beschrijving": "", "ontvangstdatum": None,
    "verzenddatum": None, "indicatieGebruiksrecht": None, "verschijningsvorm": "",
    "ondertekening": None, "integriteit": None, "trefwoorden": []}
#: fields a PUT/PATCH may not change (the server keeps them)
_SERVER_FIELDS = ("url", "versie", "beginRegistratie", "locked", "bestandsdelen", "inhoud", "lock")


def documents_list(call: Call) -> Reply:
    return paginate(call, _filtered(call, call.state.documents, {
        "identificatie": ("identificatie", False), "bronorganisatie": ("bronorganisatie", False)}))


def _decode(data: dict) -> bytes | None:
    """The base64 ``inhoud`` of a request, or None when it has none (absent, null or empty)."""
    if not data.get("inhoud"):
        return None
    try:
        return base64.b64decode(data["inhoud"], validate=True)
    except (binascii.Error, ValueError):
        raise invalid(Param("inhoud", "invalid", "Het ingediende bestand is ongeldig."))


def _iotype(call: Call, data: dict) -> dict:
    iot = lookup(call, "informatieobjecttype", data["informatieobjecttype"], CATALOGI,
                 "informatieobjecttypen", call.state.informatieobjecttypen)
    if iot["concept"]:
        raise invalid(Param("informatieobjecttype", "not-published",
                            "Het informatieobjecttype is nog niet gepubliceerd."))
    return iot


def _start_parts(call: Call, uuid: str, document: dict, size: int, lock: str | None = None) -> str:
    """Lock ``document`` (with ``lock`` or a new one) and give it the bestandsdelen of a
    ``size``-byte upload; returns the lock."""
    lock = lock or uuidlib.uuid4().hex
    parts = []
    for number, start in enumerate(range(0, size, call.part_size), start=1):
        part_uuid = str(uuidlib.uuid4())
        part = {"url": f"{DOCUMENTEN}/bestandsdelen/{part_uuid}", "volgnummer": number,
                "omvang": min(call.part_size, size - start), "voltooid": False,
                "lock": lock if call.part_locks == "document" else uuidlib.uuid4().hex}
        call.state.parts[part_uuid] = part
        call.state.part_owner[part_uuid] = uuid
        parts.append(part)
    call.state.locks[uuid] = lock
    document.update(locked=True, bestandsdelen=parts, bestandsomvang=size)
    return lock


def document_create(call: Call) -> Reply:
    data = dict(call.body)
    _check_rsin(data, "bronorganisatie")
    iot = _iotype(call, data)
    content = _decode(data)
    if data.get("identificatie"):
        _check_unique(call, call.state.documents, data)
    else:
        data["identificatie"] = call.state.next_identificatie(
            "DOCUMENT", dt.date.today().year,
            (d["identificatie"] for d in call.state.documents.values()))
    uuid = str(uuidlib.uuid4())
    url = f"{DOCUMENTEN}/enkelvoudiginformatieobjecten/{uuid}"
    large = content is None and bool(data.get("bestandsomvang"))
    document = {
        "url": url, **copy.deepcopy(_BLANK),
        "vertrouwelijkheidaanduiding": iot["vertrouwelijkheidaanduiding"], **data,
        "informatieobjecttype": iot["url"], "versie": 1, "beginRegistratie": _now(),
        "inhoud": f"{url}/download?versie=1", "bestandsomvang": len(content or b""),
        "locked": False, "bestandsdelen": []}
    call.state.documents[uuid] = document
    call.state.content[uuid] = content or b""
    body = document
    if large:
        lock = _start_parts(call, uuid, document, data["bestandsomvang"])
        body = {**document, "lock": lock}   # Open Zaak: the lock comes with the create answer only
    return Reply(201, body, {"Location": call.root + url})


def _version(call: Call, uuid: str) -> tuple[dict, bytes | Path]:
    """The document and content of ``?versie=`` (default: the newest), or 404."""
    document = call.state.documents.get(uuid)
    if document is None:
        raise not_found()
    wanted = call.args.get("versie")
    if wanted is None or int(wanted) == document["versie"]:
        return document, call.state.content[uuid]
    old = call.state.history.get(uuid, {}).get(int(wanted))
    if old is None:
        raise not_found()
    return old


def document_detail(call: Call, uuid: str) -> Reply:
    return Reply(200, _version(call, uuid)[0])


def document_download(call: Call, uuid: str) -> Reply:
    content = _version(call, uuid)[1]
    if isinstance(content, Path):
        return Reply(200, path=content)
    return Reply(200, raw=content)


def _locked_with(call: Call, uuid: str, lock) -> dict:
    document = call.state.documents.get(uuid)
    if document is None:
        raise not_found()
    if not lock or lock != call.state.locks.get(uuid):
        raise invalid(Param("nonFieldErrors", "incorrect-lock-id", BAD_LOCK))
    return document


def bestandsdeel_update(call: Call, uuid: str) -> Reply:
    part = call.state.parts.get(uuid)
    if part is None:
        raise not_found()
    upload = call.files.get("inhoud")
    if upload is None:
        raise invalid(Param("inhoud", "required", "Er is geen bestand opgestuurd."))
    lock = call.form.get("lock")
    if not lock:
        raise invalid(Param("lock", "required", "Dit veld is vereist."))
    if lock != part["lock"]:
        raise invalid(Param("nonFieldErrors", "incorrect-lock-id", BAD_LOCK))
    upload.stream.flush()
    size = os.fstat(upload.stream.fileno()).st_size
    if size != part["omvang"]:
        raise invalid(Param("nonFieldErrors", "file-size",
                            f"Het aangeleverde bestand heeft een andere grootte ({size} bytes) dan"
                            f" het bestandsdeel ({part['omvang']} bytes)."))
    # the app streamed the upload into a file of upload_dir: move it into place (no copy)
    os.replace(upload.stream.name, call.state.upload_dir / f"part-{uuid}")
    part["voltooid"] = True
    return Reply(200, {"url": part["url"], "lock": part["lock"], "omvang": part["omvang"],
                       "voltooid": True, "volgnummer": part["volgnummer"]})


def _join(call: Call, uuid: str, parts: list[dict], versie: int) -> Path:
    """One file from the uploaded parts, in volgnummer order; the part files are gone after."""
    target = call.state.upload_dir / f"document-{uuid}-v{versie}"
    files = [call.state.upload_dir / f"part-{p['url'].rsplit('/', 1)[1]}"
             for p in sorted(parts, key=lambda p: p["volgnummer"])]
    os.replace(files[0], target)
    if len(files) > 1:
        with open(target, "ab") as out:
            for path in files[1:]:
                with open(path, "rb") as part:
                    _append(part, out, path.stat().st_size)
                path.unlink()
    return target


def _append(source, target, size: int) -> None:
    """Copy ``size`` bytes in the kernel where it can (no trip through Python's memory)."""
    try:
        while size:
            copied = os.copy_file_range(source.fileno(), target.fileno(), size)
            if not copied:
                break
            size -= copied
    except (AttributeError, OSError):   # not Linux, or a file system that cannot
        shutil.copyfileobj(source, target, 1 << 20)


def document_unlock(call: Call, uuid: str) -> Reply:
    lock = (call.body or {}).get("lock")
    if not lock and call.forced and uuid in call.state.locks:   # geforceerd unlock
        lock = call.state.locks[uuid]
    document = _locked_with(call, uuid, lock)
    parts = document["bestandsdelen"]
    if not all(p["voltooid"] for p in parts):
        raise invalid(Param("nonFieldErrors", "incomplete-upload",
                            "Het uploaden van de bestandsdelen is niet voltooid."))
    if parts:
        call.state.content[uuid] = _join(call, uuid, parts, document["versie"])
        for part in parts:
            part_uuid = part["url"].rsplit("/", 1)[1]
            call.state.parts.pop(part_uuid, None)
            call.state.part_owner.pop(part_uuid, None)
    document.update(locked=False, bestandsdelen=[])
    call.state.locks.pop(uuid, None)
    return Reply(204)


def document_lock(call: Call, uuid: str) -> Reply:
    document = call.state.documents.get(uuid)
    if document is None:
        raise not_found()
    if document["locked"]:
        raise invalid(Param("nonFieldErrors", "existing-lock", "Het document is al gelockt."))
    lock = uuidlib.uuid4().hex
    call.state.locks[uuid] = lock
    document["locked"] = True
    return Reply(200, {"lock": lock})


def _update(call: Call, uuid: str, partial: bool) -> Reply:
    data = dict(call.body)
    document = _locked_with(call, uuid, data.pop("lock", None))
    if document["status"] == "definitief" and not call.forced:
        raise invalid(Param("nonFieldErrors", "modify-status-definitief",
                            "Een definitief document mag niet bijgewerkt worden."))
    if document["bestandsdelen"]:
        raise invalid(Param("nonFieldErrors", "incomplete-upload",
                            "Het uploaden van de bestandsdelen is niet voltooid."))
    _check_rsin(data, "bronorganisatie")
    if "informatieobjecttype" in data:
        data["informatieobjecttype"] = _iotype(call, data)["url"]
    content = _decode(data)
    history = call.state.history.setdefault(uuid, {})
    history[document["versie"]] = (copy.deepcopy(document), call.state.content[uuid])
    versie = document["versie"] + 1
    url = document["url"]
    for key in _SERVER_FIELDS:
        data.pop(key, None)
    if not partial:   # a PUT replaces every field the client may set
        document.update(copy.deepcopy(_BLANK), vertrouwelijkheidaanduiding=document[
            "vertrouwelijkheidaanduiding"], identificatie=document["identificatie"])
    document.update(data, versie=versie, beginRegistratie=_now(),
                    inhoud=f"{url}/download?versie={versie}")
    if content is not None:
        call.state.content[uuid] = content
        document["bestandsomvang"] = len(content)
    elif data.get("bestandsomvang"):
        call.state.content[uuid] = b""   # until the unlock joins the new parts
        _start_parts(call, uuid, document, data["bestandsomvang"], lock=call.state.locks[uuid])
    return Reply(200, document)


def document_update(call: Call, uuid: str) -> Reply:
    return _update(call, uuid, partial=False)


def document_partial_update(call: Call, uuid: str) -> Reply:
    return _update(call, uuid, partial=True)


_EIO = "/enkelvoudiginformatieobjecten"

#: (method, base path, path pattern below the base, handler)
ROUTES = [
    ("GET", DOCUMENTEN, _EIO, documents_list),
    ("POST", DOCUMENTEN, _EIO, document_create),
    ("GET", DOCUMENTEN, f"{_EIO}/(?P<uuid>{_UUID})", document_detail),
    ("PUT", DOCUMENTEN, f"{_EIO}/(?P<uuid>{_UUID})", document_update),
    ("PATCH", DOCUMENTEN, f"{_EIO}/(?P<uuid>{_UUID})", document_partial_update),
    ("GET", DOCUMENTEN, f"{_EIO}/(?P<uuid>{_UUID})/download", document_download),
    ("POST", DOCUMENTEN, f"{_EIO}/(?P<uuid>{_UUID})/lock", document_lock),
    ("POST", DOCUMENTEN, f"{_EIO}/(?P<uuid>{_UUID})/unlock", document_unlock),
    ("PUT", DOCUMENTEN, f"/bestandsdelen/(?P<uuid>{_UUID})", bestandsdeel_update),
]

__all__ = ["ROUTES", "Problem"]
