"""The Flask app of the StUF double and the pipeline every request goes through.

Order: fault plan (an outage or an injected 5xx answers before anything), HTTP Basic (401), content
type (SOAP 1.1 or 1.2, else 415), well-formed envelope of that SOAP version, SOAPAction names an
operation of the dialect whose body root it is, posted to that operation's endpoint, WS-Security
UsernameToken, schema validation of the payload, an injected StUF fault, then the handler. Every
refusal after the content type is a SOAP Fault with a Fo02 (Di02, Lv01) or Fo03 (Lk01) detail;
those that break the contract are recorded in ``double.violations``. Every answer the double builds
is validated as well: an invalid answer is a violation too (a bug in the double).
"""
from __future__ import annotations

from flask import Flask, Response, request
from lxml import etree

from ..serving import Running
from . import catalogue, schemas, soap
from .faults import InjectedError, cut_connection
from .handlers import HANDLERS, Call
from .soap import StufError

XML_TYPES = {version: f"{media}; charset=utf-8" for version, media in soap.CONTENT_TYPES.items()}


class Exchange:
    """One request on its way through the pipeline: what is known so far about it."""

    def __init__(self, double, path: str):
        self.double = double
        self.path = path
        info = soap.incoming(request.headers.get("Content-Type", ""), request.headers.get("SOAPAction"))
        self.soap_version = info.soap_version
        self.action = info.action
        self.hinted = catalogue.by_action(double.dialect, info.action)
        self.operation: catalogue.Operation | None = None
        self.candidates: list[catalogue.Operation] = []
        self.request = soap.Request()
        self.size = 0

    @property
    def fault_kind(self) -> str:
        chosen = self.operation or self.hinted or (self.candidates[0] if self.candidates else None)
        return chosen.fault if chosen else "Fo02"

    @property
    def name(self) -> str | None:
        chosen = self.operation or self.hinted
        return chosen.name if chosen else None

    def violation(self, finding: str) -> None:
        self.double.record(f"{self.path} {self.name or self.action or '?'}: {finding}")

    def answer(self, message: etree._Element) -> Response:
        if self.double.validate:
            for finding in schemas.errors(message, self.double.dialect):
                self.violation(f"response {etree.QName(message).localname}: {finding}")
        version = self.soap_version or "1.1"
        return Response(soap.envelope(version, message), status=200, content_type=XML_TYPES[version])

    def fault(self, error: StufError) -> Response:
        if error.violation:
            self.violation(f"request: {error.code} {error.omschrijving}"
                           + (f" ({error.details})" if error.details else ""))
        detail = soap.fout(self.fault_kind, self.request, error)
        if self.double.validate:
            for finding in schemas.errors(detail, self.double.dialect):
                self.violation(f"response {self.fault_kind}: {finding}")
        version = self.soap_version or "1.1"
        return Response(soap.fault_envelope(version, error, detail), status=soap.fault_status(version, error),
                        content_type=XML_TYPES[version])


def _injected(exchange: Exchange, error: InjectedError) -> Response:
    if error.status == 500:   # the StUF system's own error
        response = exchange.fault(StufError("StUF058", "server", "Proces voor afhandelen bericht geeft fout",
                                            details=f"StUF double: injected {error.kind}"))
    else:                      # a proxy in front of it
        response = Response(f"{error.status} {error.kind} (StUF double)\n", status=error.status,
                            content_type="text/plain; charset=utf-8")
    response.headers.update(error.headers)
    return response


def _bad_answer(exchange: Exchange, kind: str) -> Response:
    if kind == "empty":
        return Response(b"", status=200, content_type=XML_TYPES[exchange.soap_version or "1.1"])
    if kind == "html":
        return Response("<html><body><h1>It works!</h1></body></html>", status=200, content_type="text/html")
    if kind == "wrong_crossref" and exchange.fault_kind == "Fo03":
        other = ("x" + (exchange.request.referentienummer or "unknown"))[:40]
        return exchange.answer(soap.bv03(exchange.request, crossref=other))
    return Response(b"\x00\x01 this is no SOAP \xff", status=200,
                    content_type=XML_TYPES[exchange.soap_version or "1.1"])


def _work(exchange: Exchange, plan) -> Response:
    double = exchange.double
    if double.basic_auth is not None:
        auth = request.authorization
        if auth is None or (auth.username, auth.password) != tuple(double.basic_auth):
            return Response("401 Unauthorized (StUF double)\n", status=401, content_type="text/plain",
                            headers={"WWW-Authenticate": 'Basic realm="StUF double"'})
    if exchange.soap_version not in double.soap_versions:
        served = " or ".join(f"SOAP {v} ({soap.CONTENT_TYPES[v]})" for v in double.soap_versions)
        exchange.violation(f"request: content type {request.headers.get('Content-Type')!r}; served: {served}")
        exchange.soap_version = None   # nothing to answer in
        return Response(f"415 Unsupported Media Type: {served} (StUF double)\n", status=415,
                        content_type="text/plain")
    data = request.get_data(cache=False)
    exchange.size = len(data)
    try:
        try:
            envelope = etree.fromstring(data, soap.parser())
        except etree.XMLSyntaxError as exc:
            raise StufError("StUF055", "client", "Bericht is geen goedgevormde XML", details=str(exc),
                            violation=True)
        del data
        if envelope.getroottree().docinfo.doctype:   # SOAP forbids a DTD; entities are not expanded either
            raise StufError("StUF055", "client", "Een SOAP bericht mag geen DTD bevatten", violation=True)
        header, message = soap.payload(envelope, exchange.soap_version)
        exchange.request = soap.Request.of(message)
        exchange.candidates = catalogue.by_root(double.dialect, message.tag)
        _check_operation(exchange, message)
        _check_token(double, header)
        if double.validate:
            found = schemas.errors(message, double.dialect)
            if found:
                raise StufError("StUF055", "client", "Berichtbody is niet conform schema in sectormodel",
                                details="; ".join(found), violation=True)
        if plan.stuf is not None:
            code, plek, omschrijving = plan.stuf
            raise StufError(code, plek, omschrijving, details="StUF double: injected stuf_fault")
        operation = exchange.operation
        call = Call(double.dialect, operation, message, exchange.request, double.state, double.lenient)
        with double.state.lock:
            answer = HANDLERS[operation.kind](call)
    except StufError as error:
        return exchange.fault(error)
    return exchange.answer(answer)


def _check_operation(exchange: Exchange, message: etree._Element) -> None:
    double, action = exchange.double, exchange.action
    if not exchange.candidates:
        raise StufError("StUF022", "client", f"Bericht {etree.QName(message).localname} onbekend in ZDS"
                        f" {double.dialect}", details=f"body root {message.tag} is no operation of the"
                        f" double's dialect {double.dialect}", violation=True)
    if exchange.hinted is None:
        expected = " or ".join(op.action for op in exchange.candidates)
        raise StufError("StUF022", "client", "SOAPAction ontbreekt of is onbekend",
                        details=f"SOAPAction {action!r}; for this body: {expected}", violation=True)
    if exchange.hinted not in exchange.candidates:
        raise StufError("StUF022", "client", "SOAPAction past niet bij het bericht",
                        details=f"SOAPAction {action!r} with body root {message.tag}", violation=True)
    exchange.operation = exchange.hinted
    expected = double.endpoints[exchange.operation.service]
    if exchange.path != expected:
        raise StufError("StUF022", "client", f"{exchange.operation.name} hoort bij service"
                        f" {exchange.operation.service}", details=f"posted to {exchange.path}, its endpoint is"
                        f" {expected}", violation=True)


def _check_token(double, header) -> None:
    if double.username_token is None:
        return
    user, password, kind = soap.username_token(header)
    if user is None:
        raise StufError("StUF052", "client", "Het zendende systeem is niet geautoriseerd",
                        details="no WS-Security UsernameToken in the SOAP header")
    if kind not in (None, soap.PASSWORD_TEXT) or (user, password) != tuple(double.username_token):
        raise StufError("StUF052", "client", "Het zendende systeem is niet geautoriseerd",
                        details="WS-Security UsernameToken: wrong user name, password or password type")


def handle(double, path: str) -> Response:
    exchange = Exchange(double, path)
    plan = double.faults.plan("POST", path, exchange.name)
    pause = double.latency + plan.pause_before
    if pause:
        double.sleep(pause)   # outside every lock, so concurrent clients overlap
    response = _injected(exchange, plan.before) if plan.before is not None else _work(exchange, plan)
    if plan.pause_after:
        double.sleep(plan.pause_after)
    if plan.after is not None:
        response = _injected(exchange, plan.after)   # the work is done all the same
    elif plan.answer is not None and response.status_code == 200:
        response = _bad_answer(exchange, plan.answer)
    with double.state.lock:
        double.requests.append({"operation": exchange.name, "soap_action": exchange.action, "endpoint": path,
                                "dialect": double.dialect, "soap_version": exchange.soap_version,
                                "size": exchange.size, "status": response.status_code})
    if plan.cut:
        cut_connection(request.environ)   # nobody will read the answer
    return response


def create_app(double) -> Flask:
    app = Flask("connector_doubles.stuf")
    services = {path: service for service, path in double.endpoints.items()}

    @app.route("/", defaults={"path": ""}, methods=["GET", "POST"])
    @app.route("/<path:path>", methods=["GET", "POST"])
    def dispatch(path):
        path = "/" + path
        if path not in services:
            return Response(f"404 no StUF service at {path} (StUF double)\n", status=404, content_type="text/plain")
        if request.method != "POST":
            return Response("405 POST a SOAP message (StUF double)\n", status=405, content_type="text/plain",
                            headers={"Allow": "POST"})
        return handle(double, path)

    return app


class Server(Running):
    """A running StUF double: ``url``, ``endpoints`` (service -> full URL), ``shutdown()``."""

    def __init__(self, double, host: str, port: int, ssl_context=None, quiet: bool = True):
        super().__init__(create_app(double), host, port, name="stuf-double", quiet=quiet,
                         ssl_context=ssl_context)
        self.endpoints = {service: self.url + path for service, path in double.endpoints.items()}
