"""Deterministic identities of what the ZGW sink creates, so a retry can find it again.

``identificatie`` (max 40 characters) is unique per ``bronorganisatie`` for both zaken and
documents, may be chosen by the client, and is a filter on both list endpoints. Deriving it from
the message makes every create idempotent: a retried POST either finds the object with
``GET ?identificatie=`` first or fails with ``identificatie-niet-uniek`` instead of duplicating.

Shape: a short readable prefix (kind + channel) and a hash of the full identity, e.g.
``SOC-D-fosstodon-a-3f9c0e41d2b7a65c8e10``: the prefix tells a records manager where it came
from, the hash keeps it unique and within 40 characters whatever the channel name or id.
"""
from __future__ import annotations

import hashlib
import re

from ...message import Message

PREFIX = "SOC"
_ROLE_CODES = {"rendition": "R", "original": "O", "media": "M"}
_HASH_CHARS = 20  # 80 bits: collisions are not a practical concern for one organisation


def _slug(text: str, size: int) -> str:
    slug = re.sub(r"[^A-Za-z0-9]+", "-", text).strip("-")
    return slug[:size].rstrip("-") or "x"


def _digest(*parts: str) -> str:
    # NUL-separated so ("a", "bc") and ("ab", "c") cannot collide
    return hashlib.sha256("\0".join(parts).encode("utf-8")).hexdigest()[:_HASH_CHARS]


def document_identificatie(message: Message, role: str, per_version: bool = False, late: bool = False) -> str:
    """The ``identificatie`` of the document of ``role`` for this message (<= 40 chars).

    Depends on channel, platform id and role only: an edit (a new ``version``) becomes a new
    version of the same document (:mod:`.versions`), a retry gets the same identificatie.
    ``per_version`` (the sink option ``edits: documents``): the version counts too, so each edit
    gets documents of its own. Either way a first version (``version`` empty) gets the same
    identificatie, the one earlier releases of the connector gave it. ``late``: a version that reached
    the sink after a newer one (archived beside it) gets an identificatie of its own, a first one too.
    """
    version = f"late\0{message.version}" if late else message.version if per_version else ""
    code = _ROLE_CODES.get(role) or _slug(role, 3).upper()
    head = f"{PREFIX}-{code}-"
    room = 40 - len(head) - _HASH_CHARS - 1
    return f"{head}{_slug(message.channel, room)}-{_digest('document', message.channel, message.id, version, role)}"


def zaak_identificatie(message: Message) -> str:
    """The ``identificatie`` of a zaak the sink creates for this message (<= 40 chars).

    Deliberately without ``version``: when an edited version is routed to ``create`` again,
    it lands in the zaak made for the first version instead of opening a second one.
    """
    head = f"{PREFIX}-Z-"
    room = 40 - len(head) - _HASH_CHARS - 1
    return f"{head}{_slug(message.channel, room)}-{_digest('zaak', message.channel, message.id)}"


# ISO 639-1 (what platforms send) to ISO 639-2/B (what the Documenten API wants), for the
# languages a Dutch municipality meets; 639-2/T codes map to their /B twins.
_TAAL = {
    "nl": "dut", "nld": "dut", "en": "eng", "de": "ger", "deu": "ger", "fr": "fre", "fra": "fre",
    "fy": "fry", "es": "spa", "it": "ita", "pt": "por", "pl": "pol", "tr": "tur", "ar": "ara",
    "uk": "ukr", "ru": "rus", "ro": "rum", "ron": "rum", "bg": "bul", "so": "som", "ti": "tir",
    "fa": "per", "fas": "per", "zh": "chi", "zho": "chi", "el": "gre", "ell": "gre", "cs": "cze",
    "ces": "cze", "sk": "slo", "slk": "slo", "hu": "hun", "da": "dan", "sv": "swe", "no": "nor",
    "nb": "nob", "fi": "fin", "id": "ind", "ja": "jpn", "ko": "kor", "hi": "hin", "ur": "urd",
    "ku": "kur", "am": "amh", "hy": "arm", "hye": "arm", "ka": "geo", "kat": "geo", "sq": "alb",
    "sqi": "alb", "mk": "mac", "mkd": "mac", "ms": "may", "msa": "may", "eu": "baq", "eus": "baq",
    "cy": "wel", "cym": "wel", "is": "ice", "isl": "ice", "my": "bur", "mya": "bur", "bo": "tib",
    "bod": "tib", "pap": "pap", "srn": "srn", "li": "lim", "af": "afr", "he": "heb", "vi": "vie",
    "th": "tha", "hr": "hrv", "sr": "srp", "bs": "bos", "sl": "slv", "lt": "lit", "lv": "lav",
    "et": "est", "ca": "cat", "gl": "glg", "ga": "gle", "lb": "ltz", "zu": "zul",
}
DEFAULT_TAAL = "dut"


def taal(language: str | None) -> str:
    """ISO 639-2/B code for a platform language tag (``nl``, ``en-GB``, ``nld``); ``dut`` if unknown."""
    primary = (language or "").strip().lower().replace("_", "-").split("-")[0]
    if primary in _TAAL:
        return _TAAL[primary]
    # an unlisted 3-letter code is passed on as is: most 639-2 codes have no /B-/T split
    if len(primary) == 3 and primary.isascii() and primary.isalpha():
        return primary
    return DEFAULT_TAAL
