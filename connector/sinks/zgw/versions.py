"""Edits as new versions of the same documents: lock, update, unlock, as the Documenten API keeps them.

An edited message (Mastodon ``edited_at``, an updated feed entry: a new ``Message.version``) is not a
new set of documents. Its files are found by their versionless ``identificatie``
(:func:`.identity.document_identificatie`) and each one whose content changed becomes the next
``versie`` of its document; the earlier version stays retrievable (``?versie=N``). A file the edit
did not change (an image, or the original of a message edited only in another field) gets no new
version. A file new in the edit (a second image) is created and linked as usual.

One update is these memoised steps (``name`` is ``document:<role>``):

``<name>:lock:sent``  a marker saved just before ``POST .../lock``;
``<name>:lock``       the lock taken. A retry whose lock answer was lost (the marker but no lock)
                      meets ``existing-lock``: the lock was its own, so it unlocks by force (the
                      ``documenten.geforceerd-unlock`` scope) and locks again; without the marker
                      the lock is someone else's (a person editing the document in the case
                      system) and the delivery is retried later;
``<name>:update``     ``PATCH`` with the lock and the new content: base64 ``inhoud``, or, above the
                      sink's ``large_file_threshold``, ``bestandsomvang`` without ``inhoud``, after
                      which the parts go up as in :mod:`.large` (``<name>:part:<n>``). A retry of an
                      update whose answer was lost first reads the document: when it already holds
                      this content (``integriteit``), the update happened;
``<name>:unlock``     ``POST .../unlock``, as in :mod:`.large` (a lost answer is read back).

A failure that will not go away by itself (a refused update) releases the lock before it is
reported, so the document does not stay locked for people while an admin looks into it.

Open Zaak refuses to update a ``definitief`` document (400 ``modify-status-definitief``) unless the
client has ``documenten.geforceerd-bijwerken``; the connector creates its documents ``definitief``
(they are received, not drafts), so edits need that scope. Without it the sink reports a
configuration error naming the scope and the alternative: the sink option ``edits: documents``
(each version its own documents, as before).
"""
from __future__ import annotations

import base64
from datetime import datetime, timezone

from ...failures import CONFIGURATION, PERMANENT, RETRY, Failed, Failure
from ...record import RecordFile
from . import large
from .client import has_code

DOCUMENT = "enkelvoudiginformatieobject"


def holds(document: dict, file: RecordFile) -> bool:
    """Does the document (as served) hold exactly ``file``'s content, completely uploaded?"""
    integriteit = document.get("integriteit") or {}
    parts = document.get("bestandsdelen") or []
    return (integriteit.get("algoritme") == "sha_256" and integriteit.get("waarde") == file.sha256
            and document.get("bestandsomvang") == file.size and all(p.get("voltooid") for p in parts))


def new_version(sink, steps, name: str, file: RecordFile, fields: dict, url: str) -> dict:
    """Make ``file`` the newest version of the document at ``url`` (unless it already is).

    ``fields`` are the document's fields as for a create (without ``inhoud``); returns
    ``{url, identificatie, titel, versie}``."""
    result = {"url": url, "identificatie": fields["identificatie"], "titel": fields["titel"]}
    lock = steps.get(f"{name}:lock")
    if lock is None or lock.get("released"):
        current = sink.client.get(url, f"GET {DOCUMENT}")
        if holds(current, file):   # unchanged by the edit, or updated by an attempt that lost its answer
            return {**result, "versie": current.get("versie")}
        lock = _lock(sink, steps, name, url)
    try:
        update = steps.run(f"{name}:update", lambda: _update(sink, steps, name, file, fields, url, lock["lock"]))
        if update.get("parts"):
            created = {"url": url, "lock": lock["lock"], "parts": update["parts"]}
            large.send_parts(sink, steps, name, file, created, fields["bestandsnaam"])
    except Failed as failed:
        if failed.failure.verdict != RETRY:
            _release(sink, steps, name, url, lock)
        raise
    steps.run(f"{name}:unlock", lambda: large.unlock(sink, {"url": url, "lock": lock["lock"]}))
    return {**result, "versie": update.get("versie")}


def _lock(sink, steps, name: str, url: str) -> dict:
    what = f"POST /{DOCUMENT}en/{{uuid}}/lock"
    # an earlier attempt of ours sent a lock whose answer never came back (a released lock is not that one)
    marker, held = steps.get(f"{name}:lock:sent"), steps.get(f"{name}:lock")
    ours = marker is not None and (held is None or held.get("at") != marker.get("at"))
    at = datetime.now(timezone.utc).isoformat()
    steps.save(f"{name}:lock:sent", {"at": at})
    response = sink.client.request("POST", f"{url}/lock", what, json={}, accept=(400,))
    if response.status_code == 400 and has_code(response, "existing-lock"):
        if not ours:
            raise Failed(Failure(RETRY, f"{name}: document {url} is locked by someone else (being edited in the"
                                        " case system?); the new version is added once it is unlocked", url=url))
        forced = sink.client.request("POST", f"{url}/unlock", "POST unlock (geforceerd)", json={},
                                     accept=(400, 403))
        if forced.status_code != 204:
            raise Failed(Failure(PERMANENT, f"{name}: document {url} is still locked by an earlier attempt whose"
                                            " lock answer was lost, and the case system refused to unlock it by"
                                            " force: unlock it in the case system (or grant the connector"
                                            " documenten.geforceerd-unlock) and requeue", url=url,
                                 status=forced.status_code))
        response = sink.client.request("POST", f"{url}/lock", what, json={})
    data = sink.client.created(response, what)
    if not isinstance(data.get("lock"), str) or not data["lock"]:
        raise Failed(Failure(PERMANENT, f"{what}: the answer carries no lock", url=url))
    lock = {"lock": data["lock"], "at": at}
    steps.save(f"{name}:lock", lock)
    return lock


def _update(sink, steps, name: str, file: RecordFile, fields: dict, url: str, lock: str) -> dict:
    what = f"PATCH /{DOCUMENT}en/{{uuid}}"
    if steps.get(f"{name}:update:sent") is not None:   # an earlier PATCH may have gone through
        current = sink.client.get(url, f"GET {DOCUMENT}")
        if (current.get("integriteit") or {}).get("waarde") == file.sha256 \
                and current.get("bestandsomvang") == file.size:
            return _updated(current)
    payload = {**fields, "lock": lock}
    if file.size > sink.options["large_file_threshold"]:
        payload["inhoud"] = None   # the content follows in parts (bestandsdelen)
    else:
        with file.open() as stream:
            payload["inhoud"] = base64.b64encode(stream.read()).decode("ascii")
    steps.save(f"{name}:update:sent", {"at": datetime.now(timezone.utc).isoformat()})
    response = sink.client.request("PATCH", url, what, json=payload, accept=(400,))
    if response.status_code == 400 and has_code(response, "modify-status-definitief"):
        raise Failed(Failure(CONFIGURATION, f"{name}: the case system refuses a new version of the definitief"
                                            f" document {url}: grant the connector's client"
                                            f" ({sink.options['client_id']}) the scope"
                                            " documenten.geforceerd-bijwerken, or set the sink option"
                                            " 'edits: documents' (each edit its own documents)",
                             status=400, url=url))
    return _updated(sink.client.created(response, what))


def _updated(document: dict) -> dict:
    parts = [large._part(p) for p in document.get("bestandsdelen") or []]
    return {"versie": document.get("versie"), **({"parts": parts} if parts else {})}


def _release(sink, steps, name: str, url: str, lock: dict) -> None:
    """Best effort: unlock after a failure that needs an admin (a later attempt locks again)."""
    try:
        response = sink.client.request("POST", f"{url}/unlock", "POST unlock", json={"lock": lock["lock"]},
                                       accept=(400,))
    except Failed:
        return
    if response.status_code == 204:
        steps.save(f"{name}:lock", {"released": True, "at": lock.get("at")})
