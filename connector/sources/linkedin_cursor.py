"""The LinkedIn cursor's marks (for :mod:`.linkedin`): a ``{"ms", "ids"}`` mark is a point in the
listing's order (``lastModifiedAt`` descending): everything modified before ``ms``, and the ``ids``
modified at ``ms``, lies at or below it. A post's key is ``(lastModifiedAt, urn)``."""
from __future__ import annotations


def above(key, mark: dict | None) -> bool:
    """True for a post key ``(ms, urn)`` above the watermark ``mark`` (``{"ms", "ids"}``)."""
    return mark is None or key[0] > mark["ms"] or (key[0] == mark["ms"] and key[1] not in mark["ids"])


def raise_mark(mark: dict | None, keys) -> dict | None:
    """``mark`` moved up to cover ``keys`` (never down)."""
    for ms, urn in keys:
        if mark is None or ms > mark["ms"]:
            mark = {"ms": ms, "ids": [urn]}
        elif ms == mark["ms"] and urn not in mark["ids"]:
            mark = {"ms": ms, "ids": mark["ids"] + [urn]}
    return mark


def below(key, floor: dict) -> bool:
    """True for a key under the walk's ``floor`` (not yet read by the interrupted walk)."""
    return key[0] < floor["ms"] or (key[0] == floor["ms"] and key[1] not in floor["ids"])


def keys_of(mark: dict | None) -> list:
    return [(mark["ms"], urn) for urn in mark["ids"]] if mark else []
