"""The MDTO SIP on disk: sidecar layout, atomic and idempotent packages, a pakbon that tells the truth."""
from __future__ import annotations

import hashlib
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from lxml import etree

from connector.sinks.archive.sip import (BESTAND_SUFFIX, MANIFEST, MAX_NAME, MDTO_SUFFIX, PAKBON, PackageConflict,
                                         PackageFile, clean_name, manifest, packages, write_package)


def files(text: str = "hallo") -> list[PackageFile]:
    return [PackageFile("bericht.html", b"<bestand>html</bestand>", data=f"<p>{text}</p>".encode()),
            PackageFile("bericht.json", b"<bestand>json</bestand>", data=b'{"id": "1"}')]


def pakbon(batch: Path) -> dict[str, str]:
    root = etree.fromstring((batch / PAKBON).read_bytes())
    return {element.tag: (element.text or "") for element in root.iter() if len(element) == 0}


def test_a_package_is_the_sidecar_structure_and_the_pakbon_counts_it(tmp_path):
    written = write_package(tmp_path / "sip-20261126", "mastodon-1", b"<io/>", files())
    assert not written.existed
    package = written.path
    assert sorted(p.name for p in package.iterdir()) == [
        "bericht.html", f"bericht.html{BESTAND_SUFFIX}", "bericht.json", f"bericht.json{BESTAND_SUFFIX}",
        f"mastodon-1{MDTO_SUFFIX}"]
    assert (package / "bericht.html").read_bytes() == b"<p>hallo</p>"
    assert (package / f"bericht.html{BESTAND_SUFFIX}").read_bytes() == b"<bestand>html</bestand>"
    write_package(tmp_path / "sip-20261126", "mastodon-2", b"<io/>", files("dag"))
    summary = pakbon(tmp_path / "sip-20261126")
    assert summary["aantalInformatieobjecten"] == "2"
    assert summary["aantalBestanden"] == summary["aantalBestandenZonderMdto"] == "4"
    assert summary["omvang"] == str(2 * len(b'{"id": "1"}') + len(b"<p>hallo</p>") + len(b"<p>dag</p>"))
    listed = (tmp_path / "sip-20261126" / MANIFEST).read_bytes()
    assert summary["waarde"] == hashlib.sha256(listed).hexdigest()
    for digest, path, _ in manifest(tmp_path / "sip-20261126"):  # every file, with its true checksum
        assert hashlib.sha256((tmp_path / "sip-20261126" / path).read_bytes()).hexdigest() == digest
        assert f"{digest}  {path}\n".encode() in listed


def test_writing_a_package_again_writes_nothing(tmp_path):
    batch = tmp_path / "sip"
    first = write_package(batch, "p", b"<io/>", files())
    stamps = {p: p.stat().st_mtime_ns for p in first.path.iterdir()}
    again = write_package(batch, "p", b"<io/>", files())
    assert again.existed and again.path == first.path
    assert {p: p.stat().st_mtime_ns for p in first.path.iterdir()} == stamps
    assert pakbon(batch)["aantalInformatieobjecten"] == "1"


def test_a_package_with_other_content_is_refused_not_overwritten(tmp_path):
    batch = tmp_path / "sip"
    write_package(batch, "p", b"<io/>", files("eerst"))
    with pytest.raises(PackageConflict, match="already in the archive with other content"):
        write_package(batch, "p", b"<io/>", files("anders"))
    assert (batch / "p" / "bericht.html").read_bytes() == b"<p>eerst</p>"
    assert [p.name for p in batch.iterdir() if p.name.startswith(".partial")] == []


class Failing:
    """A file source that breaks after its first block: a disk error or a crash mid-package."""

    def __init__(self):
        self.reads = 0

    def read(self, size=-1):
        self.reads += 1
        if self.reads > 1:
            raise OSError("disk gone")
        return b"x" * 10

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


class BrokenFile(PackageFile):
    def open(self):
        return Failing()


def test_a_package_that_fails_midway_leaves_nothing_that_looks_complete(tmp_path):
    batch = tmp_path / "sip"
    write_package(batch, "other", b"<io/>", files())
    with pytest.raises(OSError, match="disk gone"):
        write_package(batch, "p", b"<io/>", [*files(), BrokenFile("video.mp4", b"<bestand/>", data=b"")])
    assert [p.name for p in packages(batch)] == ["other"]
    assert not any(p.name.startswith(".partial") for p in batch.iterdir())
    assert pakbon(batch)["aantalInformatieobjecten"] == "1"


def test_a_crashed_writers_partial_folder_is_never_counted_and_is_cleared_by_the_next_write(tmp_path):
    batch = tmp_path / "sip"
    write_package(batch, "other", b"<io/>", files())
    gone = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    leftover = batch / f".partial-p-{int(gone.stdout)}-0"  # what a SIGKILL mid-package leaves
    leftover.mkdir()
    (leftover / "p.MDTO.xml").write_bytes(b"<io/>")
    assert [p.name for p in packages(batch)] == ["other"]
    assert all(".partial" not in path for _, path, _ in manifest(batch))
    write_package(batch, "p", b"<io/>", files())
    assert not leftover.exists() and [p.name for p in packages(batch)] == ["other", "p"]


@pytest.mark.parametrize("name, expected", [
    ('a<b>c:d"e/f\\g|h?i*j#k&l m.html', "a_b_c_d_e_f_g_h_i_j_k_l_m.html"),
    ("..verborgen", "verborgen"),
    ("tab\there\nnewline", "tab_here_newline"),
    ("", "naamloos"),
])
def test_names_lose_the_characters_the_specification_forbids(name, expected):
    assert clean_name(name) == expected


def test_long_names_fit_with_their_sidecar_suffix_and_stay_distinct():
    first, second = clean_name("a" * 400 + "1.jpeg"), clean_name("a" * 400 + "2.jpeg")
    assert first != second and first.endswith(".jpeg") and second.endswith(".jpeg")
    assert len(first + BESTAND_SUFFIX) <= MAX_NAME and len(second + BESTAND_SUFFIX) <= MAX_NAME


def test_two_files_that_clean_to_one_name_are_refused(tmp_path):
    with pytest.raises(ValueError, match="same name"):
        write_package(tmp_path / "sip", "p", b"<io/>", [PackageFile("a b", b"<x/>", data=b"1"),
                                                        PackageFile("a&b", b"<x/>", data=b"2")])


def test_writers_in_many_threads_share_one_batch(tmp_path):
    batch = tmp_path / "sip"
    names = [f"p{n}" for n in range(12)] * 2  # every package twice, at once
    with ThreadPoolExecutor(6) as pool:
        results = list(pool.map(lambda name: write_package(batch, name, b"<io/>", files(name)), names))
    assert sorted(p.name for p in packages(batch)) == sorted(set(names))
    assert sum(r.existed for r in results) == 12  # each package written once, found once
    summary = pakbon(batch)
    assert summary["aantalInformatieobjecten"] == "12" and summary["aantalBestanden"] == "24"
    assert summary["waarde"] == hashlib.sha256((batch / MANIFEST).read_bytes()).hexdigest()


def test_a_large_file_is_copied_from_disk_in_blocks(tmp_path):
    source = tmp_path / "video.mp4"
    block = hashlib.sha256(b"seed").digest() * 1024  # 32 KiB
    with open(source, "wb") as handle:
        for _ in range(640):  # 20 MiB
            handle.write(block)
    reads = []

    class Counting(PackageFile):
        def open(self):
            handle = open(self.path, "rb")
            original = handle.read
            handle.read = lambda size=-1: (reads.append(size), original(size))[1]
            return handle

    written = write_package(tmp_path / "sip", "p", b"<io/>", [Counting("video.mp4", b"<x/>", path=source)],
                            chunk=1 << 20)
    assert (written.path / "video.mp4").read_bytes() == source.read_bytes()
    assert reads and max(reads) == 1 << 20  # never the whole file at once
