"""Media: each attachment of a message downloaded and archived as a document of its own.

:mod:`.policy` says where a channel's media may come from and how large they may be
(:class:`MediaPolicy`, the channel options :class:`MediaOptions`); :mod:`.download` downloads one
under it (:func:`fetch`, streamed to disk, hashed, bounded, atomic); :mod:`.retry` decides after a
failure whether to try again or to record the medium as :class:`Missing`.

A core module: it imports no sources, sinks, doubles, web or cli.
"""
from .download import CHUNK, MEDIA_ERROR_MAPPING, REASONS, MediaResult, MediaSession, fetch, sniff
from .policy import (DEFAULT_DEADLINE, DEFAULT_FAMILIES, DEFAULT_MAX_BYTES, DEFAULT_MAX_REDIRECTS, MediaOptions,
                     MediaPolicy, Refused, check_url)
from .retry import BACKOFF, DEFAULT_MAX_ATTEMPTS, Missing, RetryLater, decide

__all__ = ["BACKOFF", "CHUNK", "DEFAULT_DEADLINE", "DEFAULT_FAMILIES", "DEFAULT_MAX_ATTEMPTS", "DEFAULT_MAX_BYTES",
           "DEFAULT_MAX_REDIRECTS", "MEDIA_ERROR_MAPPING", "REASONS", "MediaOptions", "MediaPolicy", "MediaResult",
           "MediaSession", "Missing", "Refused", "RetryLater", "check_url", "decide", "fetch", "sniff"]
