"""Keep credentials out of everything the connector shows or stores: logs, errors, status, documents.

A channel may be configured with credentials inside its URL
(``https://user:${PASS}@host/feed?api_key=${KEY}``). The connector fetches with the real URL;
every *representation* of it goes through this module first.

Rules
-----
* **Userinfo** (``user:password@``) is replaced as a whole: ``https://***@host/feed``. A user name
  alone can be a token (``https://TOKEN@host``), so no part of it is kept.
* **Query and fragment parameters** whose name looks secret get the value ``***``; other parameters
  stay as they were. A name is secret when, lower-cased and with ``-`` read as ``_``, it is one
  of :data:`SECRET_PARAMS` or ends in one of :data:`SECRET_SUFFIXES` (``consumer_key``,
  ``X-Amz-Signature``, ``private_token``). ``code`` (OAuth) is deliberately not on the list: it
  is short-lived and too often an ordinary parameter (a municipality code).
* **Registered secret values** are replaced by ``***`` wherever they occur, also URL-encoded:
  :mod:`connector.config` registers every value that comes from ``${ENV}`` into a secret-looking
  key (``secret``, ``token``, ...) or into a URL's credentials (see above). Values shorter than
  :data:`MIN_SECRET_LENGTH` are not registered: they would turn ordinary words into ``***``.

:func:`redact_url` applies the rules to one URL, :func:`redact_text` to free text (error messages,
``requests``' ``... Max retries exceeded with url: /feed?api_key=...``), :func:`redact` to nested
JSON-like data. :func:`install_log_redaction` makes every log record pass :class:`RedactingFilter`
(its message and its exception text), also records for handlers added later.
"""
from __future__ import annotations

import logging
import re
import threading
import traceback
from urllib.parse import quote, unquote, urlsplit

MASK = "***"
MIN_SECRET_LENGTH = 8
SECRET_PARAMS = frozenset({
    "access_token", "api_key", "apikey", "auth", "auth_token", "authorization", "client_secret",
    "credential", "credentials", "id_token", "jwt", "key", "pass", "passwd", "password", "private_token",
    "pwd", "refresh_token", "secret", "sessionid", "sig", "signature", "token",
})
SECRET_SUFFIXES = ("_apikey", "_credential", "_key", "_password", "_secret", "_signature", "_token")

# scheme://anything-up-to-whitespace-or-quote: URLs inside free text
# (trailing punctuation belongs to the sentence: "GET https://h/x?key=1: HTTP 500")
# A scheme starts only where a run of scheme characters starts (the lookbehind) and is taken whole
# (possessive ``*+``): without both, "a.a.a.a..." tried a scheme at every letter and rescanned the
# rest each time, quadratic time on hostile text (320 kB of it took 53 s).
_URL_IN_TEXT = re.compile(r"(?<![a-zA-Z0-9+.-])[a-zA-Z][a-zA-Z0-9+.-]*+://[^\s'\"<>`]*[^\s'\"<>`.,:;!?)\]]")
# name=value after ? & ; or #: query parameters of relative URLs too ("url: /feed?api_key=...")
_PARAM_IN_TEXT = re.compile(r"(?<=[?&;#])([A-Za-z0-9_.%\-]+)=((?:[^&;#\s'\"<>`]*[^&;#\s'\"<>`.,:!?)\]])?)")

_secrets: set[str] = set()
_secrets_lock = threading.Lock()
_pattern: re.Pattern | None = None


def is_secret_param(name: str) -> bool:
    """Does a query parameter called ``name`` carry a credential? (See the module docstring.)"""
    normal = unquote(name).strip().lower().replace("-", "_")
    return normal in SECRET_PARAMS or normal.endswith(SECRET_SUFFIXES)


# -- registered secret values ------------------------------------------------------------------

def register_secret(value) -> None:
    """From now on, ``value`` (and its URL-encoded form) is shown as ``***`` wherever it appears."""
    global _pattern
    if not isinstance(value, str) or len(value) < MIN_SECRET_LENGTH:
        return
    forms = {value, quote(value, safe=""), quote(value, safe="/:")}
    with _secrets_lock:
        if forms <= _secrets:
            return
        _secrets.update(forms)
        # longest first, so a secret containing another one is masked as a whole
        _pattern = re.compile("|".join(re.escape(s) for s in sorted(_secrets, key=len, reverse=True)))


def forget_secrets() -> None:
    """Clear the registry (tests)."""
    global _pattern
    with _secrets_lock:
        _secrets.clear()
        _pattern = None


def _mask_registered(text: str) -> str:
    pattern = _pattern
    return pattern.sub(MASK, text) if pattern is not None and text else text


# -- URLs ------------------------------------------------------------------------------------

def _redact_params(text: str) -> str:
    return _PARAM_IN_TEXT.sub(lambda m: f"{m.group(1)}={MASK}" if is_secret_param(m.group(1)) else m.group(0),
                              text)


def redact_url(url: str) -> str:
    """``url`` with userinfo, secret parameter values and registered secrets replaced by ``***``.

    Only those parts change; everything else stays exactly as written (no re-encoding).
    """
    if not url or not isinstance(url, str):
        return url
    try:
        netloc = urlsplit(url).netloc
    except ValueError:
        netloc = ""
    if "@" in netloc:
        url = url.replace(netloc, MASK + "@" + netloc.rpartition("@")[2], 1)
    return _mask_registered(_redact_params(url))


def url_secret_parts(url: str) -> list[tuple[str, str]]:
    """The credential parts of ``url`` as ``(description, value)``: what :func:`redact_url` masks.

    ``description`` is ``"password in the URL"``, ``"user name in the URL"`` (userinfo without a
    password: a token) or ``"value of query parameter 'api_key'"``. Used by the configuration to
    refuse literal credentials and to register the ones that come from the environment.
    """
    try:
        parts = urlsplit(url)
    except ValueError:
        return []
    found = []
    if "@" in parts.netloc:
        userinfo = parts.netloc.rpartition("@")[0]
        if ":" in userinfo:
            found.append(("password in the URL", userinfo.partition(":")[2]))
        else:
            found.append(("user name in the URL", userinfo))
    for where, text in (("query", parts.query), ("fragment", parts.fragment)):
        for pair in re.split(r"[&;]", text):
            name, sep, value = pair.partition("=")
            if sep and is_secret_param(name):
                label = "query parameter" if where == "query" else "fragment parameter"
                found.append((f"value of {label} {unquote(name)!r}", value))
    return found


def looks_like_url(text: str) -> bool:
    return isinstance(text, str) and re.match(r"^\s*[a-zA-Z][a-zA-Z0-9+.-]*://", text) is not None


def register_url_secrets(url: str) -> None:
    """Register the credential values inside ``url`` (also in their decoded form). A PostgreSQL URL's lone
    user name is a database role (its password is in ``PGPASSWORD``), not a secret: registering a word such as
    ``connector`` would mask it everywhere (:func:`redact_url` still masks the URL's userinfo)."""
    if not looks_like_url(url):
        return
    role_only = url.strip().lower().startswith(("postgresql://", "postgres://"))
    for what, value in url_secret_parts(url.strip()):
        if role_only and what == "user name in the URL":
            continue
        register_secret(value)
        register_secret(unquote(value))


# -- free text and data ----------------------------------------------------------------------

def redact_text(text):
    """``text`` with every URL in it redacted, bare ``?name=value`` secrets and registered values masked."""
    if not text or not isinstance(text, str):
        return text
    text = _URL_IN_TEXT.sub(lambda m: redact_url(m.group(0)), text)
    return _mask_registered(_redact_params(text))


def redact(value):
    """Nested dicts/lists/tuples with every string redacted by :func:`redact_text`; a copy."""
    if isinstance(value, str):
        return redact_text(value)
    if isinstance(value, dict):
        return {key: redact(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(redact(item) for item in value)
    return value


# -- logging ---------------------------------------------------------------------------------

class RedactingFilter(logging.Filter):
    """Rewrites a record in place: its formatted message, exception and stack text, redacted.

    The message is formatted once here (``msg`` becomes the redacted text, ``args`` empty) and
    the exception text is put in ``exc_text``, which formatters use instead of formatting the
    exception themselves. Never drops a record.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        if getattr(record, "_redacted", False):
            return True
        try:
            message = record.getMessage()
        except Exception:  # bad arguments: logging would report them later, unredacted
            message = f"{record.msg} (log arguments could not be formatted)"
        record.msg, record.args = redact_text(str(message)), ()
        if record.exc_info and record.exc_info[0] is not None and not record.exc_text:
            record.exc_text = "".join(traceback.format_exception(*record.exc_info)).rstrip("\n")
        if record.exc_text:
            record.exc_text = redact_text(record.exc_text)
        if record.stack_info:
            record.stack_info = redact_text(record.stack_info)
        record._redacted = True
        return True


_installed = None
_install_lock = threading.Lock()


def install_log_redaction() -> None:
    """Redact every log record of this process from now on (idempotent).

    The filter runs when a record is created (through the log record factory), so it covers every
    handler, also those added later (werkzeug's, pytest's ``caplog``), and every logger.
    """
    global _installed
    with _install_lock:
        if _installed is not None:
            return
        previous = logging.getLogRecordFactory()
        redacting = RedactingFilter()

        def factory(*args, **kwargs):
            record = previous(*args, **kwargs)
            redacting.filter(record)
            return record

        logging.setLogRecordFactory(factory)
        _installed = previous


def uninstall_log_redaction() -> None:
    """Undo :func:`install_log_redaction` (tests)."""
    global _installed
    with _install_lock:
        if _installed is not None:
            logging.setLogRecordFactory(_installed)
            _installed = None


__all__ = ["MASK", "RedactingFilter", "forget_secrets", "install_log_redaction", "is_secret_param",
           "looks_like_url", "redact", "redact_text", "redact_url", "register_secret", "register_url_secrets",
           "uninstall_log_redaction", "url_secret_parts"]
