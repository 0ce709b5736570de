"""Download one medium to disk under a :class:`~connector.media.policy.MediaPolicy`.

:func:`fetch` streams the body into a temporary file in the target folder (never whole in
memory), hashing SHA-256 as it writes, and renames it into place (``<sha256><ext>``, atomic) only
when it is complete. It raises :class:`~connector.failures.Failed`; the failure's ``detail``
holds ``{"reason": ...}``, one of :data:`REASONS`.

* **Connections.** A :class:`MediaSession` connects only to checked addresses: its connections
  resolve the host once, drop every address the policy refuses, and connect the socket to one
  that passed (TLS still verifies the certificate against the host name). Redirects are followed
  here, at most ``policy.max_redirects``, every hop checked like the first URL. No proxy and no
  ``.netrc``: media go straight to the platform's hosts (a proxy would resolve names itself,
  beyond these checks).
* **Size.** A ``Content-Length`` over ``policy.max_bytes`` is refused before the body is read; a
  body passing the bound while streaming is cut off there and its partial file removed.
* **Encoding.** Media are asked for with ``Accept-Encoding: identity``. A server that compresses
  anyway has its ``Content-Encoding`` undone while streaming, and the bound counts the decoded
  bytes (a small gzip bomb is refused). The stored file is the medium itself, the representation
  its ``Content-Type`` names (RFC 9110 8.4): a ``.png`` holding gzip bytes would be no PNG.
* **Type.** The answer's ``Content-Type`` must be one of ``policy.families`` (image, video,
  audio), of the attachment's declared family when it declares one. ``application/octet-stream``
  (or none), as object stores often send, is accepted only when the first bytes are a known
  image, video or audio format; that type is then recorded.
* **Time.** ``policy.deadline`` bounds the whole fetch (every redirect and the body);
  ``policy.timeout`` each connect and read.
"""
from __future__ import annotations

import hashlib
import mimetypes
import os
import socket
import sys
import tempfile
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from urllib.parse import urljoin

import requests
from urllib3.exceptions import ConnectTimeoutError, NameResolutionError, NewConnectionError
from urllib3.util import connection as urllib3_connection

from .. import http
from ..failures import (PERMANENT, RATE_LIMITED, RETRY, Failed, Failure, classify_exception,
                        retry_at_from_headers, verdict_for)
from ..message import Attachment
from ..redact import redact_url
from .policy import MediaPolicy, Refused, check_url, normal_host

CHUNK = 64 * 1024
OCTET_STREAM = ("", "application/octet-stream", "binary/octet-stream")
REASONS = ("refused", "oversize", "wrong_type", "http_status", "transport", "redirects", "empty")

# a medium's HTTP errors: a missing medium is no operator's business (the shared table says
# "configuration" for 401/403/404, meant for a channel's own base URL)
MEDIA_ERROR_MAPPING = {401: PERMANENT, 403: PERMANENT, 404: PERMANENT, 410: PERMANENT,
                       408: RETRY, 425: RETRY, 429: RATE_LIMITED}


@dataclass(frozen=True)
class MediaResult:
    """A medium on disk: ``path`` (``<sha256><ext>`` in the folder), ``size``, ``sha256``, its
    ``media_type`` (from the answer, or sniffed), the alt text (``description``), the attachment's
    URL and the URL finally fetched after redirects (both redacted), when."""

    path: Path
    size: int
    sha256: str
    media_type: str
    description: str
    source_url: str
    fetched_from: str
    fetched_at: datetime
    declared_type: str = ""

    def to_dict(self) -> dict:
        return {"path": str(self.path), "size": self.size, "sha256": self.sha256, "media_type": self.media_type,
                "description": self.description, "source_url": self.source_url,
                "fetched_from": self.fetched_from, "fetched_at": self.fetched_at.isoformat(),
                "declared_type": self.declared_type}


def _resolve(host: str, port: int) -> list[str]:
    """The addresses of ``host``, in the resolver's order (tests replace this function)."""
    found = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return list(dict.fromkeys(info[4][0] for info in found))


class _Guarded:
    """A connection that resolves its host once and connects only to addresses the policy allows."""

    media_policy: MediaPolicy  # set on the per-session subclass

    def _new_conn(self):
        policy = self.media_policy
        if getattr(self, "_tunnel_host", None):
            raise Refused("media are not fetched through a proxy")
        host = normal_host(self._dns_host)
        if not policy.host_allowed(host):  # never reached through fetch(); a second line of defence
            raise Refused(f"host {host!r} is not one of the channel's hosts or media hosts"
                          f" ({policy.describe_hosts()})")
        try:
            addresses = _resolve(host, self.port)
        except socket.gaierror as exc:
            raise NameResolutionError(self.host, self, exc) from exc
        allowed = [a for a in addresses if policy.address_refusal(a) is None]
        if not allowed:
            reasons = "; ".join(policy.address_refusal(a) for a in addresses) or "no address"
            raise Refused(f"host {host!r} resolves to {', '.join(addresses) or 'nothing'}: {reasons}")
        error: OSError | None = None
        for address in allowed:  # the checked addresses, not a second lookup of the name
            try:
                sock = urllib3_connection.create_connection(
                    (address, self.port), self.timeout, source_address=self.source_address,
                    socket_options=self.socket_options)
            except socket.timeout as exc:
                raise ConnectTimeoutError(self, f"Connection to {self.host} ({address}) timed out") from exc
            except OSError as exc:
                error = exc
                continue
            sys.audit("http.client.connect", self, self.host, self.port)
            return sock
        raise NewConnectionError(self, f"Failed to establish a new connection: {error}")


class _Adapter(http._Adapter):
    def __init__(self, policy: MediaPolicy):
        connection = type("_MediaConnection", (_Guarded, http._Connection), {"media_policy": policy})
        tls = type("_MediaTLSConnection", (_Guarded, http._TLSConnection), {"media_policy": policy})
        self._pools = {"http": type("_MediaPool", (http._Pool,), {"ConnectionCls": connection}),
                       "https": type("_MediaTLSPool", (http._TLSPool,), {"ConnectionCls": tls})}
        super().__init__()

    def init_poolmanager(self, *args, **kwargs):
        super().init_poolmanager(*args, **kwargs)
        self.poolmanager.pool_classes_by_scheme = dict(self._pools)

    def proxy_manager_for(self, proxy, **proxy_kwargs):
        raise Refused("media are not fetched through a proxy")


class MediaSession(http.Session):
    """An :class:`connector.http.Session` that connects only where ``policy`` allows (see the
    module docstring). :func:`fetch` sets its deadline per hop: use one session per thread."""

    def __init__(self, policy: MediaPolicy):
        # the size bound is fetch()'s own (its message names max_media_bytes); the http layer's is off
        super().__init__(deadline=policy.deadline, timeout=policy.timeout, max_body=sys.maxsize)
        self.policy = policy
        self.trust_env = False  # no proxies, no .netrc credentials sent to a medium's host
        self.verify = os.environ.get("REQUESTS_CA_BUNDLE") or os.environ.get("CURL_CA_BUNDLE") or True
        self.headers["Accept-Encoding"] = "identity"
        self.headers["Accept"] = ", ".join(f"{family}/*" for family in policy.families) + ", */*;q=0.1"
        adapter = _Adapter(policy)
        self.mount("http://", adapter)
        self.mount("https://", adapter)


def _failure(verdict: str, reason: str, message: str, url: str, **extra) -> Failed:
    retry_at = extra.pop("retry_at", None)
    return Failed(Failure(verdict, message, url=url, detail={"reason": reason, **extra}, status=extra.get("status"),
                          retry_at=retry_at))


def family(media_type: str) -> str:
    """``image`` for ``image/png; q=1``, ``""`` for none or a bare word."""
    base = (media_type or "").split(";")[0].strip().lower()
    return base.split("/")[0] if "/" in base else ""


def fetch(attachment: Attachment, policy: MediaPolicy, folder, session: MediaSession | None = None) -> MediaResult:
    """Download ``attachment`` into ``folder`` under ``policy``; raises :class:`Failed` (see the module docstring)."""
    source = redact_url(attachment.url)
    what = f"medium {source}"
    declared = family(attachment.media_type)
    if declared and declared not in policy.families:
        raise _failure(PERMANENT, "wrong_type", f"{what}: declared as {attachment.media_type!r}, not one of"
                       f" {'/, '.join(policy.families)}/", source)
    try:
        check_url(attachment.url, policy, what)
    except Refused as exc:
        raise _failure(PERMANENT, "refused", str(exc), source) from None
    if session is not None and session.policy != policy:
        raise ValueError("the session was made for another media policy")
    own, session = session is None, session or MediaSession(policy)
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    end = time.monotonic() + policy.deadline
    url = attachment.url
    try:
        for _ in range(policy.max_redirects + 1):
            session.deadline = max(end - time.monotonic(), 0.001)
            try:
                response = session.get(url, stream=True, allow_redirects=False)
            except Refused as exc:
                raise _failure(PERMANENT, "refused", f"{what}: {exc}", source) from None
            except requests.RequestException as exc:
                raise _transport(exc, what, source, policy) from None
            with response:
                if response.is_redirect:
                    location = urljoin(url, response.headers["Location"])
                    try:
                        check_url(location, policy, f"{what}: redirected to {redact_url(location)}")
                    except Refused as exc:
                        raise _failure(PERMANENT, "refused", str(exc), source) from None
                    url = location
                    continue
                return _store(response, attachment, policy, folder, what, source, url)
        raise _failure(PERMANENT, "redirects", f"{what}: more than {policy.max_redirects} redirects", source)
    finally:
        if own:
            session.close()


def _store(response, attachment, policy: MediaPolicy, folder: Path, what: str, source: str, url: str) -> MediaResult:
    status = response.status_code
    if status >= 400:
        raise _http_failure(response, what, source)
    if status != 200:
        raise _failure(PERMANENT, "http_status", f"{what}: HTTP {status}, expected 200 with the medium", source,
                       status=status)
    declared_length = response.headers.get("Content-Length", "").strip()
    if declared_length.isdigit() and int(declared_length) > policy.max_bytes:
        raise _oversize(what, source, policy, f"it declares {int(declared_length)} bytes")
    media_type = (response.headers.get("Content-Type") or "").split(";")[0].strip().lower()
    sniff_needed = media_type in OCTET_STREAM
    if not sniff_needed:
        _check_type(media_type, attachment, policy, what, source, "the server sent")
    handle, temporary = tempfile.mkstemp(dir=folder, prefix=".medium-", suffix=".part")
    digest, size, head = hashlib.sha256(), 0, b""
    try:
        with os.fdopen(handle, "wb") as out:
            for chunk in response.iter_content(CHUNK):
                size += len(chunk)
                if size > policy.max_bytes:
                    raise _oversize(what, source, policy, f"more than {policy.max_bytes} bytes arrived")
                if sniff_needed and len(head) < 64:
                    head += chunk[:64 - len(head)]
                    if len(head) >= 64:
                        media_type = _sniffed(head, attachment, policy, what, source)
                        sniff_needed = False
                digest.update(chunk)
                out.write(chunk)
            if size == 0:
                raise _failure(PERMANENT, "empty", f"{what}: the server sent an empty body", source)
            if sniff_needed:
                media_type = _sniffed(head, attachment, policy, what, source)
            out.flush()
            os.fsync(out.fileno())
        sha256 = digest.hexdigest()
        final = folder / f"{sha256}{_extension(media_type)}"
        os.replace(temporary, final)
        _sync_folder(folder)
    except requests.RequestException as exc:
        _remove(temporary)
        raise _transport(exc, what, source, policy) from None
    except BaseException:
        _remove(temporary)
        raise
    return MediaResult(path=final, size=size, sha256=sha256, media_type=media_type,
                       description=attachment.description or "", source_url=source,
                       fetched_from=redact_url(url), fetched_at=datetime.now(timezone.utc),
                       declared_type=attachment.media_type or "")


def _transport(exc: requests.RequestException, what: str, source: str, policy: MediaPolicy) -> Failed:
    """A timeout, a lost connection, a broken encoding: transient. (The deadline of a hop is what
    was left of the medium's: the message names the medium's.)"""
    failure = classify_exception(exc, what)
    message = failure.message
    if isinstance(exc, http.DeadlineExceeded) and "shutting down" not in str(exc):
        message = f"{what}: not complete within the deadline of {policy.deadline:g} s for one medium"
    return _failure(failure.verdict, "transport", message, source)


def _sync_folder(folder: Path) -> None:
    """Make the rename itself durable (where the platform lets a directory be synced)."""
    try:
        handle = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(handle)
    except OSError:
        pass
    finally:
        os.close(handle)


def _remove(path: str) -> None:
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass


def _oversize(what: str, source: str, policy: MediaPolicy, how: str) -> Failed:
    return _failure(PERMANENT, "oversize", f"{what}: larger than max_media_bytes={policy.max_bytes} ({how});"
                    f" raise the channel's max_media_bytes to archive such media", source, limit=policy.max_bytes)


def _check_type(media_type: str, attachment, policy: MediaPolicy, what: str, source: str, how: str) -> None:
    found, declared = family(media_type), family(attachment.media_type)
    if found not in policy.families:
        raise _failure(PERMANENT, "wrong_type", f"{what}: {how} {media_type or 'no type'}, not one of"
                       f" {'/, '.join(policy.families)}/", source, media_type=media_type)
    if declared and found != declared:
        raise _failure(PERMANENT, "wrong_type", f"{what}: {how} {media_type}, but the message declares"
                       f" {attachment.media_type}", source, media_type=media_type)


def _sniffed(head: bytes, attachment, policy, what: str, source: str) -> str:
    media_type = sniff(head)
    _check_type(media_type, attachment, policy, what, source, "the server sent application/octet-stream holding")
    return media_type


def sniff(head: bytes) -> str:
    """The media type of a few common image, video and audio formats from their first bytes; ``""``."""
    if head.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png"
    if head[:6] in (b"GIF87a", b"GIF89a"):
        return "image/gif"
    if head[:4] == b"RIFF" and head[8:12] in (b"WEBP", b"WAVE"):
        return "image/webp" if head[8:12] == b"WEBP" else "audio/wav"
    if head[4:8] == b"ftyp":
        brand = head[8:12]
        return {b"avif": "image/avif", b"heic": "image/heic", b"M4A ": "audio/mp4"}.get(brand, "video/mp4")
    if head.startswith(b"\x1a\x45\xdf\xa3"):
        return "video/webm"
    if head.startswith(b"OggS"):
        return "audio/ogg"
    if head.startswith(b"fLaC"):
        return "audio/flac"
    if head.startswith(b"ID3") or (len(head) > 1 and head[0] == 0xFF and head[1] & 0xE0 == 0xE0):
        return "audio/mpeg"
    return ""


def _extension(media_type: str) -> str:
    return {"image/jpeg": ".jpg", "audio/mpeg": ".mp3", "audio/mp4": ".m4a"}.get(media_type) \
        or mimetypes.guess_extension(media_type) or ".bin"


def _http_failure(response, what: str, source: str) -> Failed:
    """An error answer, its body read only up to 4 KiB (the size bound is off on a media session)."""
    status = response.status_code
    body = b""
    try:
        for chunk in response.iter_content(1024):
            body += chunk
            if len(body) >= 4096:
                break
    except requests.RequestException:
        pass
    verdict = verdict_for(status, MEDIA_ERROR_MAPPING)
    retry_at = retry_at_from_headers(response.headers) if verdict in (RETRY, RATE_LIMITED) else None
    text = body[:500].decode("utf-8", "replace").strip()
    return _failure(verdict, "http_status", f"{what}: HTTP {status}", source, status=status, retry_at=retry_at,
                    body=text)
