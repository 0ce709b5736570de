"""The endpoints of the double: what Open Zaak 1.21.0 does for each, in memory.

Each handler gets a :class:`Call` (run under the state lock) and returns a :class:`Reply` or
raises :class:`Problem`. Syntax was already checked against the spec; handlers add the business
rules Open Zaak enforces (RSIN, existing and published types, uniqueness, allowed relations).
A lenient call (``Call.lenient``) skips the uniqueness rules only: a second zaak or document with
the same identificatie, or a second link of the same pair, is stored like the first.
"""
from __future__ import annotations

import datetime as dt
import re
import uuid as uuidlib
from dataclasses import dataclass, field
from urllib.parse import urlencode, urlsplit

from .problems import Problem, invalid, not_found
from .state import CATALOGI, DOCUMENTEN, ZAKEN, State, new_zaak, rsin_problem
from .validation import Param


@dataclass
class Call:
    state: State
    root: str              # "http://127.0.0.1:8001", from the request's Host
    path: str
    args: dict             # query parameters (first value of each)
    body: object = None
    page_size: int = 100
    lenient: bool = False  # accept duplicate identificaties and links (no uniqueness rules)
    part_size: int = 4 << 30   # bytes per bestandsdeel of a large file (Open Zaak default 4 GiB)
    part_locks: str = "document"  # "document": every part carries the document's lock; "own"
    form: dict = field(default_factory=dict)    # form fields of a multipart/urlencoded body
    files: dict = field(default_factory=dict)   # uploaded files (werkzeug FileStorage, on disk)
    forced: bool = True    # the client may update definitief documents and unlock without the lock
    audit: str = ""        # the X-Audit-Toelichting header (the reason of a change, for the audit trail)


@dataclass
class Reply:
    status: int
    body: object = None
    headers: dict = field(default_factory=dict)
    raw: bytes | None = None   # binary body (download) instead of JSON
    path: object = None        # a file on disk to stream as the binary body (large downloads)


_UUID = r"[0-9a-fA-F-]{36}"
DOES_NOT_EXIST = "Ongeldige hyperlink - Object bestaat niet."
NO_MATCH = "Ongeldige hyperlink - Geen overeenkomende URL."


def own_path(call: Call, url: str) -> str | None:
    """The stored path for a URL pointing at this double, or None for any other host."""
    parts = urlsplit(url or "")
    if f"{parts.scheme}://{parts.netloc}" != call.root:
        return None
    return parts.path


def lookup(call: Call, name: str, url: str, base: str, collection: str, store: dict) -> dict:
    """The resource a request field refers to, or the 400 Open Zaak gives for a bad link."""
    path = own_path(call, url)
    match = re.fullmatch(rf"{re.escape(base)}/{collection}/({_UUID})", path or "")
    if not match:
        raise invalid(Param(name, "no_match" if path is not None else "bad-url", NO_MATCH))
    if match.group(1) not in store:
        raise invalid(Param(name, "does_not_exist", DOES_NOT_EXIST))
    return store[match.group(1)]


def _as_path(call: Call, value: str) -> str:
    # filters compare stored paths; a URL of another host can never match
    return own_path(call, value) or f"\0{value}"


def paginate(call: Call, items: list) -> Reply:
    try:
        page = int(call.args.get("page", 1))
    except ValueError:
        page = 0
    pages = max(1, -(-len(items) // call.page_size))
    if not 1 <= page <= pages:
        raise Problem(404, "not_found", "Ongeldige pagina.")

    def link(number):
        if not 1 <= number <= pages:
            return None
        return f"{call.root}{call.path}?" + urlencode({**call.args, "page": number})

    start = (page - 1) * call.page_size
    return Reply(200, {"count": len(items), "next": link(page + 1),
                       "previous": link(page - 1), "results": items[start:start + call.page_size]})


def _filtered(call: Call, store: dict, filters: dict) -> list:
    """Resources whose field equals each given query parameter (``urls`` ones as paths)."""
    items = list(store.values())
    for param, (fieldname, is_url) in filters.items():
        if param in call.args:
            wanted = _as_path(call, call.args[param]) if is_url else call.args[param]
            items = [i for i in items if i.get(fieldname) == wanted]
        if f"{param}__in" in call.args:
            wanted = set(call.args[f"{param}__in"].split(","))
            items = [i for i in items if i.get(fieldname) in wanted]
    return items


def _status(call: Call, items: list) -> list:
    # Catalogi: without ?status only published (definitief) types are listed
    status = call.args.get("status", "definitief")
    if status == "alles":
        return items
    return [i for i in items if i["concept"] == (status == "concept")]


def detail(store_name: str):
    def handler(call: Call, uuid: str) -> Reply:
        resource = getattr(call.state, store_name).get(uuid)
        if resource is None:
            raise not_found()
        return Reply(200, resource)
    return handler


# --- Catalogi ---------------------------------------------------------------------------------

def catalogussen(call: Call) -> Reply:
    return paginate(call, _filtered(call, call.state.catalogussen,
                                    {"domein": ("domein", False), "rsin": ("rsin", False)}))


def zaaktypen(call: Call) -> Reply:
    items = _filtered(call, call.state.zaaktypen, {
        "catalogus": ("catalogus", True), "identificatie": ("identificatie", False)})
    return paginate(call, _status(call, items))


def informatieobjecttypen(call: Call) -> Reply:
    items = _filtered(call, call.state.informatieobjecttypen, {
        "catalogus": ("catalogus", True), "omschrijving": ("omschrijving", False)})
    return paginate(call, _status(call, items))


def zaaktype_informatieobjecttypen(call: Call) -> Reply:
    items = _filtered(call, call.state.ztiots, {
        "zaaktype": ("zaaktype", True), "informatieobjecttype": ("informatieobjecttype", True),
        "richting": ("richting", False)})
    zaaktypen = {z["url"]: z for z in call.state.zaaktypen.values()}
    status = call.args.get("status", "definitief")
    if status != "alles":
        items = [i for i in items if zaaktypen[i["zaaktype"]]["concept"] == (status == "concept")]
    return paginate(call, items)


# --- Zaken ------------------------------------------------------------------------------------

CRS = {"Content-Crs": "EPSG:4326"}


def zaken_list(call: Call) -> Reply:
    items = _filtered(call, call.state.zaken, {
        "identificatie": ("identificatie", False), "bronorganisatie": ("bronorganisatie", False),
        "zaaktype": ("zaaktype", True)})
    reply = paginate(call, items)
    reply.headers.update(CRS)
    return reply


def zaak_detail(call: Call, uuid: str) -> Reply:
    reply = detail("zaken")(call, uuid)
    reply.headers.update(CRS)
    return reply


def _check_rsin(data: dict, *names: str) -> None:
    for name in names:
        if name in data and (problem := rsin_problem(data[name])):
            raise invalid(Param(name, *problem))


def _check_unique(call: Call, store: dict, data: dict) -> None:
    if call.lenient:
        return
    for other in store.values():
        if (other["identificatie"], other["bronorganisatie"]) == (
                data["identificatie"], data["bronorganisatie"]):
            raise invalid(Param("identificatie", "identificatie-niet-uniek",
                                "Deze identificatie bestaat al binnen de bronorganisatie"))


def zaak_create(call: Call) -> Reply:
    data = dict(call.body)
    _check_rsin(data, "bronorganisatie", "verantwoordelijkeOrganisatie")
    zaaktype = lookup(call, "zaaktype", data["zaaktype"], CATALOGI, "zaaktypen",
                      call.state.zaaktypen)
    if zaaktype["concept"]:
        raise invalid(Param("zaaktype", "not-published", "Het zaaktype is nog niet gepubliceerd."))
    data["zaaktype"] = zaaktype["url"]
    data.setdefault("registratiedatum", dt.date.today().isoformat())
    if data.get("identificatie"):
        _check_unique(call, call.state.zaken, data)
    else:
        year = int(data["registratiedatum"][:4])
        data["identificatie"] = call.state.next_identificatie(
            "ZAAK", year, (z["identificatie"] for z in call.state.zaken.values()))
    zaak = new_zaak(str(uuidlib.uuid4()), data, zaaktype)
    call.state.zaken[zaak["uuid"]] = zaak
    return Reply(201, zaak, {**CRS, "Location": call.root + zaak["url"]})


def zio_list(call: Call) -> Reply:
    # not paginated in Zaken API 1.5.1: a plain JSON array
    return Reply(200, _filtered(call, call.state.zios, {
        "zaak": ("zaak", True), "informatieobject": ("informatieobject", True)}))


def zio_create(call: Call) -> Reply:
    data = dict(call.body)
    zaak = lookup(call, "zaak", data["zaak"], ZAKEN, "zaken", call.state.zaken)
    document = lookup(call, "informatieobject", data["informatieobject"], DOCUMENTEN,
                      "enkelvoudiginformatieobjecten", call.state.documents)
    for other in () if call.lenient else call.state.zios.values():
        if (other["zaak"], other["informatieobject"]) == (zaak["url"], document["url"]):
            raise invalid(Param("nonFieldErrors", "unique",
                                "De velden zaak, informatieobject moeten een unieke set zijn."))
    allowed = {r["informatieobjecttype"] for r in call.state.ztiots.values()
               if r["zaaktype"] == zaak["zaaktype"]}
    if document["informatieobjecttype"] not in allowed:
        raise invalid(Param("nonFieldErrors", "missing-zaaktype-informatieobjecttype-relation",
                            "Het informatieobjecttype hoort niet bij het zaaktype van de zaak."))
    uuid = str(uuidlib.uuid4())
    zio = {"url": f"{ZAKEN}/zaakinformatieobjecten/{uuid}", "uuid": uuid,
           "informatieobject": document["url"], "zaak": zaak["url"],
           "aardRelatieWeergave": "Hoort bij, omgekeerd: kent",
           "titel": data.get("titel", ""), "beschrijving": data.get("beschrijving", ""),
           "registratiedatum": _now(), "vernietigingsdatum": data.get("vernietigingsdatum"),
           "status": data.get("status")}
    call.state.zios[uuid] = zio
    zaak["zaakinformatieobjecten"].append(zio["url"])
    return Reply(201, zio, {"Location": call.root + zio["url"]})


def zio_partial_update(call: Call, uuid: str) -> Reply:
    """Only the relation's own data (titel, beschrijving, vernietigingsdatum, status) may change."""
    zio = call.state.zios.get(uuid)
    if zio is None:
        raise not_found()
    data = call.body if isinstance(call.body, dict) else {}
    for name in ("zaak", "informatieobject"):
        if name in data and data[name] != zio[name]:
            raise invalid(Param(name, "wijzigen-niet-toegelaten", f"Het veld {name} mag niet gewijzigd worden."))
    for name in ("titel", "beschrijving", "vernietigingsdatum", "status"):
        if name in data:
            zio[name] = data[name]
    call.state.audit.append({"resource": call.root + zio["url"], "toelichting": call.audit})
    return Reply(200, zio)


def _now() -> str:
    return dt.datetime.now(dt.timezone.utc).isoformat().replace("+00:00", "Z")


#: (method, base path, path pattern below the base, handler)
ROUTES = [
    ("GET", CATALOGI, "/catalogussen", catalogussen),
    ("GET", CATALOGI, f"/catalogussen/(?P<uuid>{_UUID})", detail("catalogussen")),
    ("GET", CATALOGI, "/zaaktypen", zaaktypen),
    ("GET", CATALOGI, f"/zaaktypen/(?P<uuid>{_UUID})", detail("zaaktypen")),
    ("GET", CATALOGI, "/informatieobjecttypen", informatieobjecttypen),
    ("GET", CATALOGI, f"/informatieobjecttypen/(?P<uuid>{_UUID})",
     detail("informatieobjecttypen")),
    ("GET", CATALOGI, "/zaaktype-informatieobjecttypen", zaaktype_informatieobjecttypen),
    ("GET", CATALOGI, f"/zaaktype-informatieobjecttypen/(?P<uuid>{_UUID})", detail("ztiots")),
    ("GET", ZAKEN, "/zaken", zaken_list),
    ("POST", ZAKEN, "/zaken", zaak_create),
    ("GET", ZAKEN, f"/zaken/(?P<uuid>{_UUID})", zaak_detail),
    ("GET", ZAKEN, "/zaakinformatieobjecten", zio_list),
    ("POST", ZAKEN, "/zaakinformatieobjecten", zio_create),
    ("GET", ZAKEN, f"/zaakinformatieobjecten/(?P<uuid>{_UUID})", detail("zios")),
    ("PATCH", ZAKEN, f"/zaakinformatieobjecten/(?P<uuid>{_UUID})", zio_partial_update),
]
