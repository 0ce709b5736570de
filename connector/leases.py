"""One poller per channel when several workers share a store: the channel lease.

Several ``connector worker`` processes (on one machine or many) may run the same configuration against one
store. Each schedules a poll of every channel, but a channel's cursor must move in one line and a platform's
rate limit must be spent once, so a poll runs only under the channel's lease (``channels.lease_holder`` and
``lease_until``, :meth:`~connector.store.Store.take_channel`):

* :meth:`ChannelLease.take` before the poll reads the cursor; a poll that cannot take it is skipped
  (``PollResult.skipped = "polled by worker X"``): another worker is polling the channel right now.
* :meth:`ChannelLease.renew` before each page is saved: the lease lasts ``limits.channel_lease`` from the
  last renewal, so it must only outlast one page (fetch and save), not the whole poll. A renewal that fails
  means the lease ran out and another worker took it over: the poll stops without saving that page, so
  the cursor is only ever written by the lease's holder.
* :meth:`ChannelLease.release` when the poll ends, also on failure; a killed worker never releases, and its
  lease runs out after ``limits.channel_lease`` (default 15 minutes: over ``poll_deadline``, 10 minutes),
  unless it is known dead sooner: the next worker on the same host sees that its process is gone (:func:`gone`),
  or any worker, on any host, sees that the holder stopped beating (its ``workers`` row has not been renewed for
  ``limits.worker_stale_after``, 2 minutes, while a live worker beats every ``heartbeat_interval`` on a thread of
  its own, whatever its polls do) or recorded its stop. A holder that never beat (no row) is not judged.
  A holder that was only frozen (a paused VM) and wakes finds its lease taken at its next renewal and stops
  without saving, as after any takeover.

Worker ids (:func:`worker_id`) are ``host:pid:random``: readable in ``/status``, unique across restarts.
"""
from __future__ import annotations

import os
import socket
import uuid


_MINE: set[str] = set()  # the worker ids made in this process (several Connectors may share one, in tests)


def worker_id() -> str:
    """A new id for this process's worker: its host, its pid and a random part (a pid is reused)."""
    made = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
    _MINE.add(made)
    return made


def gone(holder: str | None) -> bool:
    """Whether ``holder`` was a worker on this host whose process is gone: a restarted worker (a new id) takes
    its predecessor's leases at once instead of waiting ``limits.channel_lease``. Only this host can know:
    the pid is not running, or it is this very process's pid under an id this process never made (a
    container restarted: same host name, same pid 1). Another host's worker is never judged here."""
    host, _, rest = (holder or "").partition(":")
    pid_text = rest.split(":", 1)[0]
    if host != socket.gethostname() or not pid_text.isdigit():
        return False
    pid = int(pid_text)
    if pid == os.getpid():
        return holder not in _MINE
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except (PermissionError, OSError):  # alive (another user's), or no way to tell
        return False
    return False


class ChannelLease:
    """``worker``'s lease on ``channel`` in ``store``, for ``seconds`` from each take or renewal."""

    def __init__(self, store, channel: str, worker: str, seconds: float, silent_after: float = 0.0):
        self.store, self.channel, self.worker, self.seconds = store, channel, worker, seconds
        self.silent_after = silent_after  # a holder not beating for this long is dead (0: wait for the lease)
        self.held = False

    def take(self) -> str | None:
        """None when this worker now holds the lease; otherwise the id of the worker that does."""
        holder = self.store.take_channel(self.channel, self.worker, self.seconds)
        if holder not in (None, self.worker) and (  # its worker died: take it over now
                gone(holder) or (self.silent_after and self.store.worker_silent(holder, self.silent_after))):
            holder = self.store.take_channel(self.channel, self.worker, self.seconds, dead=holder)
        self.held = holder == self.worker
        return None if self.held else (holder or "?")

    def renew(self) -> bool:
        """Still ours (and extended)? False: it ran out and another worker took it over."""
        self.held = self.held and self.store.renew_channel(self.channel, self.worker, self.seconds)
        return self.held

    def release(self) -> None:
        if self.held:
            self.store.release_channel(self.channel, self.worker)
            self.held = False
