"""A 1 GiB attachment through the Documenten API's large-file flow: the connector's peak memory, and
its time against a bare streaming upload of the same bytes.

A file of ``BENCH_LARGE_FILE_BYTES`` (default 1 GiB) random bytes (random: nothing on the way may
compress it) is written to a temporary folder. The ZGW double runs in its own process with
bestandsdelen of ``BENCH_LARGE_FILE_PART_BYTES`` (default 256 MiB, so a 1 GiB file is four parts,
each with its own PUT; Open Zaak's default is 4 GiB, one part) and without spec validation, as in
the other benchmarks. Two measurements, each in a fresh subprocess (``ru_maxrss`` is a process's
peak: a process that ran other benchmarks first, or generated the file, would report their peak),
each against a freshly started double:

* ``bare``: a plain ``requests`` client making the flow's calls for the file and nothing else:
  create the document without ``inhoud``, PUT every part as a hand-written multipart body
  streamed from the file (a generator, 1 MiB at a time), unlock;
* ``connector``: ``ZgwSink.deliver`` of one message attached to a seeded zaak whose record has
  the file as its original (on disk, ``RecordFile.from_path``; the core builds such records for
  media later, so the benchmark hands the sink that record itself): zaak lookup, the rendition
  (small, base64) and its link, the file through ``connector/sinks/zgw/large.py``, its link.
  The record's SHA-256 is computed before the clock starts (the record is built in the core);
  the catalogus lookups are warmed first, as in a running worker.

With ``BENCH_LARGE_FILE_ROUNDS`` at its default 2, each is measured twice, in the order bare,
connector, connector, bare (a run's gigabyte written by the double is still being flushed to disk
during the next run), with ``sync`` before each; the faster time of each kind and the higher peak
RSS count. ``BENCH_LARGE_FILE_ROUNDS=1`` measures each once.

Figures: ``large_file_peak_rss`` (the connector process's peak resident memory, target under
150 MB), ``large_file_vs_bare_upload`` (the bare upload's time divided by the connector's:
1.0 is as fast as bare, target at least 0.7), and both throughputs in MB/s.
"""
from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import requests

from .pipeline import ROOT, RSIN, SECRET, DoubleProcess, _token

SIZE = int(os.environ.get("BENCH_LARGE_FILE_BYTES", str(1 << 30)))
PART = int(os.environ.get("BENCH_LARGE_FILE_PART_BYTES", str(256 << 20)))
ZAAK = "ZAAK-2026-0000000042"
CHUNK = 1 << 20
ROUNDS = 2 if os.environ.get("BENCH_LARGE_FILE_ROUNDS", "2") != "1" else 1


class LargeFileDouble(DoubleProcess):
    """The double in its own process, with bestandsdelen of ``part_size`` bytes."""

    def __init__(self, part_size: int):
        super().__init__(latency=0.0, profile="")
        self.part_size = part_size

    def arguments(self) -> list[str]:
        return [*super().arguments(), "--part-size", str(self.part_size)]


def write_random(path: Path, size: int) -> None:
    with open(path, "wb") as out:
        left = size
        while left:
            block = os.urandom(min(CHUNK * 8, left))
            out.write(block)
            left -= len(block)
        out.flush()
        os.fsync(out.fileno())


# --- the two measurements, each run in a child process ------------------------------------------

def _auth() -> dict:
    return {"Authorization": f"Bearer {_token()}"}


def _iotype(base: str) -> str:
    types = requests.get(f"{base}/catalogi/api/v1/informatieobjecttypen", headers=_auth()).json()["results"]
    return next(t["url"] for t in types if t["omschrijving"] == "Sociale-mediabericht")


def _bare_part(path: Path, offset: int, size: int, lock: str):
    """A multipart body (``lock``, ``inhoud``) as a generator over the file, and its headers."""
    boundary = "bare-upload-boundary"
    head = (f'--{boundary}\r\nContent-Disposition: form-data; name="lock"\r\n\r\n{lock}\r\n'
            f'--{boundary}\r\nContent-Disposition: form-data; name="inhoud"; filename="part"\r\n'
            "Content-Type: application/octet-stream\r\n\r\n").encode()
    tail = f"\r\n--{boundary}--\r\n".encode()

    def body():
        yield head
        with open(path, "rb") as stream:
            stream.seek(offset)
            left = size
            while left:
                block = stream.read(min(CHUNK, left))
                left -= len(block)
                yield block
        yield tail

    return _Sized(body(), len(head) + size + len(tail)), {"Content-Type": f"multipart/form-data; boundary={boundary}"}


class _Sized:
    """A generator with a length: ``requests`` streams it with that Content-Length (not chunked)."""

    def __init__(self, chunks, length: int):
        self.chunks, self.length = chunks, length

    def __iter__(self):
        return self.chunks

    def __len__(self) -> int:
        return self.length


def child_bare(base: str, path: Path) -> float:
    iotype = _iotype(base)
    session = requests.Session()
    size = path.stat().st_size
    started = time.perf_counter()
    created = session.post(f"{base}/documenten/api/v1/enkelvoudiginformatieobjecten", headers=_auth(), json={
        "identificatie": "BARE-LARGE", "bronorganisatie": RSIN, "creatiedatum": "2026-03-01", "titel": "bare",
        "auteur": "bench", "taal": "dut", "informatieobjecttype": iotype, "bestandsomvang": size})
    created.raise_for_status()
    document, offset = created.json(), 0
    for part in document["bestandsdelen"]:
        body, headers = _bare_part(path, offset, part["omvang"], part["lock"])
        session.put(part["url"], data=body, headers={**_auth(), **headers}).raise_for_status()
        offset += part["omvang"]
    session.post(document["url"] + "/unlock", json={"lock": document["lock"]}, headers=_auth()).raise_for_status()
    return time.perf_counter() - started


def child_connector(base: str, path: Path) -> float:
    import connector.sinks.zgw as zgw_sink
    from connector.record import ORIGINAL, RecordFile
    from connector.routing import Routing
    from connector.sinks import MemorySteps

    from .pipeline import make_messages

    big = RecordFile.from_path(ORIGINAL, path, "video/mp4", "opname.mp4", "opname", "Een opname.")
    real = zgw_sink.other_files

    def other_files(message, titel=""):   # the files the sink uploads besides the rendition
        return tuple(big if f.role == ORIGINAL else f for f in real(message, titel))

    zgw_sink.other_files = other_files
    os.environ["BENCH_ZGW_SECRET"] = SECRET
    sink = zgw_sink.ZgwSink("zaken", {
        "zaken_url": base + "/zaken/api/v1", "documenten_url": base + "/documenten/api/v1",
        "catalogi_url": base + "/catalogi/api/v1", "client_id": "connector", "secret": SECRET,
        "bronorganisatie": RSIN, "informatieobjecttype": "Sociale-mediabericht",
        # the default (64 MiB) unless BENCH_LARGE_FILE_BYTES is smaller: the flow is what is measured
        "large_file_threshold": min(64 << 20, big.size - 1)})
    routing = Routing("attach", rule="bench", zaak_identificatie=ZAAK, titel="Opname",
                      vertrouwelijkheidaanduiding="openbaar")
    sink._informatieobjecttype(routing)   # warm, as a running worker has it
    message = make_messages(1)[0]
    started = time.perf_counter()
    delivered = sink.deliver(message, routing, MemorySteps())
    elapsed = time.perf_counter() - started
    assert [d.role for d in delivered.documents] == ["rendition", ORIGINAL], delivered
    return elapsed


def child(kind: str, base: str, path: str) -> None:
    seconds = (child_bare if kind == "bare" else child_connector)(base, Path(path))
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({"seconds": seconds, "peak_rss_mb": peak_mb}))


def _measure(kind: str, double: LargeFileDouble, path: Path) -> dict:
    done = subprocess.run([sys.executable, "-m", "bench.large_file", kind, double.url, str(path)],
                          cwd=ROOT, capture_output=True, text=True, check=False)
    if done.returncode:
        raise RuntimeError(f"{kind} measurement failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def _check(double: LargeFileDouble, identificatie: str, size: int) -> None:
    found = requests.get(f"{double.url}/documenten/api/v1/enkelvoudiginformatieobjecten", headers=_auth(),
                         params={"identificatie": identificatie, "bronorganisatie": RSIN}).json()["results"]
    if len(found) != 1 or found[0]["locked"] or found[0]["bestandsomvang"] != size:
        raise RuntimeError(f"{identificatie}: not delivered whole: {found}")


def run() -> list[tuple[str, float, str]]:
    from connector.record import ORIGINAL
    from connector.sinks.zgw import document_identificatie

    from .pipeline import make_messages

    results = {}
    with tempfile.TemporaryDirectory(prefix="bench-large-") as tmp:
        path = Path(tmp) / "attachment.bin"
        write_random(path, SIZE)
        parts = -(-SIZE // PART)
        print(f"workload: one file of {SIZE / 2**20:.0f} MiB (random bytes) in {parts} bestandsdelen of at most"
              f" {PART / 2**20:.0f} MiB, to the ZGW double in its own process")
        double = LargeFileDouble(PART)
        identificaties = {"bare": "BARE-LARGE", "connector": document_identificatie(make_messages(1)[0], ORIGINAL)}
        try:
            # ABBA: the disk's write-back of one run's gigabyte must not land on one kind only
            for kind in ("bare", "connector", "connector", "bare")[:2 * ROUNDS]:
                double.reset()   # a fresh double (and upload folder) for each
                if hasattr(os, "sync"):
                    os.sync()    # the previous run's written gigabyte reaches the disk first
                result = _measure(kind, double, path)
                _check(double, identificaties[kind], SIZE)
                print(f"{kind:>10}: {result['seconds']:6.2f} s", flush=True)
                best = results.get(kind)
                if best is None or result["seconds"] < best["seconds"]:
                    results[kind] = {**result, "peak_rss_mb": max(result["peak_rss_mb"],
                                                                  (best or result)["peak_rss_mb"])}
        finally:
            double.stop()
    mb = SIZE / 1e6
    for kind, result in results.items():
        print(f"{kind:>10} best: {result['seconds']:6.2f} s, {mb / result['seconds']:7.1f} MB/s,"
              f" peak RSS {result['peak_rss_mb']:.0f} MB")
    return [
        ("large_file_peak_rss", results["connector"]["peak_rss_mb"], "MB"),
        ("large_file_vs_bare_upload", results["bare"]["seconds"] / results["connector"]["seconds"], "x"),
        ("large_file_connector_mb_per_second", mb / results["connector"]["seconds"], "MB/s"),
        ("large_file_bare_mb_per_second", mb / results["bare"]["seconds"], "MB/s"),
    ]


if __name__ == "__main__":
    if len(sys.argv) == 4:
        child(*sys.argv[1:])
    else:
        for name, value, unit in run():
            print(f"{name} = {value:.2f} {unit}")
