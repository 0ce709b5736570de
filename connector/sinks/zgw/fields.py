"""ZGW field rules the sink applies to what it sends: lengths, the fields a rule may not set, dates."""
from __future__ import annotations

from datetime import datetime

from ...rendition import AMSTERDAM
from ...record import MEDIA_LABELS, MEDIUM, ORIGINAL
from ...rules.templates import shorten

# Fields a rule may set on a created zaak; the identity fields are the sink's to decide.
CONTROLLED_ZAAK_FIELDS = ("identificatie", "bronorganisatie", "zaaktype")
# ZGW field lengths: Zaken API 1.5.1 Zaak, Documenten API EnkelvoudigInformatieObject,
# Catalogi API 1.3 ZaakType.identificatie and InformatieObjectType.omschrijving.
IDENTIFICATIE_MAX, OMSCHRIJVING_MAX, TOELICHTING_MAX, TITEL_MAX = 40, 80, 1000, 200
ZAAKTYPE_MAX, IOTYPE_MAX = 50, 80
LINK_MAX = 200  # Documenten API EnkelvoudigInformatieObject.link


def local_date(value: datetime) -> str:
    # a message posted at 00:30 in Amsterdam belongs to that Dutch calendar day, not the UTC one
    return value.astimezone(AMSTERDAM).date().isoformat()


def clip(text: str, size: int, suffix: str = "") -> str:
    """One line of at most ``size`` characters, ``suffix`` included, ending in "…" when cut."""
    return shorten(" ".join(text.split()), size - len(suffix)) + suffix


def is_url(ref: str) -> bool:
    return ref.startswith(("http://", "https://"))


def title_suffix(file) -> str:
    """What a document is, after the rule's titel: ``(origineel)``, ``(afbeelding 2)``; the rendition none."""
    if file.role == ORIGINAL:
        return " (origineel)"
    if file.role.startswith(f"{MEDIUM}-"):
        return f" ({MEDIA_LABELS.get(file.format.split('/')[0], 'bijlage')} {file.role.rsplit('-', 1)[1]})"
    return ""


def link(url: str) -> str | None:
    """The message's permalink for a document's ``link`` (an absolute http(s) URL of at most 200 characters,
    as the Documenten API allows), else ``None``: a longer one stays in the rendition and the description."""
    return url if url.startswith(("https://", "http://")) and len(url) <= LINK_MAX else None
