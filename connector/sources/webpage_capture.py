"""One capture of one web page: the page, its oEmbed answer and its resources into one WARC file.

:func:`capture` is what the web channel's poll, the web UI's "save this" button and
``connector save URL`` all come down to (through :func:`connector.sources.webpage.capture_url`):

1. the page: GET, redirects followed hop by hop and each hop checked (:mod:`.webpage_fetch`);
   its own failure is the capture's (404 -> permanent "page not found", 5xx and timeouts -> retry);
2. its oEmbed answer, when it offers one (``<link rel="alternate" type="application/json+oembed">``)
   or is on a provider of :data:`PROVIDERS` (Prezi, YouTube, Vimeo);
3. its resources (:func:`.webpage_html.read_page`): ``og:image`` and the oEmbed thumbnail first,
   then stylesheets, images (the largest of a ``srcset``), scripts, icons; at most ``max_resources``, within ``max_bytes`` and
   the deadline. A resource (or oEmbed) that fails is listed as skipped, with why, in the WARC's
   metadata record; it never fails the capture.

A page that is no HTML (a PDF, an image) is captured as itself: one response record. The result
goes through :func:`.base.admit`: a message, or the capture quarantined with its WARC bytes.
"""
from __future__ import annotations

import json
import re
from dataclasses import replace
from datetime import datetime
from urllib.parse import quote

from ..failures import RETRY, Failed, Failure
from ..message import Message, Quarantined, Raw, utcnow
from .base import admit
from .webpage_fetch import HTML_ACCEPT, Fetcher, WebPolicy, tidy_pasted
from .webpage_html import PageInfo
from .webpage_message import is_html, page_info, page_message
from .webpage_warc import WARC_TYPE, write_warc

MAX_OEMBED = 1024 * 1024
MAX_LISTED = 200  # left-over resources named one by one in the WARC's metadata record
OEMBED_ACCEPT = "application/json, application/json+oembed;q=0.9"
# providers whose pages do not (reliably) announce their oEmbed endpoint: (page URL pattern, endpoint)
PROVIDERS = (
    (re.compile(r"^https://(www\.)?prezi\.com/(view|p|v|i)/", re.I), "https://prezi.com/api/oembed/?url={url}"),
    (re.compile(r"^https://((www|m)\.)?youtube\.com/(watch|shorts/|live/)|^https://youtu\.be/", re.I),
     "https://www.youtube.com/oembed?format=json&url={url}"),
    (re.compile(r"^https://(www\.|player\.)?vimeo\.com/", re.I), "https://vimeo.com/api/oembed.json?url={url}"),
)


def builtin_oembed(url: str) -> str:
    """The oEmbed endpoint of a known provider for the page ``url``, or ``""``."""
    for pattern, endpoint in PROVIDERS:
        if pattern.match(url):
            return endpoint.format(url=quote(url, safe=""))
    return ""


def capture(url: str, channel: str, options: dict, policy: WebPolicy, *, capture_log=None,
            first_seen: datetime | None = None, changed_from: str | None = None) -> Message | Quarantined:
    """Capture ``url`` (see the module docstring); raises :class:`Failed` when the page itself fails.

    ``first_seen``: when the page was first captured (its fallback ``created_at``); ``changed_from``:
    the version seen before, so that a changed page is dated as an edit.
    """
    url = tidy_pasted(url)
    fetcher = Fetcher(policy, user_agent=options["user_agent"], deadline=options["deadline"],
                      timeout=options["timeout"], max_bytes=options["max_bytes"],
                      max_redirects=options["max_redirects"], capture=capture_log, label=channel)
    try:
        fetched_at = utcnow()
        fetched_at = fetched_at.replace(microsecond=fetched_at.microsecond // 1000 * 1000)  # as the cursor keeps it
        page = fetcher.get(url, f"GET {url}", HTML_ACCEPT)
        if not page.exchanges or page.exchanges[-1].truncated:
            raise Failed(Failure(RETRY, f"GET {url}: the page's answer could not be recorded", url=url))
        fetcher.keep(page)
        exchanges, page_index = list(page.exchanges), len(page.exchanges) - 1
        kept: list[tuple[str, str]] = []
        skipped: list[tuple[str, str]] = []
        oembed, oembed_url = None, ""
        info = PageInfo()
        if is_html(page.media_type, page.body):
            info = page_info(page.final_url, page.body, page.media_type, page.charset)
            oembed_url = info.oembed or builtin_oembed(page.final_url)
            if oembed_url:
                oembed = _oembed(fetcher, oembed_url, exchanges, skipped)
            resources = list(info.resources)
            thumbnail = oembed.get("thumbnail_url") if isinstance(oembed, dict) else None
            if isinstance(thumbnail, str) and thumbnail.startswith(("http://", "https://")):
                resources.insert(1 if info.image else 0, (thumbnail.split("#")[0], "oEmbed thumbnail"))
            _resources(fetcher, resources, options["max_resources"], {page.final_url, oembed_url},
                       exchanges, kept, skipped)
        warc = write_warc(exchanges, page_url=url, final_url=page.final_url, channel=channel, captured_at=fetched_at,
                          oembed_url=oembed_url, kept=kept, skipped=skipped, page_index=page_index)
    finally:
        fetcher.close()
    raw = Raw(body=warc, media_type=WARC_TYPE, page_url=url, fetched_at=fetched_at, scope=Raw.RESPONSE)
    if page.capture_ref is not None and page.capture_ref.file:
        raw = replace(raw, warc_file=page.capture_ref.file, warc_record=page.capture_ref.record_id,
                      warc_offset=page.capture_ref.offset)
    return admit(lambda: page_message(
        channel=channel, final_url=page.final_url, body=page.body, media_type=page.media_type, charset=page.charset,
        headers=page.headers, oembed=oembed, fetched_at=fetched_at, raw=raw, first_seen=first_seen, info=info,
        changed=changed_from is not None), warc, item_id=url, page_url=url, now=fetched_at)


def _oembed(fetcher: Fetcher, url: str, exchanges: list, skipped: list) -> dict | None:
    """The oEmbed answer as a JSON object (its exchange kept), or ``None`` (listed as skipped)."""
    try:
        answer = fetcher.get(url, "oEmbed", OEMBED_ACCEPT, limit=MAX_OEMBED)
    except Failed as exc:
        skipped.append((url, exc.failure.message))
        return None
    fetcher.keep(answer)
    exchanges.extend(answer.exchanges)
    try:
        value = json.loads(answer.body)
    except ValueError as exc:
        skipped.append((url, f"oEmbed answer is no JSON ({exc}); kept as received"))
        return None
    if not isinstance(value, dict):
        skipped.append((url, "oEmbed answer is no JSON object; kept as received"))
        return None
    return value


def _resources(fetcher: Fetcher, resources: list[tuple[str, str]], most: int, done: set, exchanges: list,
               kept: list, skipped: list) -> None:
    """Fetch ``resources`` in order under the capture's bounds: at most ``most`` requests (kept or
    failed); what fails or is left over is skipped (the left-over listed up to :data:`MAX_LISTED`)."""
    tried = 0
    for position, (url, what) in enumerate(resources):
        if url in done:
            continue
        if tried >= most or fetcher.left() <= 0.05:
            why = f"max_resources={most} reached" if tried >= most else \
                f"the capture's deadline of {fetcher.deadline:g} s had passed"
            rest = list(dict.fromkeys(u for u, _ in resources[position:] if u not in done))
            skipped.extend((left, why) for left in rest[:MAX_LISTED])
            if len(rest) > MAX_LISTED:
                skipped.append((f"{len(rest) - MAX_LISTED} more resources, not listed:", why))
            return
        done.add(url)
        tried += 1
        try:
            answer = fetcher.get(url, what, "*/*")
        except Failed as exc:
            skipped.append((url, exc.failure.message))
            continue
        if not answer.exchanges or answer.exchanges[-1].truncated:
            skipped.append((url, "the answer could not be recorded completely"))
            continue
        fetcher.keep(answer)
        exchanges.extend(answer.exchanges)
        kept.append((url, what))
