"""Importers of platform data exports: an organisation's history archived retroactively.

A platform's own export ("Download an archive of your data" on X, "Download your information" on
Facebook) holds what polling can no longer reach. :func:`read_export` turns one export, a zip or
the folder it unpacks to, into :class:`Batch` es of :class:`~connector.message.Message` s, oldest
first, at most :data:`BATCH_SIZE` items each, so the engine stores and routes them through the
channel's rules and sinks exactly as polled messages (``connector import KIND PATH --channel NAME``).

* ``x-archive`` (:mod:`.x_archive`): tweets, replies, retweets, quotes, edits (as versions) and the
  archive's deleted tweets, identical in ``(id, version)`` to what the X API source makes of the
  same tweets, so an import and a poll of the same account store each tweet once.
* ``facebook-export`` (:mod:`.facebook_export`): posts and comments. The export has no post ids;
  its made-up ids never match the Graph API's (see the module).

An export is hostile input (:mod:`.container`): nothing is extracted to disk, every member read is
bounded in size and compression ratio, and an item that cannot be read or normalised is
quarantined with its exact bytes and a precise reason (:func:`connector.sources.base.admit`).
What cannot be read as a whole (not a zip, a data file missing or cut off) raises
:class:`ExportError` with what was expected. The attachments' files inside the export are opened
with :func:`open_media` (one) or :class:`ExportMedia` (many), for the media stage.
"""
from __future__ import annotations

from pathlib import Path
from typing import Callable, Iterator

from . import facebook_export, x_archive
from .common import BATCH_SIZE, Batch
from .container import Export, ExportError, Limits
from .media import ExportMedia, open_media

__all__ = ["BATCH_SIZE", "EXPORTS", "Batch", "ExportError", "ExportMedia", "Limits", "open_media", "read_export"]

#: kind -> reader(export, channel, **options): the kinds ``connector import`` accepts
EXPORTS: dict[str, Callable[..., Iterator[Batch]]] = {
    "x-archive": x_archive.read,
    "facebook-export": facebook_export.read,
}


def read_export(kind: str, path: Path, channel: str, *, limits: Limits | None = None,
                **options) -> Iterator[Batch]:
    """Batches of the export at ``path`` (zip or folder) of ``kind`` for ``channel``, oldest first.

    ``options`` go to the reader (``facebook-export``: ``author_name``, ``author_id``,
    ``author_handle``). Raises :class:`ExportError` for an unknown kind or an unreadable export;
    the first error may come from the first ``next()``, as the export is read lazily.
    """
    reader = EXPORTS.get(kind)
    if reader is None:
        raise ExportError(f"unknown export kind {kind!r}: expected one of {', '.join(sorted(EXPORTS))}")
    with Export(Path(path), limits) as export:
        yield from reader(export, channel, **options)
