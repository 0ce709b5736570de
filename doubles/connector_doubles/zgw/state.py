"""In-memory state of the ZGW double: the seeded catalogus and the zaken/documents clients create.

Resources are kept exactly as served, except that their own URLs and references are stored as
paths (``/zaken/api/v1/zaken/<uuid>``): the host is only known per request. ``absolute`` puts
the root URL in front when a resource leaves the double.
"""
from __future__ import annotations

import copy
import re
import shutil
import tempfile
import threading
import uuid as uuidlib
import weakref
from pathlib import Path

from connector.yamlconf import load as load_yaml

REPO_ROOT = Path(__file__).resolve().parents[3]
DEFAULT_SEED = "fixtures/zgw/catalogus.yaml"

CATALOGI = "/catalogi/api/v1"
ZAKEN = "/zaken/api/v1"
DOCUMENTEN = "/documenten/api/v1"
_OWN_PATH = re.compile(r"^/(zaken|documenten|catalogi)/api/v1/")


def resolve_seed(seed: str | Path | None) -> Path:
    """A seed path: absolute as given, relative against the repository root."""
    path = Path(seed or DEFAULT_SEED)
    return path if path.is_absolute() else REPO_ROOT / path


def absolute(value, root: str):
    """A deep copy of ``value`` with every own-resource path prefixed by ``root``."""
    if isinstance(value, str):
        return root + value if _OWN_PATH.match(value) else value
    if isinstance(value, dict):
        return {k: absolute(v, root) for k, v in value.items()}
    if isinstance(value, list):
        return [absolute(v, root) for v in value]
    return value


def rsin_problem(value: str) -> tuple[str, str] | None:
    """(code, reason) if ``value`` is not a valid RSIN (9 digits passing the 11-test)."""
    if not value.isdigit():
        return "only-digits", "Voer een getal in."
    if len(value) != 9:
        return "invalid-length", "Waarde moet 9 tekens lang zijn"
    total = sum(int(d) * (9 - i) for i, d in enumerate(value[:8])) - int(value[8])
    if total % 11:
        return "invalid", "Onjuist RSIN"
    return None


class State:
    """All resources of one double, guarded by one lock (``with state.lock:``)."""

    def __init__(self, seed_path: Path):
        self.lock = threading.RLock()
        self.seed_path = seed_path
        # uploaded parts and assembled large files live on disk, in a folder of this state's own
        self.upload_dir = Path(tempfile.mkdtemp(prefix="zgw-double-"))
        self._cleanup = weakref.finalize(self, shutil.rmtree, str(self.upload_dir), True)
        self.reset()

    def close(self) -> None:
        """Remove the upload folder (also done when the state is garbage collected or at exit)."""
        self._cleanup()

    def reset(self) -> None:
        with self.lock:
            for leftover in self.upload_dir.iterdir() if self.upload_dir.exists() else ():
                leftover.unlink(missing_ok=True)
            self.catalogussen: dict[str, dict] = {}
            self.zaaktypen: dict[str, dict] = {}
            self.informatieobjecttypen: dict[str, dict] = {}
            self.ztiots: dict[str, dict] = {}
            self.zaken: dict[str, dict] = {}
            self.documents: dict[str, dict] = {}
            # document uuid -> its bytes (small files) or a Path in upload_dir (large-file flow)
            self.content: dict[str, bytes | Path] = {}
            # earlier versions: document uuid -> {versie: (document as served then, content)}
            self.history: dict[str, dict[int, tuple[dict, bytes | Path]]] = {}
            self.locks: dict[str, str] = {}        # document uuid -> its lock while locked
            self.parts: dict[str, dict] = {}       # bestandsdeel uuid -> the part (as served)
            self.part_owner: dict[str, str] = {}   # bestandsdeel uuid -> document uuid
            self.zios: dict[str, dict] = {}
            self.audit: list[dict] = []            # changes with their X-Audit-Toelichting
            _seed(self, load_yaml(self.seed_path))

    def blob(self, content: bytes | Path) -> bytes:
        """The bytes of stored content (read from disk for a large file)."""
        return content.read_bytes() if isinstance(content, Path) else content

    def next_identificatie(self, prefix: str, year: int, existing) -> str:
        """Open Zaak style ``PREFIX-YEAR-0000000001``: one more than the highest in use."""
        pattern = re.compile(rf"^{re.escape(prefix)}-{year}-(\d{{10}})$")
        numbers = [int(m.group(1)) for i in existing if (m := pattern.match(i or ""))]
        return f"{prefix}-{year}-{max(numbers, default=0) + 1:010d}"


def _path(base: str, collection: str, uuid: str) -> str:
    return f"{base}/{collection}/{uuid}"


def _seed(state: State, seed: dict) -> None:
    cat = dict(seed["catalogus"])
    cat_uuid = cat.pop("uuid")
    catalogus = {
        "url": _path(CATALOGI, "catalogussen", cat_uuid), "contactpersoonBeheerTelefoonnummer": "",
        "zaaktypen": [], "besluittypen": [],
        "informatieobjecttypen": [], "naam": "", "versie": "", "begindatumVersie": None, **cat}
    state.catalogussen[cat_uuid] = catalogus

    iot_by_name = {}
    for entry in seed.get("informatieobjecttypen", []):
        entry = dict(entry)
        uuid = entry.pop("uuid")
        iot = {
            "url": _path(CATALOGI, "informatieobjecttypen", uuid), "catalogus": catalogus["url"],
            "beginGeldigheid": "2025-01-01", "eindeGeldigheid": None, "beginObject": "2025-01-01",
            "eindeObject": None, "concept": False, "zaaktypen": [], "besluittypen": [],
            "trefwoord": [], **entry}
        state.informatieobjecttypen[uuid] = iot
        iot_by_name[iot["omschrijving"]] = iot
        catalogus["informatieobjecttypen"].append(iot["url"])

    zt_by_id = {}
    for entry in seed.get("zaaktypen", []):
        entry = dict(entry)
        uuid = entry.pop("uuid")
        allowed = entry.pop("informatieobjecttypen", [])
        zaaktype = {
            "url": _path(CATALOGI, "zaaktypen", uuid), "catalogus": catalogus["url"],
            "omschrijvingGeneriek": "", "doel": entry.get("omschrijving", ""),
            "aanleiding": "Een bericht op een sociale-mediakanaal van de gemeente.",
            "toelichting": "", "indicatieInternOfExtern": "extern",
            "handelingInitiator": "melden", "handelingBehandelaar": "behandelen",
            "doorlooptijd": "P14D", "servicenorm": None, "opschortingEnAanhoudingMogelijk": False,
            "verlengingMogelijk": False, "verlengingstermijn": None, "trefwoorden": [],
            "publicatieIndicatie": False, "publicatietekst": "", "verantwoordingsrelatie": [],
            "productenOfDiensten": [], "referentieproces": {"naam": "Behandelen melding", "link": ""},
            "verantwoordelijke": "Team Informatiebeheer", "zaakobjecttypen": [],
            "statustypen": [], "resultaattypen": [], "eigenschappen": [], "roltypen": [],
            "besluittypen": [], "deelzaaktypen": [], "gerelateerdeZaaktypen": [],
            "informatieobjecttypen": [], "beginGeldigheid": "2025-01-01",
            "eindeGeldigheid": None, "beginObject": "2025-01-01", "eindeObject": None,
            "versiedatum": "2025-01-01", "concept": False, **entry}
        state.zaaktypen[uuid] = zaaktype
        zt_by_id[zaaktype["identificatie"]] = zaaktype
        catalogus["zaaktypen"].append(zaaktype["url"])
        for number, name in enumerate(allowed, start=1):
            iot = iot_by_name[name]
            rel_uuid = str(uuidlib.uuid5(uuidlib.NAMESPACE_URL, zaaktype["url"] + iot["url"]))
            state.ztiots[rel_uuid] = {
                "url": _path(CATALOGI, "zaaktype-informatieobjecttypen", rel_uuid),
                "zaaktype": zaaktype["url"], "zaaktypeIdentificatie": zaaktype["identificatie"],
                "catalogus": catalogus["url"], "informatieobjecttype": iot["url"],
                "volgnummer": number, "richting": "inkomend", "statustype": None}
            zaaktype["informatieobjecttypen"].append(iot["url"])
            iot["zaaktypen"].append(zaaktype["url"])

    for entry in seed.get("zaken", []):
        entry = dict(entry)
        zaaktype = zt_by_id[entry["zaaktype"]]
        entry["zaaktype"] = zaaktype["url"]
        zaak = new_zaak(entry.pop("uuid"), entry, zaaktype)
        state.zaken[zaak["uuid"]] = zaak


def new_zaak(uuid: str, data: dict, zaaktype: dict) -> dict:
    """A complete Zaak resource (as Zaken API 1.5.1 serves it) from the client's fields."""
    zaak = {
        "url": _path(ZAKEN, "zaken", uuid), "uuid": uuid, "identificatie": "",
        "omschrijving": "", "toelichting": "", "registratiedatum": data.get("startdatum"),
        "einddatum": None, "einddatumGepland": None, "uiterlijkeEinddatumAfdoening": None,
        "publicatiedatum": None, "communicatiekanaal": "", "productenOfDiensten": [],
        "vertrouwelijkheidaanduiding": zaaktype["vertrouwelijkheidaanduiding"],
        "betalingsindicatie": "", "betalingsindicatieWeergave": "", "laatsteBetaaldatum": None,
        "verlenging": None, "opschorting": {"indicatie": False, "reden": ""},
        "selectielijstklasse": "", "hoofdzaak": None, "deelzaken": [],
        "relevanteAndereZaken": [], "eigenschappen": [], "rollen": [], "status": None,
        "zaakinformatieobjecten": [], "zaakobjecten": [], "kenmerken": [],
        "archiefnominatie": None, "archiefstatus": "nog_te_archiveren",
        "archiefactiedatum": None, "resultaat": None, "opdrachtgevendeOrganisatie": "",
        "processobjectaard": None, "startdatumBewaartermijn": None, "processobject": None}
    zaak.update(copy.deepcopy(data))
    if zaak.get("zaakgeometrie") is None:
        # Open Zaak serves null, but the 1.5.1 spec's allOf+nullable makes null invalid there
        zaak.pop("zaakgeometrie", None)
    return zaak
