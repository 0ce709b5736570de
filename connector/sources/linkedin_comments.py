"""Reading a LinkedIn organization's comments (for :class:`.linkedin.LinkedInSource`, see its docstring).

``GET /rest/socialActions/<urn>/comments`` lists a post's comments; the replies to a comment are
listed under the comment's own URN, and the comment's ``commentsSummary`` says whether it has any.
"""
from __future__ import annotations

from datetime import datetime, timezone
from urllib.parse import quote

from ..failures import Failed
from .base import Page, captured
from .linkedin_cursor import raise_mark
from .linkedin_item import comment_id, comments_to_messages, has_replies
from .rest import PageRequest

MAX_COUNT = 100  # LinkedIn's largest page
MAX_PENDING = 200  # posts whose comments a poll fetches for the first time; the next poll goes on


class CommentsMixin:
    """``_comments(state)``: the comment pages of one poll; needs the source's ``request``, ``records``,
    ``base_url``, ``name``, ``max_pages`` and ``_horizon``."""

    def _comments(self, state: dict):
        """The comments of the posts stored since their comments were last fetched (``pending``, at most
        :data:`MAX_PENDING` a poll) and of the window's posts, one page per post; replies to comments
        (``GET /rest/socialActions/<comment urn>/comments``) for the comments that say they have some."""
        horizon = self._horizon()
        recent = {u: ms for u, ms in (state.get("recent") or {}).items() if ms >= horizon}
        pending = list(state.get("pending") or [])
        state = {**state, "recent": recent,
                 "comments": {u: m for u, m in (state.get("comments") or {}).items() if u in recent}}
        changed = False
        for urn in dict.fromkeys([*pending[:MAX_PENDING], *recent]):
            mark = state["comments"].get(urn)
            pages = self._comment_pages(urn)
            pages += [page for parent in [comment_id(r.value) for _, records in pages for r in records
                                          if has_replies(r.value)] for page in self._comment_pages(parent)]
            messages, quarantined, keys = [], [], []
            for response, records in pages:
                found, bad, found_keys = comments_to_messages(records, self.name, response.url,
                                                              datetime.now(timezone.utc), urn, mark)
                messages += captured(found, response)
                quarantined += bad
                keys += found_keys
            if urn in recent and keys:
                state = {**state, "comments": {**state["comments"], urn: raise_mark(mark, keys)}}
            if urn in pending:
                pending.remove(urn)
                state, changed = {**state, "pending": list(pending)}, True
            if messages or quarantined:
                messages.sort(key=lambda m: (m.edited_at or m.created_at, m.id))
                yield Page(messages, state, quarantined, url=pages[0][0].url)
                changed = False
        if changed:
            yield Page([], state)  # the posts whose comments were all seen already leave ``pending``

    def _comment_pages(self, target: str) -> list:
        """``(response, records)`` of the comments on ``target`` (a post or a comment); none once it is gone."""
        url = f"{self.base_url}/rest/socialActions/{quote(target, safe='')}/comments"
        pages, start = [], 0
        for _ in range(self.max_pages):
            try:
                response = self.request(PageRequest(url, {"start": start, "count": MAX_COUNT}),
                                        f"GET comments of {target}")
            except Failed as failed:
                if failed.failure.status != 404:
                    raise
                break  # the post is gone: the deletion re-check says so
            records = self.records(response, f"GET comments of {target}")
            pages.append((response, records))
            if len(records) < MAX_COUNT:
                break
            start += len(records)
        return pages
