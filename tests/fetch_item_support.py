"""What the ``fetch_item`` tests of every channel share: fetching without raising, and comparing
a fetched message with the one a poll gave for the same item (all but when and from which URL).
"""
from __future__ import annotations

from connector.failures import Failed

# pasted text that is no permalink of any channel: each source must answer None, never raise
NOT_URLS = ["", "   ", "javascript:alert(1)", "data:text/html,<p>x</p>", "ftp://example.org/1", "//x.com/a/status/1",
            "https://", "http://[::1", "https://user:secret@x.com/a/status/1", "https://x.com:99999/a/status/1",
            "https://x.com/a/status/1\nhttps://evil.example/", "mailto:info@gemeente.nl", None, 12345]


def fetch(src, url):
    """``(page, None)`` or ``(None, failure)``."""
    try:
        return src.fetch_item(url), None
    except Failed as failed:
        return None, failed.failure


def comparable(message) -> tuple:
    """The message as stored and shown (``to_dict``), with its raw bytes and their media type."""
    return message.to_dict(), message.raw.body, message.raw.media_type, message.raw.scope


def polled(pages) -> dict:
    return {(m.id, m.version): m for page in pages for m in page.messages}
