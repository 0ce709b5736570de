"""Single sign-on with the organisation's OpenID Connect provider (``web.oidc``), beside the local accounts.

The authorization code flow with PKCE (RFC 7636, ``S256``), as Keycloak, Microsoft Entra ID and
the other providers municipalities run offer it:

* ``GET /login/sso`` reads the provider's ``/.well-known/openid-configuration`` (cached per process),
  keeps a random ``state``, ``nonce`` and PKCE verifier in the session and sends the browser to the
  provider's ``authorization_endpoint``.
* ``GET /login/sso/terug`` (the redirect URI to register at the provider: ``https://HOST/login/sso/terug``)
  checks ``state``, trades the code for tokens at the ``token_endpoint`` (client_secret_basic, with the
  verifier) and verifies the ``id_token`` with PyJWT against the provider's JWKS: signature (RS256, RS384,
  RS512, ES256, ES384, PS256 only: never ``none`` or a shared secret), ``iss``, ``aud`` (our client id),
  ``exp``/``iat`` (60 s leeway), and our ``nonce``.
* The role comes from ``roles_claim`` (a list or a string; default ``groups``) through ``roles``: the
  strongest role any of the user's values is mapped to. No role: refused, with the reason in the audit
  trail. The account (:meth:`connector.store.users.UsersMixin.sso_user`) is named by ``username_claim``
  (then ``email``, then ``sso-`` and a hash of the subject), bound to issuer and subject, and never takes
  over a local account. Its role follows the provider at every login; an admin can disable it.

Every refusal is a Dutch page without the provider's tokens or our secret; the provider's own
``error`` and ``error_description`` are shown as text.
"""
from __future__ import annotations

import base64
import hashlib
import re
import secrets
import threading
import time
from urllib.parse import urlencode, urlsplit

import jwt
import requests
from flask import Blueprint, current_app, redirect, render_template, request, session, url_for

from ..store.users import NAME, ROLES

bp = Blueprint("sso", __name__)
ALGORITHMS = ["RS256", "RS384", "RS512", "ES256", "ES384", "PS256"]
DISCOVERY_TTL = 3600.0
_CACHE: dict[str, tuple[float, dict, jwt.PyJWKClient]] = {}
_CACHE_LOCK = threading.Lock()


class SsoError(Exception):
    """Why single sign-on did not log the user in (Dutch, shown to them and recorded)."""


def settings() -> dict | None:
    return current_app.config["CONNECTOR"].web.get("oidc")


def _check_url(url: str, what: str) -> str:
    parts = urlsplit(url or "")
    loopback = parts.hostname in ("127.0.0.1", "localhost", "::1")
    if parts.scheme != "https" and not (parts.scheme == "http" and loopback):
        raise SsoError(f"de identiteitsprovider gaf geen https-adres voor {what}")
    return url


def provider(oidc: dict) -> tuple[dict, jwt.PyJWKClient]:
    """The provider's metadata and a JWKS client, read once per hour per process."""
    issuer = oidc["issuer"].rstrip("/")
    with _CACHE_LOCK:
        cached = _CACHE.get(issuer)
        if cached and time.monotonic() - cached[0] < DISCOVERY_TTL:
            return cached[1], cached[2]
    url = _check_url(f"{issuer}/.well-known/openid-configuration", "de configuratie")
    try:
        response = requests.get(url, timeout=oidc["timeout"])
        response.raise_for_status()
        meta = response.json()
    except (requests.RequestException, ValueError) as exc:
        raise SsoError(f"de identiteitsprovider is niet bereikbaar ({type(exc).__name__})") from exc
    if not isinstance(meta, dict) or meta.get("issuer", "").rstrip("/") != issuer:
        raise SsoError("de configuratie van de identiteitsprovider noemt een andere issuer")
    for key in ("authorization_endpoint", "token_endpoint", "jwks_uri"):
        _check_url(meta.get(key, ""), key)
    jwks = jwt.PyJWKClient(meta["jwks_uri"], cache_keys=True, timeout=int(oidc["timeout"]))
    with _CACHE_LOCK:
        _CACHE[issuer] = (time.monotonic(), meta, jwks)
    return meta, jwks


def _callback() -> str:
    return url_for("sso.callback", _external=True)


@bp.get("/login/sso")
def start():
    oidc = settings()
    if not oidc:
        return _refused("Single sign-on is niet ingesteld.", 404)
    try:
        meta, _ = provider(oidc)
    except SsoError as exc:
        return _refused(str(exc), 502)
    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    session["sso"] = {"state": secrets.token_urlsafe(24), "nonce": secrets.token_urlsafe(24), "verifier": verifier,
                      "next": request.args.get("next", "")[:500]}
    query = {"response_type": "code", "client_id": oidc["client_id"], "redirect_uri": _callback(),
             "scope": oidc["scopes"], "state": session["sso"]["state"], "nonce": session["sso"]["nonce"],
             "code_challenge": challenge, "code_challenge_method": "S256"}
    return redirect(f"{meta['authorization_endpoint']}?{urlencode(query)}")


@bp.get("/login/sso/terug")
def callback():
    oidc = settings()
    pending = session.pop("sso", None)
    if not oidc:
        return _refused("Single sign-on is niet ingesteld.", 404)
    if "error" in request.args:
        said = f"{request.args.get('error', '')[:100]} {request.args.get('error_description', '')[:300]}".strip()
        return _refused(f"De identiteitsprovider weigerde de aanmelding: {said}", 401)
    if not pending or not secrets.compare_digest(request.args.get("state", ""), pending["state"]):
        return _refused("Deze aanmelding is verlopen of niet hier begonnen; probeer het opnieuw.", 400)
    try:
        claims = _verified_claims(oidc, request.args.get("code", ""), pending)
        name, role = _account(oidc, claims)
        store = current_app.config["STORE"]
        user = store.sso_user(name, role, f"{claims['iss']} {claims['sub']}")
    except (SsoError, ValueError) as exc:
        current_app.config["STORE"].event("web.login", detail={"sso": True, "ok": False, "reason": str(exc)[:300],
                                                               "ip": request.remote_addr})
        return _refused(str(exc), 403)
    if user["disabled"]:
        store.record_login(name, False, request.remote_addr, reason="disabled (sso)")
        return _refused("Dit account is uitgeschakeld in de connector.", 403)
    from .auth import _safe_next

    session.clear()
    session.permanent = True
    session.update(user=user["name"], stamp=user["password_changed_at"], csrf=secrets.token_urlsafe(32))
    store.record_login(user["name"], True, request.remote_addr, role=user["role"], reason="sso")
    return redirect(_safe_next(pending.get("next")))


def _verified_claims(oidc: dict, code: str, pending: dict) -> dict:
    meta, jwks = provider(oidc)
    if not code:
        raise SsoError("de identiteitsprovider gaf geen code terug")
    try:
        response = requests.post(meta["token_endpoint"], timeout=oidc["timeout"], auth=(
            oidc["client_id"], oidc["client_secret"]), data={
            "grant_type": "authorization_code", "code": code[:4096], "redirect_uri": _callback(),
            "code_verifier": pending["verifier"]}, headers={"Accept": "application/json"})
        body = response.json() if response.content else {}
    except (requests.RequestException, ValueError) as exc:
        raise SsoError(f"de identiteitsprovider gaf geen token ({type(exc).__name__})") from exc
    if response.status_code != 200 or not isinstance(body, dict) or not isinstance(body.get("id_token"), str):
        said = str(body.get("error", "")) if isinstance(body, dict) else ""
        raise SsoError(f"de identiteitsprovider gaf geen token (HTTP {response.status_code} {said[:100]})".strip())
    token = body["id_token"]
    try:
        key = jwks.get_signing_key_from_jwt(token)
        claims = jwt.decode(token, key.key, algorithms=ALGORITHMS, audience=oidc["client_id"],
                            issuer=meta["issuer"], leeway=60, options={"require": ["exp", "iat", "iss", "aud", "sub"]})
    except jwt.PyJWTError as exc:
        raise SsoError(f"het id_token van de identiteitsprovider klopt niet ({type(exc).__name__})") from exc
    if not secrets.compare_digest(str(claims.get("nonce", "")), pending["nonce"]):
        raise SsoError("het id_token hoort niet bij deze aanmelding (nonce)")
    return claims


def _account(oidc: dict, claims: dict) -> tuple[str, str]:
    """The account name and strongest role the claims give; :class:`SsoError` when no role."""
    values = claims.get(oidc["roles_claim"], [])
    values = {values} if isinstance(values, str) else {str(v) for v in values} if isinstance(values, list) else set()
    granted = [role for role, groups in oidc["roles"].items() if values & set(groups)]
    if not granted:
        raise SsoError("uw account heeft bij de identiteitsprovider geen groep die toegang geeft tot de connector")
    role = max(granted, key=ROLES.index)
    for key in (oidc["username_claim"], "email"):
        name = claims.get(key)
        if isinstance(name, str) and NAME.match(name):
            return name, role
    digest = hashlib.sha256(f"{claims['iss']} {claims['sub']}".encode()).hexdigest()[:16]
    return f"sso-{re.sub('[^a-z0-9]', '', digest)}", role


def _refused(text: str, status: int):
    return render_template("melding.html", titel="Aanmelden niet gelukt", tekst=text,
                           terug=url_for("auth.login")), status
