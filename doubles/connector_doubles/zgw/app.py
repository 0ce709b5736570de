"""The Flask app of the ZGW double and the pipeline every request goes through.

Order as in Open Zaak (Django REST framework): route (404/405), content negotiation (406),
authentication (403), CRS headers on /zaken (412), then the body/parameter checks (400), then
the handler. Independently of that order, every request is checked against the spec and every
response the double produces too; findings go to ``double.violations``. Around all of it,
``double.faults`` (faults.py) may delay a request, answer a 5xx before or after the handler ran,
or cut the connection.
"""
from __future__ import annotations

import json
import os
import re
import tempfile
import time

import jwt
from flask import Flask, Request, Response, request
from werkzeug.wsgi import wrap_file
from ..serving import Running

from . import documents, handlers
from .faults import cut_connection, fault_findings
from .handlers import Call, Reply
from .problems import Problem
from .state import ZAKEN, absolute
from .validation import FORM_PREVIEW, api_version, request_problems, response_problems

_COMPILED = [(method, base, re.compile(re.escape(base) + pattern + "$"), fn)
             for method, base, pattern, fn in handlers.ROUTES + documents.ROUTES]
FORMS = ("multipart/form-data", "application/x-www-form-urlencoded")


def _route(method: str, path: str):
    allowed = False
    for route_method, base, regex, fn in _COMPILED:
        match = regex.match(path)
        if match:
            if route_method == method:
                return base, fn, match.groupdict()
            allowed = True
    if allowed:
        raise Problem(405, "method_not_allowed", f'Methode "{method}" niet toegestaan.')
    raise Problem(404, "not_found", "Niet gevonden.")


def authenticate(double, header: str) -> None:
    """Raise the 403 Open Zaak gives for a missing or unacceptable JWT."""
    if not header.startswith("Bearer "):
        raise Problem(403, "not_authenticated", "Authenticatiegegevens zijn niet opgegeven.")
    token = header[len("Bearer "):]
    try:
        claims = jwt.decode(token, options={"verify_signature": False})
    except jwt.DecodeError:
        raise Problem(403, "jwt-decode-error",
                      "JWT could not be decoded. Possibly you made a copy-paste mistake.")
    if "client_id" not in claims:
        raise Problem(403, "missing-client-identifier", "Client identifier is niet aanwezig in JWT")
    if claims["client_id"] not in double.client_ids:
        raise Problem(403, "invalid-client-identifier", "Client identifier bestaat niet")
    try:
        jwt.decode(token, double.secret, algorithms=["HS256"],
                   options={"verify_iat": False, "verify_exp": False, "verify_nbf": False})
    except jwt.InvalidSignatureError:
        raise Problem(403, "invalid-jwt-signature", "Client credentials zijn niet geldig")
    except jwt.InvalidTokenError as exc:
        raise Problem(403, "jwt-decode-error", f"JWT is ongeldig: {exc}")
    iat = claims.get("iat")
    now = time.time()
    if not isinstance(iat, (int, float)):
        raise Problem(403, "jwt-missing-iat-claim", "De iat-claim ontbreekt in de JWT.")
    if iat > now + double.leeway:
        raise Problem(403, "jwt-immature-signature", "De JWT is uitgegeven in de toekomst.")
    if iat + double.jwt_expiry < now - double.leeway:
        raise Problem(403, "jwt-expired", "De JWT is verlopen.")


def check_crs(path: str, method: str, headers) -> None:
    """Open Zaak's geo negotiation, which only the /zaken resource (and _zoek) has."""
    if not re.match(rf"^{ZAKEN}/zaken(/[^/]+|/_zoek)?$", path):
        return
    if method in ("POST", "PUT", "PATCH"):
        crs = headers.get("Content-Crs")
        if crs is None:
            raise Problem(412, "precondition_failed", "'Content-Crs' header ontbreekt")
        if crs != "EPSG:4326":
            raise Problem(406, "not_acceptable", f"CRS '{crs}' is niet ondersteund")
    crs = headers.get("Accept-Crs")
    if crs is None:
        raise Problem(412, "precondition_failed", "'Accept-Crs' header ontbreekt")
    if crs != "EPSG:4326":
        raise Problem(406, "not_acceptable", f"CRS '{crs}' is niet ondersteund")


def _json_response(status: int, body, root: str, headers: dict, problem: bool) -> Response:
    return Response(json.dumps(absolute(body, root), ensure_ascii=False), status=status,
                    headers=headers,
                    mimetype="application/problem+json" if problem else "application/json")


def _problem_response(problem: Problem, base: str | None, root: str) -> Response:
    headers = {"API-version": api_version(base)} if base else {}
    headers.update(getattr(problem, "headers", {}))
    return _json_response(problem.status, problem.body(root), root, headers, True)


def handle(double) -> Response:
    """Run one request through the whole pipeline, counted in ``double.in_flight`` meanwhile."""
    with double.state.lock:
        double.requests.append((request.method, request.path))
        double.in_flight += 1
    try:
        return _handle(double)
    finally:
        if request.mimetype in FORMS:
            _drop_uploads()
        with double.state.lock:
            double.in_flight -= 1


def _drop_uploads() -> None:
    """Remove the files of this request's uploads that no handler moved into place."""
    for upload in request.files.values():
        name = getattr(upload.stream, "name", None)
        upload.stream.close()
        if isinstance(name, str) and os.path.exists(name):
            os.unlink(name)


def _handle(double) -> Response:
    method, path = request.method, request.path
    root = request.host_url.rstrip("/")
    plan = double.faults.plan(method, path)
    pause = double.pause_for(method, path) + plan.pause_before
    if pause:
        double.sleep(pause)   # outside every lock, so concurrent clients overlap
    base = streamed = None
    try:
        try:
            base, fn, kwargs = _route(method, path)
        except Problem:
            if plan.before is None:
                raise
        if request.mimetype in FORMS:
            request.files   # parse now, outside every lock: uploads stream to disk (UploadRequest)
        params = request_problems(base, request) if double.validate and base else []
        if params:
            double.record(method, path, "request: " + "; ".join(
                f"{p.name}: {p.code} ({p.reason})" for p in params))
        if plan.before is not None:
            raise plan.before   # nothing is done
        if fn is documents.document_download and request.accept_mimetypes and \
                request.accept_mimetypes.best_match(["application/octet-stream"]) is None:
            raise Problem(406, "not_acceptable",
                          "Kan niet voldoen aan de opgegeven Accept header.")
        authenticate(double, request.headers.get("Authorization", ""))
        check_crs(path, method, request.headers)
        if params:
            raise Problem(400, "invalid", "Invalid input.", params)
        form = request.mimetype in FORMS
        call = Call(double.state, root, path, request.args.to_dict(),
                    None if form else request.get_json(silent=True), double.page_size,
                    double.lenient, double.part_size, double.part_locks,
                    request.form.to_dict() if form else {}, request.files.to_dict() if form else {},
                    double.forced, request.headers.get("X-Audit-Toelichting", ""))
        with double.state.lock:
            reply: Reply = fn(call, **kwargs)
        headers = {"API-version": api_version(base), **reply.headers}
        if reply.path is not None:   # a large file: streamed from disk, never read whole
            streamed = reply.path
            headers["Content-Length"] = str(os.path.getsize(reply.path))
            response = Response(wrap_file(request.environ, open(reply.path, "rb"), 1 << 20),
                                status=reply.status, headers=headers,
                                mimetype="application/octet-stream", direct_passthrough=True)
        elif reply.raw is not None:
            response = Response(reply.raw, status=reply.status, headers=headers,
                                mimetype="application/octet-stream")
        elif reply.status == 204:
            response = Response(status=204, headers=headers)
        else:
            response = _json_response(reply.status, reply.body, root, headers, problem=False)
    except Problem as problem:
        if base is None and double.validate:
            double.record(method, path, f"request: {problem.status}: no such operation in the "
                          "specs, or not implemented by the double")
        response = _problem_response(problem, base, root)
    if plan.pause_after:
        double.sleep(plan.pause_after)
    if plan.after is not None:
        response = _problem_response(plan.after, base, root)   # the work is done all the same
    if plan.cut and cut_connection(request.environ):
        return response   # nobody will read it
    if double.validate and base is not None:
        check = fault_findings if plan.injected else response_problems
        # a streamed body would be read whole by the validator: it checks a stand-in with the
        # same status and headers and the file's first bytes (the spec's download body is any
        # binary: nothing more to check in it)
        checked = response
        if response.direct_passthrough and streamed is not None:
            with open(streamed, "rb") as head:
                checked = Response(head.read(FORM_PREVIEW), status=response.status_code,
                                   headers=list(response.headers.items()))
        for finding in check(base, request, checked):
            double.record(method, path, f"response {response.status_code}: {finding}")
    return response


def create_app(double) -> Flask:
    app = Flask("connector_doubles.zgw")

    class UploadRequest(Request):
        # werkzeug spools an uploaded file to an anonymous temporary file (or memory when it is
        # small); the double wants it as a named file in its upload folder, so that a complete
        # bestandsdeel is moved into place instead of copied
        def _get_file_stream(self, total_content_length, content_type, filename=None,
                             content_length=None):
            return tempfile.NamedTemporaryFile("w+b", dir=double.state.upload_dir,
                                               prefix="upload-", delete=False)

    app.request_class = UploadRequest

    @app.route("/", defaults={"path": ""}, methods=["GET", "POST", "PUT", "PATCH", "DELETE"])
    @app.route("/<path:path>", methods=["GET", "POST", "PUT", "PATCH", "DELETE"])
    def dispatch(path):
        return handle(double)

    return app


class Server(Running):
    """A running double: ``url``, ``zaken_url``, ``documenten_url``, ``catalogi_url``, ``shutdown()``."""

    def __init__(self, double, host: str, port: int, quiet: bool = True):
        super().__init__(create_app(double), host, port, name="zgw-double", quiet=quiet)
        self.zaken_url = self.url + "/zaken/api/v1"
        self.documenten_url = self.url + "/documenten/api/v1"
        self.catalogi_url = self.url + "/catalogi/api/v1"
