"""A readable, standalone HTML rendition of a :class:`~connector.message.Message`, for previews.

The record archives the PDF/A rendition (:mod:`connector.rendition_pdf`, which takes its labels, rows
and title from here); this HTML one is for previews and a web view: one self-contained HTML5
document (UTF-8, no scripts, no external resources, inline style only) with who wrote what, when,
where, and where the connector got it from. The original platform payload is archived next to it
verbatim; this document only has to be faithful and readable. Labels are in Dutch because the
audience is Dutch.

Everything in a message is treated as hostile: metadata is escaped, links are only made for
``http``/``https`` URLs, the message HTML is sanitised again, and images in it become links so the
document never loads anything from elsewhere (no tracking pixels in the archive).
Where the connector fetched the message from is shown redacted (:func:`connector.redact.redact_url`):
credentials in a channel's URL never reach the archive.
"""
from __future__ import annotations

import html as htmllib
from datetime import datetime
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

import lxml.html

from .htmltext import sanitize
from .message import Message, iso
from .redact import redact_url

AMSTERDAM = ZoneInfo("Europe/Amsterdam")
KIND_LABELS = {"post": "bericht", "reply": "reactie", "share": "gedeeld bericht", "comment": "opmerking"}
#: said wherever the original kept is the whole response (``Raw.scope == "response"``), not the item's own bytes
WHOLE_RESPONSE = ("het bericht kon niet exact uit het antwoord van het platform worden geknipt; "
                  "het origineel is het hele antwoord zoals ontvangen")
_MONTHS = ("januari", "februari", "maart", "april", "mei", "juni", "juli", "augustus", "september",
           "oktober", "november", "december")
_DAYS = ("maandag", "dinsdag", "woensdag", "donderdag", "vrijdag", "zaterdag", "zondag")

# The document loads nothing: a CSP makes that hold even if a sanitiser ever lets something slip.
_CSP = "default-src 'none'; style-src 'unsafe-inline'; img-src data:; base-uri 'none'; form-action 'none'"
_STYLE = """
body { font-family: sans-serif; max-width: 48em; margin: 2em auto; padding: 0 1em; line-height: 1.5; color: #111; }
dl { display: grid; grid-template-columns: max-content auto; gap: .2em 1em; }
dt { font-weight: bold; } dd { margin: 0; overflow-wrap: anywhere; }
.inhoud { border-left: 4px solid #888; padding: .2em 1em; margin: 1em 0; }
.waarschuwing { background: #fff3cd; padding: .5em 1em; }
.herkomst { font-size: .9em; color: #333; border-top: 1px solid #ccc; margin-top: 2em; }
code { overflow-wrap: anywhere; }
"""


def format_datetime(value: datetime | None) -> str:
    """``dinsdag 18 februari 2025 21:38:26 (Europe/Amsterdam), 2025-02-18T20:38:26Z (UTC)``."""
    if value is None:
        return ""
    local = value.astimezone(AMSTERDAM)
    return (f"{_DAYS[local.weekday()]} {local.day} {_MONTHS[local.month - 1]} {local.year} "
            f"{local:%H:%M:%S} (Europe/Amsterdam, {local:%Z}), "
            f"{iso(value.replace(microsecond=0))} (UTC)")


def safe_url(url: str) -> str | None:
    """``url`` if it is an absolute http(s) URL without control characters, else ``None``."""
    if not url or any(ord(c) < 32 or c.isspace() for c in url):
        return None
    try:
        parts = urlsplit(url)
    except ValueError:
        return None
    return url if parts.scheme.lower() in ("http", "https") and parts.netloc else None


def _e(text) -> str:
    return htmllib.escape(str(text), quote=True)


def _link(url: str, label: str | None = None) -> str:
    """A link for a safe URL, otherwise the URL as plain (escaped) text."""
    good = safe_url(url)
    if good is None:
        return f"<code>{_e(url)}</code>"
    return f'<a href="{_e(good)}" rel="nofollow noopener noreferrer">{_e(label or url)}</a>'


def _content_html(message: Message) -> str:
    """The message body as sanitised HTML whose images are links (nothing loads from elsewhere)."""
    cleaned = sanitize(message.html) if message.html else ""
    if not cleaned.strip():
        text = message.text or ""
        return "".join(f"<p>{_e(p)}</p>".replace("\n", "<br>") for p in text.split("\n\n") if p.strip())
    root = lxml.html.fragment_fromstring(cleaned, create_parent="div")
    for img in list(root.iter("img")):
        alt = img.get("alt") or img.get("title") or "afbeelding"
        src = safe_url(img.get("src") or "")
        replacement = lxml.html.Element("a" if src else "span")
        if src:
            replacement.set("href", src)
            replacement.set("rel", "nofollow noopener noreferrer")
        replacement.text = f"[afbeelding: {alt}]"
        replacement.tail = img.tail
        img.getparent().replace(img, replacement)
    inner = (_e(root.text) if root.text else "") + "".join(
        lxml.html.tostring(child, encoding="unicode") for child in root)
    return inner


def _language(message: Message) -> str:
    # BCP 47-ish primary tag only; anything odd falls back to Dutch rather than reaching the attribute.
    lang = (message.language or "").split("-")[0].split("_")[0].lower()
    return lang if lang.isascii() and lang.isalpha() and 2 <= len(lang) <= 3 else "nl"


def _who(message: Message) -> str:
    name = message.author.name.strip()
    handle = message.author.handle.strip()
    if name and handle:
        return f"{name} (@{handle})"
    return name or (f"@{handle}" if handle else "onbekende afzender")


def _metadata(message: Message) -> list[tuple[str, str, bool]]:
    """(label, text, is_url) rows of the message's own metadata; empty values left out."""
    rows = [
        ("Afzender", message.author.name, False),
        ("Account", f"@{message.author.handle}" if message.author.handle else "", False),
        ("Datum en tijd", format_datetime(message.created_at), False),
        ("Bewerkt op", format_datetime(message.edited_at), False),
        ("Soort", KIND_LABELS.get(message.kind, message.kind), False),
        ("Adres", message.url, True),
        ("Reactie op", message.in_reply_to or "", False),
        ("Gesprek", message.thread_id if message.thread_id and message.thread_id != message.id else "", False),
        ("Taal", message.language or "", False),
        ("Gevoelige inhoud", "ja" if message.sensitive else "", False),
        ("Vermeldingen", ", ".join(f"@{m}" for m in message.mentions), False),
        ("Hashtags", ", ".join(f"#{t}" for t in message.hashtags), False),
    ]
    return [row for row in rows if row[1]]


def _provenance(message: Message) -> list[tuple[str, str, bool]]:
    raw = message.raw
    rows = [
        ("Kanaal", message.channel, False),
        ("Platform-id", message.id, False),
        ("Versie", message.version or "oorspronkelijk", False),
    ]
    if raw is not None:
        rows += [
            ("Opgehaald van", redact_url(raw.page_url), True),  # the fetched URL may hold credentials
            ("Opgehaald op", format_datetime(raw.fetched_at), False),
            ("Origineel formaat", raw.media_type, False),
            ("SHA-256 origineel", raw.sha256, False),
        ]
        if raw.scope == raw.RESPONSE:
            rows.append(("Origineel", WHOLE_RESPONSE, False))
    else:
        rows.append(("Origineel", "niet beschikbaar", False))
    return [row for row in rows if row[1]]


def _dl(rows) -> str:
    items = "".join(f"<dt>{_e(label)}</dt><dd>{_link(text) if is_url else _e(text)}</dd>\n"
                    for label, text, is_url in rows)
    return f"<dl>\n{items}</dl>"


def _title(message: Message) -> str:
    return f"{KIND_LABELS.get(message.kind, 'bericht').capitalize()} van {_who(message)}"


def render_html(message: Message) -> bytes:
    """A complete, standalone HTML5 document for ``message``, UTF-8 encoded.

    Deterministic: the same message always renders to the same bytes, so a retried delivery
    uploads an identical document (and its checksum matches).
    """
    title = _title(message)
    parts = [
        "<!DOCTYPE html>",
        '<html lang="nl">',
        "<head>",
        '<meta charset="utf-8">',
        f'<meta http-equiv="Content-Security-Policy" content="{_CSP}">',
        '<meta name="generator" content="midoffice-connector">',
        f"<title>{_e(title)}</title>",
        f"<style>{_STYLE}</style>",
        "</head>",
        "<body>",
        "<article>",
        f"<h1>{_e(title)}</h1>",
        _dl(_metadata(message)),
    ]
    if message.spoiler_text:
        parts.append(f'<p class="waarschuwing"><strong>Inhoudswaarschuwing:</strong> {_e(message.spoiler_text)}</p>')
    parts.append(f'<section class="inhoud" lang="{_language(message)}">{_content_html(message)}</section>')
    if message.quote is not None:
        quote = message.quote
        who = f"@{_e(quote.handle)}" if quote.handle else f"bericht {_e(quote.id)}"
        text = "".join(f"<p>{_e(part)}</p>" for part in quote.text.split("\n\n") if part.strip())
        parts.append(f'<section class="citaat"><h2>Citeert: {who}</h2><p>{_link(quote.url) if quote.url else ""}</p>'
                     f"<blockquote>{text or '<p>(de tekst van het geciteerde bericht is niet meegestuurd)</p>'}"
                     "</blockquote></section>")
    if message.attachments:
        parts.append("<section><h2>Bijlagen</h2><ul>")
        for item, status in zip(message.attachments, _media_status(message)):
            extra = f" ({_e(item.media_type)})" if item.media_type else ""
            description = f": {_e(item.description)}" if item.description else ""
            parts.append(f"<li>{_link(item.url)}{extra}{description}{status}</li>")
        parts.append("</ul></section>")
    note = ("Het oorspronkelijke bericht van het platform is ongewijzigd bij deze weergave bewaard."
            if message.raw is not None else "Het oorspronkelijke bericht van het platform is niet beschikbaar.")
    if message.raw is not None and message.raw.scope == message.raw.RESPONSE:
        note = "Het hele antwoord van het platform waarin dit bericht stond is ongewijzigd bij deze weergave bewaard."
    parts += [
        '<section class="herkomst"><h2>Herkomst</h2>',
        _dl(_provenance(message)),
        f"<p>Weergave gemaakt door midoffice-connector. {note}</p>",
        "</section>",
        "</article>",
        "</body>",
        "</html>",
        "",
    ]
    return "\n".join(parts).encode("utf-8")


def media_states(message: Message) -> list[tuple[str, str]]:
    """Per attachment, what became of it (``Message.media``, set before delivery), as plain text:
    ``("gearchiveerd", "als bijlage N (SHA-256 ...)")``, or ``("ontbreekt", "<why> (na N poging(en))")``.
    ``("", "")`` for every attachment before media are prepared. Both renditions show these."""
    if len(message.media) != len(message.attachments):
        return [("", "")] * len(message.attachments)
    states, number = [], 0
    for medium in message.media:
        if hasattr(medium, "sha256"):
            number += 1
            states.append(("gearchiveerd", f"als bijlage {number} (SHA-256 {medium.sha256})"))
        else:
            states.append(("ontbreekt", f"{medium.reason} (na {int(medium.attempts)} poging(en))"))
    return states


def _media_status(message: Message) -> list[str]:
    """:func:`media_states` as HTML, one text per attachment (empty before media are prepared)."""
    return [f" &mdash; gearchiveerd {_e(text)}" if state == "gearchiveerd"
            else f' &mdash; <strong class="ontbreekt">ontbreekt</strong>: {_e(text)}' if state else ""
            for state, text in media_states(message)]


# Shared with the PDF/A rendition (connector.rendition_pdf), so both documents show the same rows, labels
# and title: public names for the helpers above, not new behaviour.
who = _who
title_of = _title
metadata_rows = _metadata
provenance_rows = _provenance
