"""A deletion on the platform, told to the case system: the ZGW sink's ``report_deletion``.

The documents stay as they are (``definitief``, and an archive record must not change); the fact
goes where the Zaken API keeps facts about a document in a zaak: the ``beschrijving`` of each
zaak-informatieobject the delivery made, set with ``PATCH /zaakinformatieobjecten/{uuid}`` (Zaken
API 1.5.1: "Je mag enkel de gegevens van de relatie bewerken"), and the ``X-Audit-Toelichting``
header, so the case system's audit trail says why it changed. Idempotent: the same text is set
again when an answer was lost; a link that is gone is skipped.
"""
from __future__ import annotations

from ...message import Message, parse_iso
from ...rendition import format_datetime

MAX_BESCHRIJVING = 1000


def deletion_note(deletion: dict) -> str:
    """The Dutch text a records manager reads on the link: when and how the deletion was seen."""
    when = format_datetime(parse_iso(deletion["at"])) if deletion.get("at") else "onbekend"
    note = (f"Verwijderd op het platform (gezien op {when}): {deletion.get('reason') or 'geen reden bekend'}."
            " Het bericht is hier bewaard zoals het was.")
    return note[:MAX_BESCHRIJVING]


def report_deletion(sink, message: Message, deletion: dict, delivered: dict) -> None:
    note = deletion_note(deletion)
    zaak_url = delivered.get("zaak_url") or ""
    for document in delivered.get("documents") or []:
        url = document.get("url") if isinstance(document, dict) else None
        if not (zaak_url and url):
            continue
        link = sink._find_link(zaak_url, url)
        if link is None:
            continue
        sink.client.request("PATCH", link["url"], "PATCH /zaakinformatieobjecten", json={"beschrijving": note},
                            crs=False, headers={"X-Audit-Toelichting": note[:255]})
