"""Serve a WSGI app on a threaded werkzeug server in a daemon thread (the doubles and the demo)."""
from __future__ import annotations

import threading

from werkzeug.serving import WSGIRequestHandler, make_server


class _QuietHandler(WSGIRequestHandler):
    # the doubles keep their own request logs; tests make thousands of calls: keep stderr readable
    def log_request(self, *args, **kwargs) -> None:
        pass


class Running:
    """A running server: ``url`` (no trailing slash), ``port``, ``shutdown()``; a context manager too.

    Starts at once; port 0 picks a free port. Raises ``OSError`` when the port is taken. With an
    ``ssl_context`` (``ssl.SSLContext``; one that requires client certificates for mutual TLS) it serves
    HTTPS.
    """

    def __init__(self, app, host: str = "127.0.0.1", port: int = 0, name: str = "server", quiet: bool = True,
                 ssl_context=None):
        self._server = make_server(host, port, app, threaded=True,
                                   request_handler=_QuietHandler if quiet else None, ssl_context=ssl_context)
        self.port = self._server.server_port
        self.url = f"{'https' if ssl_context is not None else 'http'}://{host}:{self.port}"
        # a short poll interval keeps shutdown() quick (tests start and stop many servers)
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05},
                                        name=f"{name}-{self.port}", daemon=True)
        self._thread.start()

    def shutdown(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.shutdown()


def wait_forever() -> None:
    """Block until Ctrl-C (for the doubles' standalone ``python -m`` commands)."""
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        pass


def report_until_interrupted(double, violation_label: str = "VIOLATION") -> None:
    """A double run on its own (``python -m connector_doubles.<name>``): print each new violation and each
    injected fault as it happens, until Ctrl-C (or SIGTERM turned into ``KeyboardInterrupt``)."""
    import time

    reported = faulted = 0
    try:
        while True:
            time.sleep(0.5)
            for violation in double.violations[reported:]:
                print(f"{violation_label} {violation}", flush=True)
            reported = len(double.violations)
            events = double.faults.events
            for method, path, kind in events[faulted:]:
                print(f"FAULT {kind} {method} {path}", flush=True)
            faulted = len(events)
    except KeyboardInterrupt:
        pass
