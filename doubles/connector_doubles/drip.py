"""A hostile HTTP server that answers one byte at a time, for ever (or until told to stop).

Per-read timeouts never fire against it: every read gets a byte before the timeout. It is the
test double for "a slow server keeps a poll open forever". Modes:

``headers``  drip the status line and headers themselves (the call never gets a response object)
``body``     send the headers at once with a large ``Content-Length``, then drip the body

``python -m connector_doubles.drip --port 8004 --mode body --interval 3`` runs one by hand.
"""
from __future__ import annotations

import argparse
import socket
import threading

FEED_START = (b'<?xml version="1.0" encoding="utf-8"?>\n<rss version="2.0"><channel><title>drip</title>'
              + b"<item><title>x</title></item>" * 4)


class DripServer:
    """``url``, ``port``, ``requests`` (how many were accepted), ``shutdown()``; a context manager."""

    def __init__(self, mode: str = "body", interval: float = 0.2, host: str = "127.0.0.1", port: int = 0):
        if mode not in ("headers", "body"):
            raise ValueError(f"unknown mode {mode!r}")
        self.mode, self.interval = mode, interval
        self._listener = socket.create_server((host, port))
        self.port = self._listener.getsockname()[1]
        self.url = f"http://{host}:{self.port}"
        self.requests = 0
        self._stop = threading.Event()
        threading.Thread(target=self._accept, name=f"drip-{self.port}", daemon=True).start()

    def _accept(self) -> None:
        self._listener.settimeout(0.1)
        while not self._stop.is_set():
            try:
                conn, _ = self._listener.accept()
            except OSError:
                continue
            self.requests += 1
            threading.Thread(target=self._drip, args=(conn,), daemon=True).start()

    def _payload(self):
        head = b"HTTP/1.1 200 OK\r\nContent-Type: application/rss+xml\r\nContent-Length: 1000000\r\n\r\n"
        if self.mode == "headers":
            yield from (head[i:i + 1] for i in range(len(head)))
        else:
            yield head
        while True:
            yield from (FEED_START[i:i + 1] for i in range(len(FEED_START)))

    def _drip(self, conn: socket.socket) -> None:
        with conn:
            conn.settimeout(5)
            try:
                conn.recv(65536)  # the request; its content does not matter
                for chunk in self._payload():
                    if self._stop.wait(self.interval):
                        return
                    conn.sendall(chunk)
            except OSError:
                return  # the client gave up: what we want

    def shutdown(self) -> None:
        self._stop.set()
        self._listener.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.shutdown()


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=8004, help="port to listen on")
    parser.add_argument("--mode", choices=("headers", "body"), default="body", help="what to drip")
    parser.add_argument("--interval", type=float, default=3.0, help="seconds between bytes")
    args = parser.parse_args(argv)
    server = DripServer(args.mode, args.interval, port=args.port)
    print(f"dripping ({args.mode}) on {server.url}", flush=True)
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        server.shutdown()


if __name__ == "__main__":
    main()
