"""RSS and Atom: one entry by its link, found in the feed as it is now.

Split from :mod:`.rss` (polling, identity and date rules). A feed cannot be asked for one entry, so
``fetch_item`` reads the feed (unconditionally: the cursor's ETag is not the fetch's business) and
returns the entry whose link or id (guid, atom:id) is the URL asked, compared as people paste links:
scheme, ``www.``, a default port, a trailing slash and the fragment do not count, the query does.
An entry no longer in the feed (feeds carry only their newest entries) is a permanent failure that
says so; a feed that cannot be read fails as a poll would (404 of the feed itself: configuration).

``item_id_for_url``: a URL on the feed's own host, other than the feed itself and the site's home
page. The feed is not read (no I/O), so the id answered is the URL as pasted; it is the entry's id
when the link is its key (an RSS ``guid`` that is its permalink, or no guid): the fetched message
carries the key a poll gives it. The message is normalised exactly as a first poll does (its bytes
cut from the feed, version ``""``): a poll that saw the entry before and then saw it edited stores
that edit as a version of its own, which a fetch without the cursor cannot know about.
"""
from __future__ import annotations

from ..failures import PERMANENT, Failed, Failure
from .base import Page, Quarantined, captured
from .itemurl import host_of, same_site, segments, web_url


def entry_url(source, url: str) -> str | None:
    """``url`` (stripped) when it may be an entry's link in ``source``'s feed; else ``None``."""
    parts = web_url(url)
    feed = source.options["url"]
    if parts is None or not same_site(parts, feed) or not segments(parts) and not parts.query:
        return None
    return None if link_key(url) == link_key(feed) else url.strip()


def link_key(url: str) -> tuple | None:
    """What makes two links the same entry's: host without ``www.``, port, path without a trailing slash, query."""
    parts = web_url(url)
    if parts is None:
        return None
    port = parts.port if parts.port not in (80, 443) else None
    return host_of(parts), port, "/" + "/".join(segments(parts)), parts.query


def entry_page(entries: list, asked: str, feed: str, response) -> Page:
    """The page of :meth:`connector.sources.rss.FeedSource.fetch_item`: the entry of ``entries`` (the feed's
    entries as its poll reads them) whose key or link is ``asked``; permanent failure when there is none."""
    wanted = link_key(asked)
    for entry in entries:
        links = {entry.key, entry.message.url if entry.message else ""}
        if asked in links or wanted in {link_key(link) for link in links if link}:
            if entry.message is None:
                return Page([], {}, [Quarantined(entry.reason, entry.raw, item_id=entry.key, page_url=feed)],
                            url=feed)
            return Page(captured([entry.message], response), {}, url=feed)
    raise Failed(Failure(PERMANENT, f"{asked[:200]}: no such entry: not in the feed's current entries"
                         f" ({len(entries)} in {feed})", url=feed))
