"""Copy the StUF-ZDS schemas the connector ships (connector/stufdata/) from the reference bundles.

Usage: ``python scripts/stufdata_copy.py [SHARED]`` (default ``../shared`` beside the checkout, or
``$CONNECTOR_SHARED``). For each dialect it follows every ``xs:import``/``xs:include``
``schemaLocation`` from the main message schema, transitively, and copies exactly those ``.xsd`` files,
byte for byte, to the same relative place under ``connector/stufdata/<dialect>/``. The WSDLs beside the
main message schema are entries too: in ZDS 1.1 the main schema (``zkn0310_msg_zs-dms.xsd``) holds only
the vrije berichten (Di02/Du02); ``zakLk01``, ``edcLk01``, ``zakLv01``, ``zakLa01`` are in the
``zkn0310_msg_mutatie.xsd`` and ``zkn0310_msg_vraagAntwoord.xsd`` that the zs-dms WSDLs import. Files of an earlier
run that the closure no longer needs are removed, so the script can be re-run after an update.
"""
from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

from lxml import etree

ROOT = Path(__file__).resolve().parent.parent
TARGET = ROOT / "connector" / "stufdata"
XS = "{http://www.w3.org/2001/XMLSchema}"
WSDL = "{http://schemas.xmlsoap.org/wsdl/}"
# dialect folder -> main message schema, relative to the bundle folder specs/stuf/<dialect>/
ENTRIES = {
    "zds1.1.02": "zkn0310/zs-dms/zkn0310_msg_zs-dms.xsd",
    "zds1.2": "zds0120/berichten/zds0120_msg_zs-dms.xsd",
}


def wsdl_schemas(folder: Path) -> list[Path]:
    """The schemas the WSDLs in ``folder`` (and the WSDLs they import) put in their ``types``."""
    found, seen = [], set()
    todo = sorted(folder.glob("*.wsdl"))
    while todo:
        path = todo.pop().resolve()
        if path in seen:
            continue
        seen.add(path)
        tree = etree.parse(str(path))
        for node in tree.iter(WSDL + "import"):
            todo.append(path.parent / node.get("location"))
        for node in tree.iter(XS + "import", XS + "include"):
            if node.get("schemaLocation"):
                found.append((path.parent / node.get("schemaLocation")).resolve())
    return found


def entries(bundle: Path, entry: str) -> list[Path]:
    """The main message schema and what the WSDLs of its service import."""
    main = (bundle / entry).resolve()
    return [main] + wsdl_schemas(main.parent)


def closure(bundle: Path, entry: str) -> list[str]:
    """Bundle-relative POSIX paths of the entries and every schema they reach, sorted."""
    seen: set[Path] = set()
    todo = entries(bundle, entry)
    while todo:
        path = todo.pop()
        if path in seen:
            continue
        seen.add(path)
        tree = etree.parse(str(path))
        for node in tree.iter(XS + "import", XS + "include", XS + "redefine"):
            location = node.get("schemaLocation")
            if location and "://" not in location:
                todo.append((path.parent / location).resolve())
    bundle = bundle.resolve()
    outside = [p for p in seen if bundle not in p.parents]
    if outside:
        raise SystemExit(f"schemas outside the bundle {bundle}: {outside}")
    return sorted(p.relative_to(bundle).as_posix() for p in seen)


def copy(shared: Path) -> dict[str, list[str]]:
    copied = {}
    for dialect, entry in ENTRIES.items():
        bundle = shared / "specs" / "stuf" / dialect
        files = closure(bundle, entry)
        target = TARGET / dialect
        for existing in target.rglob("*.xsd") if target.exists() else []:
            if existing.relative_to(target).as_posix() not in files:
                existing.unlink()
        for name in files:
            (target / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(bundle / name, target / name)
        for folder in sorted(target.rglob("*"), reverse=True):   # folders left empty by an update
            if folder.is_dir() and not any(folder.iterdir()):
                folder.rmdir()
        copied[dialect] = files
    return copied


def main(argv: list[str]) -> int:
    shared = Path(argv[0] if argv else os.environ.get("CONNECTOR_SHARED") or ROOT.parent / "shared")
    for dialect, files in copy(shared).items():
        print(f"{dialect}: {len(files)} schemas")
        for name in files:
            print(f"  {name}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
