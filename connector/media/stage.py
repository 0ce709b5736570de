"""Before a message is delivered: its media fetched, or given up on, once for every sink.

:meth:`MediaStage.prepare` runs at the start of each delivery (the engine's ``deliver_one``). For
each attachment of the message it reads the medium's row in the store (:mod:`connector.store.media`)
and, when the medium is due, fetches it (:func:`connector.media.fetch`) under the channel's
:class:`~connector.media.MediaPolicy`. Decisions:

* **Once per message, not per sink.** The rows are the message's, so the second sink's delivery
  finds the media fetched (or missing) and fetches nothing; within a process one lock per message
  keeps two sinks' deliveries from fetching at the same moment. (Two worker processes could both
  fetch a medium once: the file is named after its SHA-256, so they write the same file.)
* **A medium that fails is retried, then recorded as missing** (:func:`connector.media.decide`:
  permanent failures at once, transient ones after a few attempts with backoff). While one is
  waiting for its retry, the delivery waits too (``waiting``, no attempt spent), so a record is
  complete or says what it lacks, never silently short.
* **A fetched file that is gone from disk** (removed by hand) is fetched again.
* **A channel without a policy** (its source does not say where its media live, or the channel is
  no longer configured) archives its messages with every medium recorded as missing, saying why.
"""
from __future__ import annotations

import json
import threading
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Callable

from ..failures import Failed
from ..message import Message, parse_iso, utcnow
from ..redact import redact_url
from .download import MediaResult, MediaSession, fetch
from .policy import MediaPolicy
from .retry import Missing, RetryLater, decide

if TYPE_CHECKING:
    from ..store import Store

FETCHED, RETRY, MISSING = "fetched", "retry", "missing"


@dataclass(frozen=True)
class Prepared:
    """The media of a message: every one fetched or missing (``items``), or ``retry_at`` to wait for."""

    items: tuple[MediaResult | Missing, ...] = ()
    retry_at: datetime | None = None
    waiting_for: str = ""


class MediaStage:
    """The media step of every delivery; ``policies`` gives a channel's policy (``None``: not fetched)."""

    def __init__(self, store: "Store", folder: Path, policies: Callable[[str], MediaPolicy | None],
                 max_attempts: int = 4):
        self.store = store
        self.folder = Path(folder)
        self.policies = policies
        self.max_attempts = max_attempts
        self._locks: dict[int, threading.Lock] = {}
        self._guard = threading.Lock()
        self._sessions = threading.local()

    def prepare(self, message_id: int, message: Message, now: datetime | None = None) -> Prepared:
        if not message.attachments:
            return Prepared()
        with self._guard:
            if len(self._locks) > 10_000:  # bounded; a lock dropped here only risks fetching a file twice
                self._locks.clear()
            lock = self._locks.setdefault(message_id, threading.Lock())
        with lock:
            return self._prepare(message_id, message, now or utcnow())

    def _prepare(self, message_id: int, message: Message, now: datetime) -> Prepared:
        rows = self.store.media_rows(message_id)
        policy = self.policies(message.channel)
        items, waits = [], []
        for position, attachment in enumerate(message.attachments):
            row = rows.get(position)
            if row is not None and row["state"] == MISSING:
                items.append(Missing(**json.loads(row["missing_json"])))
                continue
            if row is not None and row["state"] == FETCHED:
                result = _result(json.loads(row["result_json"]))
                if result.path.is_file():
                    items.append(result)
                    continue
            if row is not None and row["state"] == RETRY and parse_iso(row["next_attempt_at"]) > now:
                waits.append((parse_iso(row["next_attempt_at"]), attachment.url))
                continue
            attempts = (row["attempts"] if row is not None else 0) + 1
            if policy is None:
                missing = Missing(url=redact_url(attachment.url), media_type=attachment.media_type or "",
                                  description=attachment.description or "", verdict="permanent", attempts=attempts,
                                  reason=f"channel {message.channel!r} has no media settings (is it still"
                                         " configured?); the medium was not fetched", cause="refused")
                self.store.save_medium(message_id, position, MISSING, attempts, missing=missing.to_dict(),
                                       error=missing.reason)
                items.append(missing)
                continue
            try:
                result = fetch(attachment, policy, self.folder / _safe(message.channel), self._session(policy))
            except Failed as exc:
                decision = decide(attachment, attempts, exc.failure, now=now, max_attempts=self.max_attempts)
                if isinstance(decision, RetryLater):
                    self.store.save_medium(message_id, position, RETRY, attempts, error=exc.failure.message,
                                           next_attempt_at=decision.at)
                    waits.append((decision.at, attachment.url))
                else:
                    self.store.save_medium(message_id, position, MISSING, attempts, missing=decision.to_dict(),
                                           error=decision.reason)
                    items.append(decision)
                continue
            self.store.save_medium(message_id, position, FETCHED, attempts, result=result.to_dict())
            items.append(result)
        if waits:
            at, url = min(waits)
            return Prepared(retry_at=at, waiting_for=f"{len(waits)} medium/media to be fetched again"
                                                     f" (first {redact_url(url)} at {at.isoformat()})")
        return Prepared(items=tuple(items))

    def _session(self, policy: MediaPolicy) -> MediaSession:
        """One session per thread and policy (a session carries its policy's checks)."""
        sessions = getattr(self._sessions, "by_policy", None)
        if sessions is None:
            sessions = self._sessions.by_policy = {}
        if policy not in sessions:
            sessions[policy] = MediaSession(policy)
        return sessions[policy]


def _result(data: dict) -> MediaResult:
    return MediaResult(path=Path(data["path"]), size=data["size"], sha256=data["sha256"],
                       media_type=data["media_type"], description=data["description"],
                       source_url=data["source_url"], fetched_from=data["fetched_from"],
                       fetched_at=parse_iso(data["fetched_at"]), declared_type=data.get("declared_type", ""))


def _safe(name: str) -> str:
    return "".join(c if c.isalnum() or c in "-_" else "-" for c in name)[:60] or "kanaal"
