"""One LinkedIn post by its URL (``item_id_for_url`` and ``fetch_item`` of
:class:`.linkedin.LinkedInSource`), a mixin.

URLs read: ``https://www.linkedin.com/feed/update/<urn>/`` (also ``linkedin.com``, ``m.`` and the
country hosts such as ``nl.``; the URN may be percent-encoded) whose URN is a
``urn:li:share:<id>`` or ``urn:li:ugcPost:<id>``: the post's URN, as poll gives it.

Not mapped (``None``):

* ``urn:li:activity:<id>`` and the ``/posts/<slug>-activity-<id>-<x>`` links the share button
  makes: an activity is the feed's wrapper of a post, with a number of its own; the Posts API
  reads posts by their share or ugcPost URN only, and finding the post behind an activity would
  take calls (``item_id_for_url`` makes none);
* a comment's link (``?commentUrn=...``): the comment is not the post, and this source reads
  comments only through a post's listing.

``fetch_item`` asks ``GET /rest/posts/<urn>`` with poll's headers (``LinkedIn-Version``,
``X-Restli-Protocol-Version: 2.0.0``, the token), then does what poll does for a page of posts:
resolves the post's image and video URNs (``/rest/images/...``) and names the organization's own
posts with its ``localizedName`` (one call each). 404/410 is ``permanent`` ("no such item"); a
post LinkedIn has but not ``PUBLISHED`` (a draft) is ``permanent`` too; the rest as poll
classifies it (:func:`.linkedin_limits.classify`).
"""
from __future__ import annotations

import re
from datetime import datetime, timezone
from urllib.parse import quote, unquote

from ..failures import PERMANENT, Failed, Failure
from .base import captured
from .itemurl import gone, missing, one_item, permalink, query, segments, single_record
from .linkedin_item import posts_to_messages
from .rest import PageRequest

HOSTS = frozenset({"linkedin.com", "www.linkedin.com", "m.linkedin.com",
                   *(f"{c}.linkedin.com" for c in ("nl", "be", "de", "fr", "uk", "ca", "au", "in", "es", "it"))})
POST = re.compile(r"urn:li:(share|ugcPost):[0-9]{1,32}")


def linkedin_urn(url) -> str | None:
    """The share or ugcPost URN a LinkedIn post URL names, or None (see the module docstring)."""
    parts = permalink(url, HOSTS)
    if parts is None or "commentUrn" in query(parts):
        return None
    path = [unquote(s) for s in segments(parts)]
    if len(path) != 3 or path[:2] != ["feed", "update"] or not POST.fullmatch(path[2]):
        return None
    return path[2]


class LinkedInItems:
    """``item_id_for_url`` and ``fetch_item`` (see the module docstring); uses the source's
    ``request``, ``_resolve`` and ``_name``."""

    def item_id_for_url(self, url: str) -> str | None:
        return linkedin_urn(url)

    def fetch_item(self, url: str):
        urn = linkedin_urn(url)
        if urn is None:
            raise Failed(Failure(PERMANENT, f"not the URL of a LinkedIn share or ugcPost: {url}"[:500]))
        what = f"GET post {urn}"
        try:
            response = self.request(PageRequest(f"{self.base_url}/rest/posts/{quote(urn, safe='')}"), what)
        except Failed as failed:
            raise gone(failed, what) from None
        record = single_record(response, what)
        value = record.value if isinstance(record.value, dict) else {}
        resolved = self._resolve([value])
        names = {}
        if value.get("author") == self.organization:  # poll names the organization's own posts
            name = self._name()
            names = {self.organization: name} if name else {}
        messages, quarantined = posts_to_messages([record], self.name, response.url, datetime.now(timezone.utc),
                                                  resolved, names)
        if not messages and not quarantined:
            raise missing(what, f"LinkedIn has it as {value.get('lifecycleState')!r}, not published"[:300],
                          url=response.url, status=response.status_code)
        return one_item(captured(messages, response), quarantined, response.url)
