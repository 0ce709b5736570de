"""The media files inside an export, for the media stage: each attachment's file, opened from the export.

An archive can hold tens of thousands of photos and videos, so :class:`ExportMedia` opens the
export and indexes its files once, and then finds each attachment's file in constant time:

* Facebook attachments (``fbexport:<uri>``) by their path in the export (under a wrapper folder too);
* X attachments (the medium's https URL, as the X API gives it) by their file name: X stores each as
  ``data/tweets_media/<tweet id>-<file name of the URL>`` (``tweet_media/`` in older archives,
  ``deleted_tweets_media/`` for deleted tweets).
"""
from __future__ import annotations

import io
import re
from pathlib import Path
from typing import BinaryIO
from urllib.parse import urlsplit

from ..message import Attachment
from .container import Export, ExportError, Limits

X_MEDIA = re.compile(r"(?:[^/]+/)?data/(?:tweets_media|tweet_media|deleted_tweets_media)/[0-9]{1,20}-([^/]{1,200})")
FB_PREFIX = "fbexport:"


class ExportMedia:
    """The media of the export at ``path``; use as a context manager, :meth:`open` per attachment."""

    def __init__(self, path: Path, limits: Limits | None = None):
        self.export = Export(Path(path), limits)
        self._files: dict[str, str] = {}
        for name in self.export.names:
            self._files.setdefault(name, name)
            if "/" in name:
                self._files.setdefault(name.split("/", 1)[1], name)  # under a wrapper folder
            found = X_MEDIA.fullmatch(name)
            if found:
                self._files.setdefault(f"x:{found.group(1)}", name)

    def member(self, attachment: Attachment) -> str | None:
        """The export's file of ``attachment``, or None."""
        url = attachment.url
        if url.startswith(FB_PREFIX):
            return self._files.get(url[len(FB_PREFIX):].lstrip("/"))
        if url.startswith("https://"):
            name = urlsplit(url).path.rsplit("/", 1)[-1]
            return self._files.get(f"x:{name}") if name else None
        return None

    def open(self, attachment: Attachment) -> BinaryIO:
        """A binary stream of ``attachment``'s file (close it); ExportError when there is none or it is
        over ``limits.max_media_bytes``."""
        name = self.member(attachment)
        if name is None:
            raise ExportError(f"{self.export.label}: no file for the medium {attachment.url!r}")
        return io.BufferedReader(self.export.open(name, self.export.limits.max_media_bytes))

    def close(self) -> None:
        self.export.close()

    def __enter__(self) -> "ExportMedia":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def open_media(path: Path, attachment: Attachment, *, limits: Limits | None = None) -> BinaryIO:
    """A binary stream of ``attachment``'s file inside the export at ``path``; close it when done.

    For one attachment; for many, open :class:`ExportMedia` once. Raises :class:`ExportError` when
    the export has no such file, or it is over ``limits.max_media_bytes``.
    """
    media = ExportMedia(path, limits)
    try:
        return _Closing(media.open(attachment).detach(), media)
    except BaseException:
        media.close()
        raise


class _Closing(io.BufferedReader):
    """A member's stream that closes its export with itself."""

    def __init__(self, raw, media: ExportMedia):
        super().__init__(raw)
        self._media = media

    def close(self) -> None:
        try:
            super().close()
        finally:
            self._media.close()
