"""Each message's media in the store: one row per attachment, fetched once and shared by every sink.

The rows are written by :class:`connector.media.stage.MediaStage`; a message's deliveries read them
through it. Nothing here fetches anything.
"""
from __future__ import annotations

from datetime import datetime

from ..message import fixed_iso
from .base import _dumps, _now


class MediaMixin:
    def media_rows(self, message_id: int) -> dict[int, dict]:
        """``position -> row`` of a message's media rows (none for media never tried)."""
        with self._lock:
            rows = self.db.query("select * from media where message_id = ?", [message_id])
            return {row["position"]: row for row in rows}

    def save_medium(self, message_id: int, position: int, state: str, attempts: int, *,
                    result: dict | None = None, missing: dict | None = None, error: str | None = None,
                    next_attempt_at: datetime | None = None) -> None:
        """Record where one medium stands (insert or replace its row) and the event that says so."""
        with self._write():
            self.db.execute(
                "insert into media (message_id, position, state, attempts, next_attempt_at, result_json,"
                " missing_json, last_error, updated_at) values (?,?,?,?,?,?,?,?,?)"
                " on conflict (message_id, position) do update set state = excluded.state,"
                " attempts = excluded.attempts, next_attempt_at = excluded.next_attempt_at,"
                " result_json = excluded.result_json, missing_json = excluded.missing_json,"
                " last_error = excluded.last_error, updated_at = excluded.updated_at",
                [message_id, position, state, attempts, fixed_iso(next_attempt_at) if next_attempt_at else None,
                 _dumps(result) if result is not None else None, _dumps(missing) if missing is not None else None,
                 error, _now()])
            self._event(f"medium.{state}", message_id=message_id,
                        detail={"position": position, "attempts": attempts, "error": error})
