"""Where a channel's media may come from, how large they may be, and the checks that enforce it.

A medium's URL is written by whoever wrote the post or the feed: hostile input. Before any
connection :func:`check_url` refuses

* a scheme other than ``https`` (``http`` only when the channel itself is ``http``: local tests,
  an intranet feed); ``file:``, ``ftp:``, ``data:``, ``gopher:`` and the rest never;
* credentials in the URL (``https://user:pass@host/``), blanks, control characters and
  backslashes (parsers disagree about those: the classic way to make a checker and a fetcher see
  different hosts);
* a host that is not the channel's own host nor one of its media hosts (exact names, or
  ``*.example.org`` for any name under ``example.org``, not ``example.org`` itself);
* an IP-literal host unless that very literal is one of the allowed hosts.

When connecting, :func:`address_refusal` refuses every address that is not public (loopback,
private, link-local with the cloud metadata address 169.254.169.254, multicast, unspecified,
reserved) unless it lies in one of the policy's ``trusted_networks`` (default none; local tests
trust ``127.0.0.1/32``). The name is resolved once, the addresses are checked, and the socket is
connected to a checked address (:mod:`connector.media.download`), so a name that resolves to a public
address for a check and to 127.0.0.1 for the connection (DNS rebinding) gets nowhere.
"""
from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass, field
from urllib.parse import urlsplit

import marshmallow
from marshmallow import fields, validate

DEFAULT_MAX_BYTES = 200 * 1024 * 1024   # one medium (a video of a few minutes)
DEFAULT_FAMILIES = ("image", "video", "audio")
DEFAULT_MAX_REDIRECTS = 5
DEFAULT_TIMEOUT = 30.0     # seconds per connect / read
DEFAULT_DEADLINE = 600.0   # seconds for one medium: every redirect, the headers and the whole body

_LABEL = r"(?!-)[a-z0-9-]{1,63}(?<!-)"
_NAME = re.compile(rf"^{_LABEL}(\.{_LABEL})*$")
_PATTERN = re.compile(rf"^\*\.{_LABEL}(\.{_LABEL})+$")   # *.example.org: two labels at least
_UNSAFE = re.compile(r"[\x00-\x20\x7f\\]")


class Refused(Exception):
    """A medium's URL or address the policy does not allow; the text says which rule and what to change."""


def normal_host(host: str) -> str:
    """A host name as compared: lower case, no trailing dot, IDNA (``xn--``) for non-ASCII names,
    brackets off an IPv6 literal. Raises :class:`ValueError` for a name that has no IDNA form."""
    host = (host or "").strip().rstrip(".").lower()
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    if not host.isascii():
        import idna  # requests' own dependency: the form requests will connect to

        try:
            host = idna.encode(host, uts46=True).decode("ascii")
        except idna.IDNAError as exc:
            raise ValueError(f"{host!r} is not a valid host name ({exc})") from None
    return host


def ip_literal(host: str):
    """The address when ``host`` is an IP literal, else None."""
    try:
        return ipaddress.ip_address(host)
    except ValueError:
        return None


def valid_host_entry(entry: str) -> str:
    """A configured host (``media.example.org``, ``*.cdn.example.org``, ``127.0.0.1``), normalised;
    :class:`ValueError` when it is none of those."""
    if not isinstance(entry, str):
        raise ValueError(f"expected a host name, got {entry!r}")
    if entry.strip().startswith("*."):
        pattern = "*." + normal_host(entry.strip()[2:])
        if not _PATTERN.match(pattern):
            raise ValueError(f"{entry!r}: a pattern is '*.' and a domain of two labels at least ('*.example.org')")
        return pattern
    host = normal_host(entry)
    address = ip_literal(host)
    if address is not None:
        return address.compressed
    if not _NAME.match(host):
        raise ValueError(f"{entry!r} is not a host name (give a name such as 'media.example.org', no scheme or path)")
    return host


@dataclass(frozen=True)
class MediaPolicy:
    """What one channel's media fetches may do (see the module docstring)."""

    hosts: tuple[str, ...]
    max_bytes: int = DEFAULT_MAX_BYTES
    allow_http: bool = False
    families: tuple[str, ...] = DEFAULT_FAMILIES
    trusted_networks: tuple[str, ...] = ()
    max_redirects: int = DEFAULT_MAX_REDIRECTS
    timeout: float = DEFAULT_TIMEOUT
    deadline: float = DEFAULT_DEADLINE
    _networks: tuple = field(default=(), init=False, repr=False, compare=False)

    def __post_init__(self):
        if isinstance(self.hosts, str):
            raise TypeError("hosts: give a list of host names, not one string")
        object.__setattr__(self, "hosts", tuple(dict.fromkeys(valid_host_entry(h) for h in self.hosts)))
        if not self.hosts:
            raise ValueError("a media policy needs at least one host (the channel's own)")
        if not isinstance(self.max_bytes, int) or self.max_bytes < 1:
            raise ValueError(f"max_bytes must be a positive number of bytes, not {self.max_bytes!r}")
        object.__setattr__(self, "families", tuple(f.strip().lower().rstrip("/") for f in self.families))
        object.__setattr__(self, "_networks", tuple(ipaddress.ip_network(n, strict=False)
                                                    for n in self.trusted_networks))

    @classmethod
    def for_channel(cls, base_url: str, options: dict | None = None, **settings) -> "MediaPolicy":
        """The policy of a channel at ``base_url`` (a Mastodon instance, a feed URL): its host plus
        ``options["media_hosts"]``, at most ``options["max_media_bytes"]`` (options as
        :class:`MediaOptions` loads them); ``http`` media only when ``base_url`` is ``http``.
        ``settings`` overrides any other field (``trusted_networks=("127.0.0.1/32",)`` in tests)."""
        parts = urlsplit(base_url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"{base_url!r}: a channel's base URL is http(s)://host/...")
        options = options or {}
        settings.setdefault("max_bytes", options.get("max_media_bytes") or DEFAULT_MAX_BYTES)
        settings.setdefault("allow_http", parts.scheme == "http")
        return cls(hosts=(parts.hostname, *(options.get("media_hosts") or ())), **settings)

    # -- checks ----------------------------------------------------------------------------

    def host_allowed(self, host: str) -> bool:
        try:
            host = normal_host(host)
        except ValueError:
            return False
        address = ip_literal(host)
        if address is not None:
            return address.compressed in self.hosts
        return any(host == entry or (entry.startswith("*.") and host.endswith(entry[1:]))
                   for entry in self.hosts)

    def address_refusal(self, text: str) -> str | None:
        """None when a connection to the address ``text`` is allowed, else why not."""
        try:
            address = ipaddress.ip_address(text.split("%")[0])
        except ValueError:
            return f"{text!r} is not an IP address"
        if address.version == 6 and address.ipv4_mapped is not None:
            address = address.ipv4_mapped
        if any(address in network for network in self._networks):
            return None
        if address.is_loopback:
            kind = "a loopback address"
        elif address.is_link_local:
            kind = "a link-local address (where cloud metadata services live)"
        elif address.is_multicast or address.is_unspecified or address.is_reserved:
            kind = "not a unicast address"
        elif address.is_private or not address.is_global:
            kind = "a private address"
        else:
            return None
        return f"{address} is {kind}; media are fetched from public addresses only"

    def describe_hosts(self) -> str:
        return ", ".join(self.hosts)


def split_url(url, label: str = ""):
    """``urlsplit(url)`` of a URL that is a string without blanks, control characters or backslashes
    (which ``requests`` and a server may each read their own way) and with a numeric port, if any;
    :class:`Refused` (``label`` first) otherwise. Shared by the media and web-page checks."""
    if not isinstance(url, str) or not url:
        raise Refused(f"{label}no URL")
    if _UNSAFE.search(url):
        raise Refused(f"{label}the URL holds blanks, control characters or backslashes")
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises ValueError for a port that is not a number
    except ValueError as exc:
        raise Refused(f"{label}not a valid URL ({exc})") from None
    return parts


def check_url(url: str, policy: MediaPolicy, what: str = "") -> str:
    """The normalised host of ``url`` when the policy allows fetching it; :class:`Refused` otherwise.

    Makes no connection and no DNS lookup (the address is checked when connecting)."""
    label = f"{what}: " if what else ""
    parts = split_url(url, label)
    scheme = parts.scheme.lower()
    schemes = ("https", "http") if policy.allow_http else ("https",)
    if scheme not in schemes:
        why = "" if scheme not in ("http", "https") else " (http only for a channel that is http itself)"
        raise Refused(f"{label}scheme {scheme + ':' if scheme else '(none)'} is not allowed for media,"
                      f" only {' or '.join(schemes)}{why}")
    if "@" in parts.netloc:
        raise Refused(f"{label}credentials in a medium's URL are not allowed")
    try:
        host = normal_host(parts.hostname or "")
    except ValueError as exc:
        raise Refused(f"{label}{exc}") from None
    if not host:
        raise Refused(f"{label}the URL has no host")
    if not policy.host_allowed(host):
        literal = " (an IP address: allowed only when listed itself)" if ip_literal(host) is not None else ""
        raise Refused(f"{label}host {host!r}{literal} is not one of the channel's hosts or media hosts"
                      f" ({policy.describe_hosts()}); add it to the channel's media_hosts if it is the"
                      f" platform's own")
    address = ip_literal(host)
    if address is not None:
        reason = policy.address_refusal(host)
        if reason:
            raise Refused(f"{label}{reason}")
    return host


def _check_entry(entry: str) -> None:
    try:
        valid_host_entry(entry)
    except ValueError as exc:
        raise marshmallow.ValidationError(str(exc)) from None


class MediaOptions(marshmallow.Schema):
    """A channel's media options; a source's option schema inherits them (``class
    MastodonOptions(MediaOptions)``) or nests them. :meth:`MediaPolicy.for_channel` reads them."""

    media_hosts = fields.List(fields.Str(validate=_check_entry), load_default=list, metadata={
        "description": "hosts besides the channel's own that serve its media: exact names"
                       " (`files.example.org`) or `*.cdn.example.org` for every name under it"})
    max_media_bytes = fields.Int(load_default=DEFAULT_MAX_BYTES, validate=validate.Range(min=1), metadata={
        "description": "largest medium archived, in bytes; a larger one is recorded as missing"})
