"""Catalogus lookups of the ZGW sink: a zaaktype or informatieobjecttype named in a rule, to its URL.

A rule may name a type by URL or by its identificatie (zaaktype) or omschrijving (informatieobjecttype);
the sink resolves a name to the newest published, currently valid version in the Catalogi API (within
the sink's ``catalogus`` when set), once per sink instance.
"""
from __future__ import annotations

from datetime import datetime

from ...failures import CONFIGURATION, Failed, Failure
from ...rendition import AMSTERDAM
from ...routing import Routing


class CatalogusLookups:
    """Mixed into :class:`connector.sinks.zgw.ZgwSink` (uses its ``options``, ``client``, ``name``)."""

    def _zaaktype(self, ref: str) -> str:
        if ref.startswith(("http://", "https://")):
            return ref
        if ref not in self._zaaktypen:
            params = {"identificatie": ref, "status": "definitief"}
            self._zaaktypen[ref] = self._newest("zaaktypen", "zaaktype", ref, params,
                                                lambda item: item.get("identificatie") == ref)
        return self._zaaktypen[ref]

    def _informatieobjecttype(self, routing: Routing) -> str:
        ref = routing.informatieobjecttype or self.options["informatieobjecttype"]
        if not ref:
            raise Failed(Failure(CONFIGURATION, f"no informatieobjecttype: set one in rule {routing.rule!r} "
                                 f"or as option 'informatieobjecttype' of sink {self.name!r}"))
        if ref.startswith(("http://", "https://")):
            return ref
        if ref not in self._informatieobjecttypen:
            params = {"omschrijving": ref, "status": "definitief"}
            self._informatieobjecttypen[ref] = self._newest(
                "informatieobjecttypen", "informatieobjecttype", ref, params,
                lambda item: item.get("omschrijving") == ref)
        return self._informatieobjecttypen[ref]

    def _newest(self, collection: str, label: str, ref: str, params: dict, matches) -> str:
        """URL of the newest published, currently valid version of a catalogus type."""
        if self.options["catalogus"]:
            params = {**params, "catalogus": self.options["catalogus"]}
        items = [item for item in self.client.results(self._catalogi(collection), f"GET /{collection}", params=params)
                 if matches(item) and not item.get("concept", False)]
        today = datetime.now(AMSTERDAM).date().isoformat()
        valid = [i for i in items if (i.get("beginGeldigheid") or "") <= today
                 and (not i.get("eindeGeldigheid") or i["eindeGeldigheid"] >= today)]
        candidates = valid or items
        where = f"catalogus {self.options['catalogus']}" if self.options["catalogus"] else "the Catalogi API"
        if not candidates:
            raise Failed(Failure(CONFIGURATION, f"{label} {ref!r} not found (published) in {where}"))
        catalogi = {i.get("catalogus") for i in candidates}
        if len(catalogi) > 1:
            raise Failed(Failure(CONFIGURATION, f"{label} {ref!r} exists in {len(catalogi)} catalogi; "
                                 f"set option 'catalogus' of sink {self.name!r}"))
        newest = max(candidates, key=lambda i: (i.get("beginGeldigheid") or "", i.get("versiedatum") or ""))
        return newest["url"]
