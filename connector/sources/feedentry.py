"""One feed entry (as feedparser reads it) as a channel-neutral :class:`~connector.message.Message`.

Split from :mod:`.rss` (fetching, entry spans, cursor) so that each module reads in one sitting.
``normalise`` raises ``ValueError`` with the quarantine reason.
"""
from __future__ import annotations

import calendar
import html as htmllib
import re
from datetime import datetime, timezone

from ..htmltext import sanitize, to_text
from ..message import Attachment, Author, Message, iso, value_defect

MEDIA_NS = "http://search.yahoo.com/mrss/"
_HASHTAG = re.compile(r"(?<![\w/&#])#(\w*[^\W\d_]\w*)")
_MENTION = re.compile(r"(?<![\w@/])@(\w+(?:@[\w-]+(?:\.[\w-]+)+)?)")


def normalise(entry, key, feed, channel, fallback_date, raw, descriptions) -> Message:
    """One entry as a message; its ``version`` is the entry's ``updated`` (the caller decides)."""
    defect = value_defect(entry)  # named by the feedparser field (title, summary, content[0].value ...)
    if defect:
        raise ValueError(defect)
    published, updated = entry_date(entry, "published"), entry_date(entry, "updated")
    for name, value in (("published", published), ("updated", updated)):
        if value is None and (dict.get(entry, name) or "").strip():
            raise ValueError(f"unreadable {name} date {dict.get(entry, name)!r}")
    created_at = published or updated or fallback_date
    edited_at = updated if published and updated and updated != published else None

    author_name = (entry.get("author_detail") or {}).get("name") or entry.get("author") or ""
    handle = author_name or feed.get("title") or channel
    body = _body_html(entry)
    title = _title_text(entry)
    body_text = to_text(body)
    if title and not body_text.startswith(title):
        text = f"{title}\n\n{body_text}".strip()
        body = f"<h2>{htmllib.escape(title)}</h2>{body}"
    else:
        text = body_text
    hashtags = [t.get("term", "").strip().lower() for t in entry.get("tags") or ()]
    hashtags += [h.lower() for h in _HASHTAG.findall(text)]
    reply = dict.get(entry, "thr_in-reply-to") or {}
    link = entry.get("link") or ""
    message = Message(
        channel=channel,
        id=key,
        kind="comment" if reply.get("ref") else "post",
        author=Author(id=handle, handle=handle, name=author_name),
        created_at=created_at,
        edited_at=edited_at,
        text=text,
        html=sanitize(body),
        url=link if link.startswith(("http://", "https://")) else "",
        in_reply_to=reply.get("ref") or None,
        thread_id=reply.get("ref") or key,
        language=_language(entry, feed),
        hashtags=tuple(_unique(h for h in hashtags if h)),
        mentions=tuple(_unique(_MENTION.findall(text))),
        attachments=_attachments(entry, descriptions),
        version=iso(updated) or "",
        raw=raw,
    )
    return message


def entry_date(entry, name: str) -> datetime | None:
    # dict.get, not entry.get: feedparser quietly answers "updated" with the published date
    value = dict.get(entry, f"{name}_parsed")
    if not value:
        return None
    try:
        return datetime.fromtimestamp(calendar.timegm(value), timezone.utc)
    except (OverflowError, OSError, ValueError):
        return None  # beyond datetime's range: for an entry, "present but unreadable"


def _body_html(entry) -> str:
    for content in entry.get("content") or ():
        if content.get("value"):
            return _as_html(content)
    detail = entry.get("summary_detail")
    return _as_html(detail) if detail else htmllib.escape(entry.get("summary") or "")


def _as_html(detail) -> str:
    value = detail.get("value") or ""
    if "html" in (detail.get("type") or ""):
        return value
    return "<p>" + htmllib.escape(value).replace("\n", "<br>") + "</p>" if value else ""


def _title_text(entry) -> str:
    detail = entry.get("title_detail") or {}
    title = entry.get("title") or ""
    return to_text(title) if "html" in (detail.get("type") or "") else title.strip()


def _language(entry, feed) -> str | None:
    candidates = [c.get("language") for c in entry.get("content") or ()]
    candidates += [(entry.get(k) or {}).get("language") for k in ("summary_detail", "title_detail")]
    candidates += [feed.get("language")]
    for value in candidates:
        if value and value.strip():
            return re.split(r"[-_]", value.strip().lower())[0]
    return None


def _attachments(entry, descriptions: dict[str, str]) -> tuple[Attachment, ...]:
    found = [(e.get("href") or e.get("url"), e.get("type"), e.get("title")) for e in entry.get("enclosures") or ()]
    found += [(m.get("url"), m.get("type"), None) for m in entry.get("media_content") or ()]
    result, urls = [], set()
    for url, media_type, title in found:
        if url and url not in urls:
            urls.add(url)
            result.append(Attachment(url=url, media_type=media_type or "",
                                     description=title or descriptions.get(url, "")))
    return tuple(result)


def _unique(values):
    return list(dict.fromkeys(values))
