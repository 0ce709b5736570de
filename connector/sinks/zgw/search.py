"""Zaken on request, for "Archiveer in zaak" (:mod:`connector.ondemand`, the web UI): find, list types, create.

* :func:`find_zaken`: the Zaken API filters ``/zaken`` on ``identificatie`` (exactly) but has no filter on
  ``omschrijving`` (Zaken API 1.5.1 lists none, and Open Zaak has none either). So a query is tried as an
  identificatie first, then the first :data:`SCAN_PAGES` pages of the bronorganisatie's zaken are searched
  for it in their omschrijving and identificatie, case-insensitively, and what is found is shown newest
  (``startdatum``) first. The spec's ``ordering`` parameter cannot be used: its enum in Zaken API 1.5.1 is
  malformed (one array inside the array), so no value validates against the official spec. A zaak beyond
  those pages is found by its identificatie.
* :func:`zaaktypen`: the published zaaktypen (of the sink's ``catalogus``, when set) a new zaak may have.
* :func:`create_zaak`: ``POST /zaken`` with an identificatie derived from the request's ``key``, looked up
  first: a double submit or a retry after a lost answer finds the zaak instead of making a second.
"""
from __future__ import annotations

import hashlib
from dataclasses import replace
from datetime import datetime, timezone

from ...failures import PERMANENT, Failed, Failure
from ..base import ZaakSummary
from .client import has_code
from .fields import OMSCHRIJVING_MAX, TOELICHTING_MAX, clip, local_date
from .identity import PREFIX

SCAN_PAGES = 3   # pages of /zaken searched for an omschrijving
PAGE_SIZE = 100  # Open Zaak's page size
MAX_QUERY = 80   # an omschrijving is at most 80 characters: a longer query finds nothing


def _summary(sink, item: dict, names: dict | None = None) -> ZaakSummary:
    zaaktype = item.get("zaaktype") or ""
    names = names if names is not None else {url: name for name, url in sink._zaaktypen.items()}
    return ZaakSummary(identificatie=str(item.get("identificatie") or ""), url=str(item.get("url") or ""),
                       omschrijving=str(item.get("omschrijving") or ""), zaaktype=names.get(zaaktype, zaaktype),
                       startdatum=str(item.get("startdatum") or ""))


def _zaaktype_names(sink) -> dict[str, str]:
    """zaaktype URL -> identificatie, for showing a zaak's type as people know it: read once per sink
    instance (one listing of the catalogus; a failure shows URLs instead, it is no reason to fail a search)."""
    names = sink.__dict__.get("_zaaktype_names")
    if names is None:
        names = {url: name for name, url in sink._zaaktypen.items()}
        try:
            for item in sink.client.results(sink._catalogi("zaaktypen"), "GET /zaaktypen"):
                if item.get("url") and item.get("identificatie"):
                    names[str(item["url"])] = str(item["identificatie"])
        except Failed:
            return names
        sink.__dict__["_zaaktype_names"] = names
    return names


def find_zaken(sink, query: str, limit: int = 20) -> list[ZaakSummary]:
    """Zaken whose identificatie is ``query``, then those whose omschrijving or identificatie contains it."""
    query = " ".join(query.split())[:MAX_QUERY]
    if not query:
        return []
    zaken = sink._zaken("zaken")
    found: dict[str, ZaakSummary] = {}
    rsin = sink.options["bronorganisatie"]
    exact = sink.client.first(zaken, "GET /zaken", params={"identificatie": query, "bronorganisatie": rsin}, crs=True)
    if exact is not None:
        summary = _summary(sink, exact)
        found[summary.url] = summary
    names = _zaaktype_names(sink)
    found = {url: replace(summary, zaaktype=names.get(summary.zaaktype, summary.zaaktype))
             for url, summary in found.items()}
    wanted = query.casefold()
    pages = sink.client.results(zaken, "GET /zaken", params={"bronorganisatie": rsin}, crs=True)
    for seen, item in enumerate(pages, 1):
        text = f"{item.get('omschrijving') or ''}\n{item.get('identificatie') or ''}".casefold()
        if wanted in text:
            summary = _summary(sink, item, names)
            found.setdefault(summary.url, summary)
        if seen >= SCAN_PAGES * PAGE_SIZE or len(found) >= limit:
            break  # before the generator asks for the next page
    exact_first = sorted(found.values(), key=lambda z: (z.identificatie == query, z.startdatum), reverse=True)
    return exact_first[:limit]


def zaaktypen(sink) -> list[tuple[str, str]]:
    """``(identificatie, omschrijving)`` of the published zaaktypen, sorted, one per identificatie."""
    params = {"status": "definitief"}
    if sink.options["catalogus"]:
        params["catalogus"] = sink.options["catalogus"]
    types: dict[str, str] = {}
    for item in sink.client.results(sink._catalogi("zaaktypen"), "GET /zaaktypen", params=params):
        if item.get("concept") or not item.get("identificatie"):
            continue
        types[str(item["identificatie"])] = str(item.get("omschrijving") or "")
    return sorted(types.items())


def request_identificatie(key: str) -> str:
    """The identificatie of a zaak created on request ``key`` (<= 40 characters): ``SOC-ZH-`` and a hash."""
    digest = hashlib.sha256(b"zaak-on-request\0" + key.encode("utf-8", "surrogatepass")).hexdigest()
    return f"{PREFIX}-ZH-{digest[:24]}"


def create_zaak(sink, zaaktype: str, omschrijving: str, toelichting: str, key: str) -> ZaakSummary:
    """Create a zaak (once per ``key``) and return it."""
    if not key:
        raise ValueError("a zaak on request needs a key")
    omschrijving = " ".join(omschrijving.split())
    if not omschrijving:
        raise Failed(Failure(PERMANENT, "a new zaak needs an omschrijving"))
    identificatie = request_identificatie(key)
    rsin = sink.options["bronorganisatie"]
    params = {"identificatie": identificatie, "bronorganisatie": rsin}
    existing = sink.client.first(sink._zaken("zaken"), "GET /zaken", params=params, crs=True)
    if existing is not None:
        return _summary(sink, existing)
    payload = {"identificatie": identificatie, "bronorganisatie": rsin, "verantwoordelijkeOrganisatie": rsin,
               "zaaktype": sink._zaaktype(zaaktype), "omschrijving": clip(omschrijving, OMSCHRIJVING_MAX),
               "startdatum": local_date(datetime.now(timezone.utc))}
    if toelichting.strip():
        payload["toelichting"] = clip(toelichting.strip(), TOELICHTING_MAX)
    response = sink.client.post(sink._zaken("zaken"), "POST /zaken", payload, crs=True, accept=(400,))
    if response.status_code == 400 and has_code(response, "identificatie-niet-uniek"):
        existing = sink.client.first(sink._zaken("zaken"), "GET /zaken", params=params, crs=True)
        if existing is not None:
            return _summary(sink, existing)
    data = sink.client.created(response, "POST /zaken")
    sink._remember_zaak({"url": data["url"], "identificatie": data.get("identificatie", identificatie)})
    return _summary(sink, data)

