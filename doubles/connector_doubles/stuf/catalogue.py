"""What the double serves: namespaces and the operations of both ZDS dialects, as the WSDLs define them.

Verified against the WSDLs of the bundles (``specs/stuf/<dialect>/...``; the bundle in
``connector/stufdata`` carries the schemas only):

ZDS 1.1.02, ``zkn0310/zs-dms/``: SOAPAction ``http://www.egem.nl/StUF/sector/zkn/0310/<operation>``

* ``genereerDocumentIdentificatie_Di02``: root ``ZKN:genereerDocumentIdentificatie_Di02``, service
  ``VrijeBerichten`` (``zkn0310_vrijeBerichten_zs-dms.wsdl``), fault Fo02;
* ``genereerZaakIdentificatie_Di02``: root ``ZKN:genereerZaakIdentificatie_Di02``, ``VrijeBerichten``, Fo02;
* ``creeerZaak_Lk01``: root ``ZKN:zakLk01``, ``OntvangAsynchroon``
  (``zkn0310_ontvangAsynchroon_mutatie_zs-dms.wsdl``), Fo03;
* ``voegZaakdocumentToe_Lk01``: root ``ZKN:edcLk01``, ``OntvangAsynchroon``, Fo03;
* ``geefZaakdetails_Lv01``: root ``ZKN:zakLv01``, ``BeantwoordVraag`` (``zkn0310_beantwoordVraag_zs-dms.wsdl``), Fo02;
* ``geefLijstZaakdocumenten_Lv01``: root ``ZKN:zakLv01`` too, ``BeantwoordVraag``, Fo02 (the documents of a zaak:
  a client that lost a voegZaakdocumentToe answer looks there before it sends the document again).

In 1.1 the body root does not name the operation (``zakLk01`` is also ``updateZaak_Lk01``, ``edcLk01``
also ``maakZaakdocument_Lk01``, ``zakLv01`` also ``geefZaakstatus_Lv01``): the SOAPAction does.

ZDS 1.2, ``zds0120/berichten/``: SOAPAction ``http://www.stufstandaarden.nl/koppelvlak/zds0120/<operation>``,
body root ``ZDS:<operation>``: ``genereerDocumentIdentificatie_Di02`` and ``genereerZaakIdentificatie_Di02``
(service ``VerwerkSynchroonVrijBericht`` in ``zds0120_vrijeBerichten_zs-dms.wsdl``, Fo02),
``creeerZaak_ZakLk01`` and ``voegZaakdocumentToe_EdcLk01`` (``OntvangAsynchroon``,
``zds0120_ontvangAsynchroon_mutatie_zs-dms.wsdl``, Fo03), ``geefZaakdetails_ZakLv01`` and
``geefLijstZaakdocumenten_ZakLv01`` (``BeantwoordVraag``, ``zds0120_beantwoordVraag_zs-dms.wsdl``, Fo02).

So the Di02 messages go to the vrije-berichten service, not to BeantwoordVraag. The WSDLs bind SOAP 1.1
only (``soap:binding``, no ``soap12``); SOAP 1.2 is what many clients (Open Formulieren) send anyway,
and what real StUF systems accept. The double's endpoint paths default to the 1.1 service names
(``/VrijeBerichten``, ``/OntvangAsynchroon``, ``/BeantwoordVraag``) for both dialects: deployments name
them freely, so they are settings.
"""
from __future__ import annotations

from dataclasses import dataclass

STUF = "http://www.egem.nl/StUF/StUF0301"
ZKN = "http://www.egem.nl/StUF/sector/zkn/0310"
ZDS = "http://www.stufstandaarden.nl/koppelvlak/zds0120"
BG = "http://www.egem.nl/StUF/sector/bg/0310"
XMIME = "http://www.w3.org/2005/05/xmlmime"
XSI = "http://www.w3.org/2001/XMLSchema-instance"
NSMAP = {"StUF": STUF, "ZKN": ZKN, "ZDS": ZDS, "BG": BG, "xmime": XMIME, "xsi": XSI}

# the three services, by the name the double uses for its settings
SERVICES = ("VrijeBerichten", "OntvangAsynchroon", "BeantwoordVraag")
DEFAULT_ENDPOINTS = {service: f"/{service}" for service in SERVICES}


@dataclass(frozen=True)
class Operation:
    """One WSDL operation the double implements."""
    name: str          # WSDL operation name, the last part of the SOAPAction
    dialect: str       # "1.1" or "1.2"
    root: str          # body root, ``{namespace}name``
    service: str       # one of SERVICES
    kind: str          # what the double does: the handler's name
    fault: str         # "Fo02" (Di02/Lv01) or "Fo03" (Lk01)

    @property
    def action(self) -> str:
        return f"{ZKN if self.dialect == '1.1' else ZDS}/{self.name}"


def _table() -> dict[tuple[str, str], Operation]:
    rows = [
        # dialect, operation, root, service, kind
        ("1.1", "genereerDocumentIdentificatie_Di02", f"{{{ZKN}}}genereerDocumentIdentificatie_Di02",
         "VrijeBerichten", "document_identificatie"),
        ("1.1", "genereerZaakIdentificatie_Di02", f"{{{ZKN}}}genereerZaakIdentificatie_Di02",
         "VrijeBerichten", "zaak_identificatie"),
        ("1.1", "creeerZaak_Lk01", f"{{{ZKN}}}zakLk01", "OntvangAsynchroon", "creeer_zaak"),
        ("1.1", "voegZaakdocumentToe_Lk01", f"{{{ZKN}}}edcLk01", "OntvangAsynchroon", "voeg_document_toe"),
        ("1.1", "geefZaakdetails_Lv01", f"{{{ZKN}}}zakLv01", "BeantwoordVraag", "geef_zaakdetails"),
        ("1.1", "geefLijstZaakdocumenten_Lv01", f"{{{ZKN}}}zakLv01", "BeantwoordVraag", "geef_lijst_zaakdocumenten"),
    ]
    for name, service, kind in (("genereerDocumentIdentificatie_Di02", "VrijeBerichten", "document_identificatie"),
                                ("genereerZaakIdentificatie_Di02", "VrijeBerichten", "zaak_identificatie"),
                                ("creeerZaak_ZakLk01", "OntvangAsynchroon", "creeer_zaak"),
                                ("voegZaakdocumentToe_EdcLk01", "OntvangAsynchroon", "voeg_document_toe"),
                                ("geefZaakdetails_ZakLv01", "BeantwoordVraag", "geef_zaakdetails"),
                                ("geefLijstZaakdocumenten_ZakLv01", "BeantwoordVraag", "geef_lijst_zaakdocumenten")):
        rows.append(("1.2", name, f"{{{ZDS}}}{name}", service, kind))
    return {(dialect, name): Operation(name, dialect, root, service, kind,
                                       "Fo03" if "Lk01" in name else "Fo02")
            for dialect, name, root, service, kind in rows}


OPERATIONS = _table()


def by_action(dialect: str, action: str | None) -> Operation | None:
    """The operation a SOAPAction names in ``dialect`` (quotes and whitespace ignored), or None."""
    action = (action or "").strip().strip('"')
    name = action.rpartition("/")[2]
    operation = OPERATIONS.get((dialect, name))
    return operation if operation and operation.action == action else None


def by_root(dialect: str, root: str) -> list[Operation]:
    """The operations whose body root is ``root`` in ``dialect``."""
    return [op for (d, _), op in OPERATIONS.items() if d == dialect and op.root == root]
