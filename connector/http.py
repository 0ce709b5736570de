"""HTTP sessions for sources and sinks.

``requests`` re-reads proxy and CA-bundle settings from the environment on every call (walking
``os.environ`` several times: about 4 ms of CPU per delivered message in our pipeline benchmark,
and GIL time that parallel deliveries then queue for). :class:`Session` keeps honouring
``HTTPS_PROXY``, ``NO_PROXY`` and ``REQUESTS_CA_BUNDLE``, but works them out once per host.
"""
from __future__ import annotations

import threading
from urllib.parse import urlsplit

import requests

from . import __version__

USER_AGENT = f"midoffice-connector/{__version__}"


class Session(requests.Session):
    def __init__(self, user_agent: str = USER_AGENT):
        super().__init__()
        self.headers["User-Agent"] = user_agent
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
