"""Reading a platform's JSON item field by field, for every JSON channel: each reader checks the type it
expects and raises :class:`Invalid` (a ``ValueError``) whose text is the quarantine reason, named by
the platform's own field (``account: expected an object, got 'x'``). ``admit()`` turns that into a
quarantined item with its exact bytes; a source never fails a page over one item.
"""
from __future__ import annotations

from datetime import datetime

from ..message import DateOutOfRange, parse_iso


class Invalid(ValueError):
    """An item that cannot be normalised; the text is the quarantine reason."""


def text(obj: dict, name: str, required: bool = False) -> str | None:
    """The string at ``name``; ``None`` when absent (``required``: absent or empty is refused)."""
    value = obj.get(name)
    if value is None:
        if required:
            raise Invalid(f"missing {name!r}")
        return None
    if not isinstance(value, str) or (required and not value):
        raise Invalid(f"{name}: expected a non-empty string, got {value!r}"[:200])
    return value


def iso_date(value: str | None, name: str) -> datetime | None:
    """An ISO 8601 date (``Z`` allowed) as aware UTC, or ``None`` for ``None``."""
    if value is None:
        return None
    try:
        return parse_iso(value)
    except DateOutOfRange as exc:
        raise Invalid(f"{name}: {exc}") from None
    except ValueError:
        raise Invalid(f"{name}: {value[:80]!r} is not an ISO 8601 date") from None


def date(obj: dict, name: str, required: bool = False) -> datetime | None:
    """The ISO 8601 date at ``name`` (see :func:`iso_date`)."""
    return iso_date(text(obj, name, required), name)


def member(obj: dict, name: str, required: bool = True) -> dict:
    """The object at ``name``; absent: refused when ``required``, else ``{}``."""
    value = obj.get(name)
    if value is None and not required:
        return {}
    if not isinstance(value, dict):
        raise Invalid(f"{name}: expected an object, got {value!r}"[:200] if value is not None else f"missing {name!r}")
    return value


def members(obj: dict, name: str, of=dict) -> list:
    """The list at ``name`` whose every element is an ``of`` (objects by default); absent or null: ``[]``."""
    value = obj.get(name) or []
    if not isinstance(value, list) or not all(isinstance(v, of) for v in value):
        raise Invalid(f"{name}: expected a list of {'objects' if of is dict else 'strings'}")
    return value
