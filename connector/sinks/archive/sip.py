"""An MDTO SIP on disk: the sidecar structure, written atomically per package, idempotently, with a pakbon.

The layout follows the MDTO SIP specification (``sip/specificatie.md``: "Sidecar-structuur",
"Naamgeving"; ``sip/pakbon.md``)::

    <folder>/<batch>/                                one SIP per batch (the archive sink: one per day)
        pakbon.xml                                   what the receiving party checks first
        manifest-sha256.txt                          "<sha256>  <path>" for every file; its hash is the SIP's
        <package>/                                   one informatieobject (one version of one message)
            <package>.MDTO.xml                       its MDTO metadata
            <file>                                   each file of the record
            <file>.bestand.MDTO.xml                  the MDTO metadata of that file, beside it

Decisions:

* **Names.** A package or file name is cleaned of the characters the specification forbids
  (``< > : " / \\ | ? * # &``, space, and control characters) and of leading dots, and kept to 255
  characters including the longest suffix it gets (``.bestand.MDTO.xml``); an over-long name
  keeps its start and gets a short hash of the whole name, so two long names stay distinct.
* **Atomic per package.** A package is written into ``<batch>/.partial-<name>-<pid>-<n>/`` and
  renamed to ``<name>`` once every file is written and flushed (a directory rename on one file
  system is atomic). A crash leaves a ``.partial-`` folder, which nothing counts or lists as a
  package, never a package that looks complete; the next write of that package removes it once
  the process that made it is gone (a writer still at work in another thread or process keeps its own).
* **Idempotent.** A package that is already there with the same files (names and SHA-256) is
  left alone and reported as such. One that is there with other content is an error, not
  overwritten: a new version of a message gets a package of its own name, so a difference means
  the archive was changed by hand or the connector has a bug; either way an operator must look.
* **Pakbon and manifest per batch,** rewritten after every package from what is in the batch
  folder (so they are always true, also after a crash between a package and its pakbon), each
  through a temporary file and ``os.replace``. Writers in several threads or processes take the
  batch's lock file (``fcntl.flock``) for the rename and the pakbon, and only for that.
* The pakbon has no official schema: it is XML (the specification's preference) holding every
  item ``pakbon.md`` lists, in Dutch element names.
"""
from __future__ import annotations

import contextlib
import fcntl
import hashlib
import io
import itertools
import os
import re
import shutil
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import BinaryIO, Callable, Iterator

from lxml import etree

MDTO_SUFFIX = ".MDTO.xml"
BESTAND_SUFFIX = ".bestand.MDTO.xml"
PAKBON = "pakbon.xml"
MANIFEST = "manifest-sha256.txt"
PARTIAL = ".partial-"
LOCK = ".lock"
MAX_NAME = 255
_FORBIDDEN = re.compile(r'[<>:"/\\|?*#&\s\x00-\x1f\x7f]+')
_serial = itertools.count()
_in_flight: set[str] = set()  # this process's partial folders being written now


class PackageConflict(Exception):
    """A package of this name is already in the archive with other content."""


@dataclass(frozen=True)
class PackageFile:
    """One file to put in a package: its name, where its bytes come from, and its MDTO sidecar."""

    name: str
    sidecar: bytes                      # the file's MDTO XML (``<name>.bestand.MDTO.xml``)
    data: bytes | None = None
    path: Path | None = None

    def open(self) -> BinaryIO:
        return io.BytesIO(self.data) if self.data is not None else open(self.path, "rb")


@dataclass(frozen=True)
class Written:
    """What :func:`write_package` did: the package folder, and whether it was already there."""

    path: Path
    existed: bool


def clean_name(name: str, suffix: str = BESTAND_SUFFIX) -> str:
    """``name`` without the characters the SIP specification forbids, short enough for ``suffix``."""
    cleaned = _FORBIDDEN.sub("_", name).lstrip(".") or "naamloos"
    room = MAX_NAME - len(suffix)
    if len(cleaned) <= room:
        return cleaned
    digest = hashlib.sha256(name.encode("utf-8", "surrogatepass")).hexdigest()[:12]
    stem, dot, extension = cleaned.rpartition(".")
    extension = f".{extension}" if dot and 0 < len(extension) <= 10 else ""
    keep = room - len(digest) - 1 - len(extension)
    return f"{(stem if extension else cleaned)[:keep]}-{digest}{extension}"


def write_package(batch: Path, name: str, informatieobject: bytes, files: list[PackageFile],
                  pakbon: Callable[[Path], bytes] | None = None, chunk: int = 1 << 20) -> Written:
    """Write one package (an informatieobject and its files) into ``batch``, atomically and once.

    ``name`` is cleaned (:func:`clean_name`); so is every file's. ``pakbon(batch)`` builds the
    batch's pakbon afterwards (default: :func:`pakbon_xml` with no organisation details).
    Raises :class:`PackageConflict` when the package exists with other content.
    """
    batch.mkdir(parents=True, exist_ok=True)
    name = clean_name(name, MDTO_SUFFIX)
    names = [clean_name(f.name) for f in files]
    if len(set(names)) != len(names) or f"{name}{MDTO_SUFFIX}" in names:
        raise ValueError(f"package {name}: two files get the same name: {names}")
    final = batch / name
    expected = None
    if final.exists():  # written before (a retry): compare without writing anything
        expected = _expected(name, informatieobject, files, names, chunk)
        if _digests(final) == expected:
            return Written(final, True)
        raise _conflict(final)
    partial = batch / f"{PARTIAL}{name}-{os.getpid()}-{next(_serial)}"
    # in flight before it exists: another thread of this process sweeping leftovers of the same package
    # (under the batch lock) must never take a folder that is being written for an abandoned one
    _in_flight.add(partial.name)
    try:
        partial.mkdir()
        _write_file(partial / f"{name}{MDTO_SUFFIX}", [informatieobject])
        for file, file_name in zip(files, names):
            with file.open() as source:
                _write_file(partial / file_name, iter(lambda: source.read(chunk), b""))
            _write_file(partial / f"{file_name}{BESTAND_SUFFIX}", [file.sidecar])
        _fsync_dir(partial)
        with _batch_lock(batch):
            for leftover in batch.glob(f"{PARTIAL}{name}-*"):
                if _abandoned(leftover):  # an earlier attempt at this package that crashed
                    shutil.rmtree(leftover, ignore_errors=True)
            existed = final.exists()  # another writer may have finished it meanwhile
            if existed and _digests(final) != _digests(partial):
                raise _conflict(final)
            if not existed:
                os.rename(partial, final)
                _fsync_dir(batch)
            _write_batch_files(batch, pakbon or pakbon_xml)
    finally:
        _in_flight.discard(partial.name)
        if partial.exists():
            shutil.rmtree(partial, ignore_errors=True)
    return Written(final, existed)


def _abandoned(partial: Path) -> bool:
    """A ``.partial-`` folder nobody is writing any more: its process is gone (or it is ours and done)."""
    try:
        pid = int(partial.name.rsplit("-", 2)[-2])
    except (ValueError, IndexError):
        return True
    if pid == os.getpid():
        return partial.name not in _in_flight
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:  # alive, another user's
        return False
    return False


def _expected(name: str, informatieobject: bytes, files: list[PackageFile], names: list[str],
              chunk: int) -> dict[str, str]:
    """The relative paths and SHA-256 a package of these files would have, computed while streaming."""
    expected = {f"{name}{MDTO_SUFFIX}": hashlib.sha256(informatieobject).hexdigest()}
    for file, file_name in zip(files, names):
        digest = hashlib.sha256()
        with file.open() as source:
            while block := source.read(chunk):
                digest.update(block)
        expected[file_name] = digest.hexdigest()
        expected[f"{file_name}{BESTAND_SUFFIX}"] = hashlib.sha256(file.sidecar).hexdigest()
    return expected


def _conflict(final: Path) -> PackageConflict:
    return PackageConflict(f"{final} is already in the archive with other content; it was not overwritten."
                           " Compare it with what the connector would write now (a hand edit, or a bug)"
                           " before removing it")


def packages(batch: Path) -> list[Path]:
    """The complete packages of ``batch`` (never a ``.partial-`` folder), sorted by name."""
    return sorted(p for p in batch.iterdir() if p.is_dir() and not p.name.startswith("."))


def manifest(batch: Path) -> list[tuple[str, str, int]]:
    """``(sha256, path relative to batch, size)`` of every file in every complete package."""
    rows = []
    for package in packages(batch):
        for file in sorted(package.rglob("*")):
            if file.is_file():
                rows.append((_sha256(file), file.relative_to(batch).as_posix(), file.stat().st_size))
    return rows


def pakbon_xml(batch: Path, *, identificatie: str = "", naam: str = "", locatie_doelsysteem: str = "",
               archiefvormer: str = "", contactpersoon: str = "", bijzonderheden: str = "",
               created: datetime | None = None) -> bytes:
    """The pakbon of ``batch`` (``pakbon.md``): every item it lists, counted from the folder itself."""
    rows = manifest(batch)
    content = [(path, size) for _, path, size in rows if not path.lower().endswith(MDTO_SUFFIX.lower())]
    manifest_bytes = _manifest_bytes(rows)
    root = etree.Element("pakbon")
    for tag, value in (
            ("identificatie", identificatie or batch.name), ("naam", naam or f"Sociale media {batch.name}"),
            ("locatieDoelsysteem", locatie_doelsysteem), ("tijdstipCreatie", _iso(created)),
            ("archiefvormer", archiefvormer), ("contactpersoon", contactpersoon),
            ("aantalInformatieobjecten", str(len(packages(batch)))),
            ("aantalBestanden", str(len(content))),
            ("aantalBestandenZonderMdto", str(len(content))),
            ("omvang", str(sum(size for _, size in content))),
            ("bijzonderheden", bijzonderheden)):
        etree.SubElement(root, tag).text = value
    hashcode = etree.SubElement(root, "hashcode")
    etree.SubElement(hashcode, "algoritme").text = "SHA-256"
    etree.SubElement(hashcode, "waarde").text = hashlib.sha256(manifest_bytes).hexdigest()
    etree.SubElement(hashcode, "over").text = MANIFEST
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8", pretty_print=True)


# -- helpers -----------------------------------------------------------------------------------

def _write_batch_files(batch: Path, pakbon: Callable[[Path], bytes]) -> None:
    _replace(batch / MANIFEST, _manifest_bytes(manifest(batch)))
    _replace(batch / PAKBON, pakbon(batch))


def _manifest_bytes(rows: list[tuple[str, str, int]]) -> bytes:
    return "".join(f"{digest}  {path}\n" for digest, path, _ in rows).encode("utf-8")


def _replace(path: Path, data: bytes) -> None:
    temporary = path.with_name(f".{path.name}.{os.getpid()}.{next(_serial)}.tmp")
    _write_file(temporary, [data])
    os.replace(temporary, path)


def _write_file(path: Path, blocks) -> None:
    with open(path, "xb") as handle:
        for block in blocks:
            handle.write(block)
        handle.flush()
        os.fsync(handle.fileno())


def _fsync_dir(path: Path) -> None:
    descriptor = os.open(path, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)


@contextlib.contextmanager
def _batch_lock(batch: Path) -> Iterator[None]:
    with open(batch / LOCK, "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _digests(package: Path) -> dict[str, str]:
    return {file.relative_to(package).as_posix(): _sha256(file) for file in package.rglob("*") if file.is_file()}


def _sha256(path: Path, chunk: int = 1 << 20) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while block := handle.read(chunk):
            digest.update(block)
    return digest.hexdigest()


def _iso(moment: datetime | None) -> str:
    moment = moment or datetime.now(timezone.utc)
    return moment.astimezone(timezone.utc).isoformat(timespec="seconds").replace("+00:00", "Z")
