"""HTTP sessions for sources and sinks: a total deadline on every call, and cheap environment lookups.

**Deadline.** ``requests``' ``timeout`` bounds each socket read, not the call: a server that
sends one byte every few seconds (headers or body) keeps a call, and with it a channel's poll or
a delivery, open forever. :class:`Session` gives every call a total ``deadline`` (seconds,
default :data:`DEFAULT_DEADLINE`). One watchdog thread per process shuts down a call's socket
when its deadline passes, so even a read blocked in the middle of a dripped header returns; the call then
raises :class:`DeadlineExceeded`, a :class:`requests.Timeout`, which the failure table classifies
as transient. With ``stream=True`` the deadline also covers reading the body, until the response
is closed or fully read. :func:`abort_all` ends every call in flight at once (a worker shutting
down after its grace period).

**Size.** Every answer's body is bounded (``max_body`` bytes, default :data:`DEFAULT_MAX_BODY`,
from ``limits.max_response_bytes``), counted after decompression so a small gzip bomb is refused
too: a server cannot fill the worker's memory. A declared ``Content-Length`` over the bound fails
at once; otherwise the read stops where the bound is passed. Either way the call raises
:class:`ResponseTooLarge` (a transient failure to the failure table, with the bound in its
message). Sources with a tighter bound of their own (a feed's ``max_bytes``) keep it.

**Environment.** ``requests`` re-reads proxy and CA-bundle settings from the environment on every
call (walking ``os.environ`` several times: about 4 ms of CPU per delivered message in our
pipeline benchmark, and GIL time that parallel deliveries then queue for). :class:`Session`
keeps honouring ``HTTPS_PROXY``, ``NO_PROXY`` and ``REQUESTS_CA_BUNDLE``, but works them out once
per host.

**Capture.** ``Session(capture=log, capture_label=channel)`` writes every exchange, redirects
included, to a :class:`connector.capture.CaptureLog` (WARC): the connection's response is tapped
for the bytes as received (``response_class``), and the exchange is written once its body is read
or the response closed (streamed bodies too, cut off at the size bound). Each ``requests.Response``
carries ``capture_ref`` (a :class:`~connector.capture.CaptureRef` once written, else ``None``).
The engine gives the sources such a session; sinks' calls are not captured.
"""
from __future__ import annotations

import contextlib
import heapq
import itertools
import socket
import threading
import time
import weakref
from urllib.parse import urlsplit

import requests
from requests.adapters import HTTPAdapter
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool

from . import __version__
from .capture import Tap, WireResponse

USER_AGENT = f"midoffice-connector/{__version__}"
DEFAULT_TIMEOUT = 30.0    # seconds per connect / read, when a caller gives none
DEFAULT_DEADLINE = 120.0  # seconds for a whole call: connect, send, headers and body
DEFAULT_MAX_BODY = 64 * 1024 * 1024  # bytes of one answer's body, after decompression


_DEFAULTS = {"timeout": DEFAULT_TIMEOUT, "deadline": DEFAULT_DEADLINE, "max_body": DEFAULT_MAX_BODY}


def set_defaults(*, timeout: float | None = None, deadline: float | None = None,
                 max_body: int | None = None) -> None:
    """Process-wide defaults for sessions created from now on (from the configuration's ``limits``)."""
    if timeout:
        _DEFAULTS["timeout"] = timeout
    if deadline:
        _DEFAULTS["deadline"] = deadline
    if max_body:
        _DEFAULTS["max_body"] = int(max_body)


class ResponseTooLarge(requests.RequestException):
    """An answer's body is larger than the session's bound (``limits.max_response_bytes``)."""


class DeadlineExceeded(requests.Timeout):
    """A call did not complete within its total deadline (a server dripping its answer, say)."""


class _Call:
    """One call in flight: the sockets it uses, and whether its deadline has passed."""

    def __init__(self, deadline: float, what: str):
        self.deadline = deadline
        self.what = what
        self.expired = False
        self.aborted = False
        self.done = False
        self.tap: Tap | None = None  # the capture of this call's exchanges, when the session has one
        self._sockets: list = []
        self._lock = threading.Lock()

    def start(self) -> None:
        with _ACTIVE_LOCK:
            _ACTIVE.add(self)
        _WATCHDOG.watch(self, time.monotonic() + self.deadline)

    def attach(self, sock) -> None:
        if sock is None:
            return
        with self._lock:
            self._sockets.append(sock)
            expired = self.expired and not self.done
        if expired:
            _shutdown(sock)

    def expire(self, aborted: bool = False) -> None:
        with self._lock:
            if self.done:
                return
            self.expired = True
            self.aborted = aborted
            sockets, self._sockets = self._sockets, []
        for sock in sockets:
            _shutdown(sock)

    def finish(self) -> None:
        with self._lock:
            self.done = True
            self._sockets = []
        with _ACTIVE_LOCK:
            _ACTIVE.discard(self)

    def error(self) -> DeadlineExceeded:
        if self.aborted:
            return DeadlineExceeded(f"{self.what}: cut off while the connector was shutting down")
        return DeadlineExceeded(f"{self.what}: no complete answer within the deadline of {self.deadline:g} s")


class _Watchdog:
    """One daemon thread that expires calls whose deadline passed (a heap; finished calls are skipped).

    A thread per call (``threading.Timer``) would cost a thread start for every request."""

    def __init__(self):
        self._heap: list = []
        self._order = itertools.count()
        self._wake = threading.Condition()
        self._thread: threading.Thread | None = None

    def watch(self, call: _Call, at: float) -> None:
        with self._wake:
            heapq.heappush(self._heap, (at, next(self._order), call))
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._run, name="http-deadlines", daemon=True)
                self._thread.start()
            elif self._heap[0][2] is call:
                self._wake.notify()

    def _run(self) -> None:
        while True:
            with self._wake:
                while self._heap and self._heap[0][2].done:
                    heapq.heappop(self._heap)  # finished in time: nothing to do
                if not self._heap:
                    self._wake.wait()
                    continue
                at, _, call = self._heap[0]
                delay = at - time.monotonic()
                if delay > 0:
                    self._wake.wait(delay)
                    continue
                heapq.heappop(self._heap)
            call.expire()


_WATCHDOG = _Watchdog()
_NO_TAP = contextlib.nullcontext()
_ACTIVE: "weakref.WeakSet[_Call]" = weakref.WeakSet()
_ACTIVE_LOCK = threading.Lock()
_CURRENT = threading.local()


def _shutdown(sock) -> None:
    try:
        sock.shutdown(socket.SHUT_RDWR)  # wakes a blocked recv in another thread; close() would not
    except OSError:
        pass


def abort_all() -> int:
    """End every call in flight now (they raise :class:`DeadlineExceeded`); returns how many."""
    with _ACTIVE_LOCK:
        calls = list(_ACTIVE)
    for call in calls:
        call.expire(aborted=True)
    return len(calls)


def _attach_current(sock) -> None:
    call = getattr(_CURRENT, "call", None)
    if call is not None:
        call.attach(sock)


class _WatchedMixin:
    """Connections that hand their socket to the call in flight on this thread (and its capture, if any)."""

    response_class = WireResponse

    def connect(self):
        super().connect()
        _attach_current(self.sock)

    def request(self, *args, **kwargs):
        _attach_current(self.sock)  # a kept-alive connection: connected during an earlier call
        return super().request(*args, **kwargs)

    def getresponse(self, *args, **kwargs):
        _attach_current(self.sock)
        return super().getresponse(*args, **kwargs)


class _Connection(_WatchedMixin, HTTPConnection):
    pass


class _TLSConnection(_WatchedMixin, HTTPSConnection):
    pass


class _Pool(HTTPConnectionPool):
    ConnectionCls = _Connection


class _TLSPool(HTTPSConnectionPool):
    ConnectionCls = _TLSConnection


class _Adapter(HTTPAdapter):
    def init_poolmanager(self, *args, **kwargs):
        super().init_poolmanager(*args, **kwargs)
        self.poolmanager.pool_classes_by_scheme = {"http": _Pool, "https": _TLSPool}

    def build_response(self, req, resp):
        response = super().build_response(req, resp)
        response.capture_ref = None  # a CaptureRef once the exchange is in the capture log
        recording = getattr(getattr(resp, "_original_response", None), "_recording", None)
        if recording is not None:
            recording.bind(response)
        return response

    def proxy_manager_for(self, proxy, **proxy_kwargs):
        manager = super().proxy_manager_for(proxy, **proxy_kwargs)
        manager.pool_classes_by_scheme = {"http": _Pool, "https": _TLSPool}
        return manager


class Session(requests.Session):
    """A ``requests.Session`` with a total deadline per call and, with ``capture``, a WARC capture log
    (see the module docstring)."""

    def __init__(self, user_agent: str = USER_AGENT, deadline: float | None = None, timeout: float | None = None,
                 max_body: int | None = None, capture=None, capture_label: str = ""):
        super().__init__()
        self.capture, self.capture_label = capture, capture_label  # a CaptureLog: every exchange into WARC
        self.headers["User-Agent"] = user_agent
        self.deadline = deadline or _DEFAULTS["deadline"]
        self.timeout = timeout or _DEFAULTS["timeout"]
        self.max_body = max_body or _DEFAULTS["max_body"]
        adapter = _Adapter()
        self.mount("http://", adapter)
        self.mount("https://", adapter)
        self._environment: dict[tuple, dict] = {}
        self._environment_lock = threading.Lock()

    def merge_environment_settings(self, url, proxies, stream, verify, cert):
        parts = urlsplit(url)
        key = (parts.scheme, parts.netloc, stream, verify, cert, tuple(sorted((proxies or {}).items())))
        with self._environment_lock:
            cached = self._environment.get(key)
        if cached is None:
            cached = super().merge_environment_settings(url, proxies, stream, verify, cert)
            with self._environment_lock:
                self._environment[key] = cached
        return dict(cached)

    def send(self, request, **kwargs):
        if kwargs.get("timeout") is None:
            kwargs["timeout"] = self.timeout
        parts = urlsplit(request.url)
        port = f":{parts.port}" if parts.port else ""  # never netloc: it may hold user:password
        call = _Call(self.deadline, f"{request.method} {parts.scheme}://{parts.hostname}{port}{parts.path}")
        outer = getattr(_CURRENT, "call", None)  # a redirect: the first call's deadline covers it
        if outer is not None:
            if outer.tap is not None:
                outer.tap.request(request)
            return super().send(request, **kwargs)
        _CURRENT.call = call
        call.start()
        stream = kwargs.get("stream", False)
        kwargs["stream"] = True  # the body is read below, under the size bound and the deadline
        if self.capture is not None:
            call.tap = Tap(self.capture, self.capture_label, lambda: call.expired)
            call.tap.request(request)
        try:
            with call.tap or _NO_TAP:
                response = super().send(request, **kwargs)
        except requests.RequestException as exc:
            call.finish()
            if call.expired:
                raise call.error() from exc
            raise
        except BaseException:
            call.finish()
            raise
        finally:
            _CURRENT.call = None
        _watch_body(response, call, self.max_body)
        if stream:
            return response
        with response:
            response.content  # noqa: B018 - reads the body now, as requests does without stream
        return response


def _watch_body(response: requests.Response, call: _Call, max_body: int) -> None:
    """Keep the deadline and the size bound on the body: its reads run on the caller's thread."""
    raw = response.raw
    original_read, original_close = raw.read, response.close
    declared = response.headers.get("Content-Length", "")
    if declared.isdigit() and int(declared) > max_body:
        error = _too_large(call, max_body, f"it declares {int(declared)} bytes")
        original_close()
        call.finish()
        raise error
    received = 0

    def count(data: bytes) -> None:
        nonlocal received
        if call.expired:  # the socket was shut down mid-read: what came back is a truncated body
            raise call.error()
        received += len(data or b"")
        if received > max_body:
            error = _too_large(call, max_body, f"more than {max_body} bytes arrived")
            original_close()
            call.finish()
            raise error

    def read(*args, **kwargs):
        if call.expired:
            raise call.error()
        try:
            data = original_read(*args, **kwargs)
        except Exception as exc:
            if call.expired:
                raise call.error() from exc
            raise
        count(data)
        if not data or (declared.isdigit() and raw.tell() >= int(declared)):
            call.finish()  # all of it is here (a reader need not ask for the empty end)
        return data

    original_chunked = raw.read_chunked  # urllib3 reads a chunked body here, not through read()

    def read_chunked(*args, **kwargs):
        try:
            for data in original_chunked(*args, **kwargs):
                count(data)
                yield data
        except ResponseTooLarge:
            raise
        except Exception as exc:
            if call.expired:
                raise call.error() from exc
            raise
        call.finish()

    def close():
        call.finish()
        return original_close()

    raw.read = read
    raw.read_chunked = read_chunked
    response.close = close


def _too_large(call: _Call, max_body: int, how: str) -> ResponseTooLarge:
    if call.tap is not None:
        call.tap.cut("length")
    return ResponseTooLarge(f"{call.what}: the answer is larger than limits.max_response_bytes={max_body}"
                            f" ({how}); raise the limit if such answers are expected")
