"""An OpenID Connect provider double (as Keycloak or Microsoft Entra ID answer): discovery, authorize,
token, JWKS, for the web UI's single sign-on tests (:mod:`connector.web.oidc`).

It checks what a real provider checks and refuses the rest: the client id and its registered redirect
URI at ``/authorize``; at ``/token`` the client's secret (HTTP Basic), a code used once, within 60 s, for
the same redirect URI, and the PKCE verifier against the ``S256`` challenge. Its ``id_token`` is signed
RS256 with the key its JWKS publishes. ``user`` holds the claims of whoever "logs in" at ``/authorize``
(the double asks nobody); ``refuse`` makes ``/authorize`` answer ``access_denied``; ``tamper`` makes the
next ``id_token`` wrong in one way a client must catch: ``key`` (signed by another key), ``aud``,
``iss``, ``expired``, ``nonce``, ``none`` (unsigned). ``requests`` logs every call.
"""
from __future__ import annotations

import base64
import hashlib
import secrets
import time
from urllib.parse import urlencode

import jwt
from cryptography.hazmat.primitives.asymmetric import rsa
from flask import Flask, jsonify, redirect, request

from .serving import Running


def _key():
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


class OidcDouble:
    def __init__(self, client_id: str = "connector", client_secret: str = "oidc-client-secret-for-tests",
                 redirect_uris: tuple[str, ...] = ()):
        self.client_id, self.client_secret = client_id, client_secret
        self.redirect_uris = list(redirect_uris)
        self.key, self.other_key = _key(), _key()
        self.user: dict = {"sub": "f3b2c1", "preferred_username": "jdevries", "email": "j.devries@gemeente.example",
                           "groups": ["connector-archivarissen"]}
        self.refuse = False
        self.tamper: str | None = None
        self.codes: dict[str, dict] = {}
        self.requests: list[tuple[str, str]] = []
        self.issuer = ""

    def app(self) -> Flask:
        app = Flask(__name__)

        @app.before_request
        def log():
            self.requests.append((request.method, request.path))

        @app.get("/.well-known/openid-configuration")
        def discovery():
            return jsonify(issuer=self.issuer, authorization_endpoint=f"{self.issuer}/authorize",
                           token_endpoint=f"{self.issuer}/token", jwks_uri=f"{self.issuer}/jwks",
                           response_types_supported=["code"], subject_types_supported=["public"],
                           id_token_signing_alg_values_supported=["RS256"],
                           code_challenge_methods_supported=["S256"])

        @app.get("/jwks")
        def jwks():
            public = jwt.algorithms.RSAAlgorithm.to_jwk(self.key.public_key(), as_dict=True)
            return jsonify(keys=[{**public, "kid": "k1", "use": "sig", "alg": "RS256"}])

        @app.get("/authorize")
        def authorize():
            args = request.args
            if args.get("client_id") != self.client_id or args.get("redirect_uri") not in self.redirect_uris:
                return "unknown client or redirect_uri", 400  # a provider never redirects to an unknown URI
            target = args["redirect_uri"]
            state = args.get("state", "")
            if self.refuse:
                query = urlencode({"error": "access_denied", "state": state,
                                   "error_description": "De gebruiker weigerde"})
                return redirect(f"{target}?{query}")
            if args.get("response_type") != "code" or args.get("code_challenge_method") != "S256" \
                    or "openid" not in args.get("scope", "").split():
                return redirect(f"{target}?{urlencode({'error': 'invalid_request', 'state': state})}")
            code = secrets.token_urlsafe(24)
            self.codes[code] = {"at": time.time(), "redirect_uri": target, "nonce": args.get("nonce"),
                                "challenge": args.get("code_challenge"), "user": dict(self.user)}
            return redirect(f"{target}?{urlencode({'code': code, 'state': args.get('state', '')})}")

        @app.post("/token")
        def token():
            auth = request.authorization
            if auth is None or (auth.username, auth.password) != (self.client_id, self.client_secret):
                return jsonify(error="invalid_client"), 401
            form = request.form
            grant = self.codes.pop(form.get("code", ""), None)  # used once, whatever happens next
            if form.get("grant_type") != "authorization_code" or grant is None or time.time() - grant["at"] > 60 \
                    or form.get("redirect_uri") != grant["redirect_uri"]:
                return jsonify(error="invalid_grant"), 400
            verifier = form.get("code_verifier", "")
            challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
            if not secrets.compare_digest(challenge, grant["challenge"] or ""):
                return jsonify(error="invalid_grant", error_description="PKCE verification failed"), 400
            return jsonify(access_token=secrets.token_urlsafe(16), token_type="Bearer", expires_in=300,
                           id_token=self.id_token(grant["user"], grant["nonce"]))

        return app

    def id_token(self, user: dict, nonce: str | None) -> str:
        now = int(time.time())
        claims = {"iss": self.issuer, "aud": self.client_id, "iat": now, "exp": now + 300, "nonce": nonce, **user}
        tamper, self.tamper = self.tamper, None
        if tamper == "aud":
            claims["aud"] = "another-client"
        elif tamper == "iss":
            claims["iss"] = "https://evil.example"
        elif tamper == "expired":
            claims.update(iat=now - 4000, exp=now - 3600)
        elif tamper == "nonce":
            claims["nonce"] = "not-the-one-asked-for"
        if tamper == "none":
            return jwt.encode(claims, None, algorithm="none")
        key = self.other_key if tamper == "key" else self.key
        return jwt.encode(claims, key, algorithm="RS256", headers={"kid": "k1"})


def serve(double: OidcDouble, host: str = "127.0.0.1", port: int = 0) -> Running:
    running = Running(double.app(), host, port, name="oidc-double")
    double.issuer = running.url
    return running
