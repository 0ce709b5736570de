"""Delivery pipeline vs. a bare ``requests`` loop, against a ZGW double with a fixed latency per call.

The double runs in its own process (like a real Open Zaak on another host), answering every call
after ``LATENCY`` seconds (plus, with ``BENCH_LATENCY_PROFILE``, that profile's time for the
call), without spec validation (which would add its own, variable, cost). One
run, three measurements on the same workload of ``MESSAGES`` messages, each routed to a new zaak:

* ``bare``: a plain ``requests.Session`` loop sending the same HTTP requests the connector sends
  for a message (lookup zaak, create zaak, create and link two documents), with payloads and
  renditions prepared before the clock starts and a JWT minted per call, as the sink does. The
  documents are the ones the connector uploads: the PDF/A rendition (``render_pdf`` with the inputs
  the record gives it: no parent, no images, dated by the fetch; checked against the record's own
  bytes) and the original; the time their rendering took is printed (it is outside the bare clock,
  inside the pipeline's).
* ``pipeline``: the connector's full path: store (outbox, memoised steps, audit trail), mapping
  rules, the delivery state machine and the ZGW sink, delivering one at a time.
* ``pipeline_parallel4``: the same with ``parallel: 4`` for the sink.
* ``bare_parallel4``: the bare loop on 4 threads: what this machine and double allow at all, so
  the parallel figure can be read against a ceiling measured in the same run.

Figures: messages per second for each, the ratios against ``bare``, and the connector process's
peak RSS.
"""
from __future__ import annotations

import base64
import hashlib
import json
import os
import resource
import socket
import subprocess
import sys
import tempfile
import threading
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

import jwt
import requests
import yaml

from connector.config import load_config
from connector.engine import Connector
from connector.message import Author, Message, Raw
from connector.record import RENDITION, build_record
from connector.rendition_pdf import MEDIA_TYPE as PDF, render_pdf
from connector.sinks.zgw import document_identificatie, zaak_identificatie

MESSAGES = int(os.environ.get("BENCH_MESSAGES", "120"))
LATENCY = float(os.environ.get("BENCH_LATENCY", "0.020"))
# a per-call profile of the double (e.g. "openzaak"); it adds to BENCH_LATENCY, so set that to 0 with it
LATENCY_PROFILE = os.environ.get("BENCH_LATENCY_PROFILE", "")
SECRET = "bench-secret-0123456789abcdef0123456789"
RSIN = "002220647"
ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class DoubleProcess:
    """The ZGW double in a subprocess; ``reset()`` restarts it empty (back to the seed)."""

    def __init__(self, latency: float = LATENCY, profile: str = LATENCY_PROFILE):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.process = None
        self.latency, self.profile = latency, profile

    def arguments(self) -> list[str]:
        """The double's own command-line settings (a subclass adds its own)."""
        return ["--latency", str(self.latency), *(["--latency-profile", self.profile] if self.profile else [])]

    def start(self):
        self.process = subprocess.Popen(
            [sys.executable, "-m", "connector_doubles.zgw", "--port", str(self.port), "--secret", SECRET,
             "--client-id", "connector", "--no-validate", *self.arguments()],
            cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                requests.get(self.url + "/catalogi/api/v1/", timeout=1)
                break
            except requests.ConnectionError:
                time.sleep(0.1)
        else:
            raise RuntimeError("the ZGW double did not start")
        self.warm()

    def warm(self) -> None:
        """One call of every kind a measurement makes, before any clock starts.

        A fresh double answers its first zaak lookup in about a second and its first creates in
        half a second (its own start-up work, which a running Open Zaak has behind it); whichever
        measurement came first after a restart would pay that. Leaves one zaak and one document.
        """
        session, base = requests.Session(), self.url
        crs = {"Accept-Crs": "EPSG:4326", "Content-Crs": "EPSG:4326"}
        auth = lambda: {"Authorization": f"Bearer {_token()}", **crs}  # noqa: E731
        zaaktype = session.get(f"{base}/catalogi/api/v1/zaaktypen", params={"identificatie": "SOCIAL-MELDING"},
                               headers=auth()).json()["results"][0]["url"]
        iotype = next(t["url"] for t in session.get(f"{base}/catalogi/api/v1/informatieobjecttypen",
                                                    headers=auth()).json()["results"]
                      if t["omschrijving"] == "Sociale-mediabericht")
        session.get(f"{base}/zaken/api/v1/zaken", params={"identificatie": "WARM-UP", "bronorganisatie": RSIN},
                    headers=auth()).raise_for_status()
        zaak = session.post(f"{base}/zaken/api/v1/zaken", headers=auth(), json={
            "identificatie": "WARM-UP", "bronorganisatie": RSIN, "verantwoordelijkeOrganisatie": RSIN,
            "zaaktype": zaaktype, "startdatum": "2026-03-01", "omschrijving": "warm-up"})
        zaak.raise_for_status()
        content = b"warm-up"
        post_documents(session, base, zaak.json()["url"], [{
            "identificatie": "WARM-UP", "bronorganisatie": RSIN, "creatiedatum": "2026-03-01", "titel": "warm-up",
            "auteur": "bench", "taal": "dut", "formaat": "text/plain", "bestandsnaam": "warm-up.txt",
            "inhoud": base64.b64encode(content).decode(), "vertrouwelijkheidaanduiding": "openbaar",
            "informatieobjecttype": iotype, "status": "definitief",
            "integriteit": {"algoritme": "sha_256", "waarde": hashlib.sha256(content).hexdigest(),
                            "datum": "2026-03-01"}}])

    def reset(self):
        self.stop()
        self.start()

    def stop(self):
        if self.process:
            self.process.terminate()
            self.process.wait(timeout=10)
            self.process = None


def make_messages(count: int) -> list[Message]:
    start = datetime(2026, 3, 1, 9, tzinfo=timezone.utc)
    messages = []
    for n in range(count):
        body = json.dumps({"id": str(10**17 + n), "content": f"<p>Melding {n} over de stoep</p>"}).encode()
        messages.append(Message(
            channel="bench", id=str(10**17 + n), kind="post",
            author=Author(id="1", handle="gemeente@social.example", name="Gemeente"),
            created_at=start + timedelta(minutes=n), text=f"Melding {n} over de stoep",
            html=f"<p>Melding {n} over de stoep</p>", language="nl",
            raw=Raw(body=body, media_type="application/json", page_url="https://social.example/api",
                    fetched_at=start)))
    return messages


NEW_ZAAK_RULE = "create: {zaaktype: SOCIAL-MELDING, omschrijving: 'Melding {id}'}"


def write_config(folder: Path, double_url: str, parallel: int, rule: str = NEW_ZAAK_RULE, name: str = "bench",
                 store: str | None = None) -> Path:
    """A configuration whose one rule (``unmatched``) routes every message as ``rule`` says; ``store`` (a path or
    URL) defaults to a SQLite file in ``folder``."""
    (folder / "mappings").mkdir(exist_ok=True)
    (folder / "mappings" / "rules.yaml").write_text(
        "global_defaults: {informatieobjecttype: Sociale-mediabericht, titel: '{channel} {id}'}\n"
        f"unmatched:\n  {rule}\n")
    config = {
        "store": store or str(folder / f"{name}-{parallel}.db"), "mappings": str(folder / "mappings"),
        "delivery": {"parent_grace": 0, "batch_size": 200},
        "sinks": [{"name": "zaken", "kind": "zgw", "parallel": parallel, "options": {
            "zaken_url": double_url + "/zaken/api/v1", "documenten_url": double_url + "/documenten/api/v1",
            "catalogi_url": double_url + "/catalogi/api/v1", "client_id": "connector",
            "secret": "${BENCH_ZGW_SECRET}", "bronorganisatie": RSIN}}],
    }
    path = folder / f"{name}-{parallel}.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


def run_pipeline(folder: Path, double: DoubleProcess, messages: list[Message], parallel: int,
                 rule: str = NEW_ZAAK_RULE, name: str = "bench", store: str | None = None) -> float:
    os.environ["BENCH_ZGW_SECRET"] = SECRET
    connector = Connector(load_config(write_config(folder, double.url, parallel, rule, name, store)))
    try:
        # warm the sink's catalogus caches outside the clock, as a running worker has them
        routing = connector.plan(messages[0])[0].routing
        connector.sinks["zaken"]._informatieobjecttype(routing)
        if routing.zaaktype:
            connector.sinks["zaken"]._zaaktype(routing.zaaktype)
        started = time.perf_counter()
        connector.store.save_page("bench", [(m, connector.plan(m)) for m in messages], {"bench": True})
        result = connector.drain()
        elapsed = time.perf_counter() - started
        if result.delivered != len(messages):
            raise RuntimeError(f"pipeline delivered {result.delivered} of {len(messages)}: {result.errors[:3]}")
        return elapsed
    finally:
        connector.close()


def _token() -> str:
    return jwt.encode({"iss": "connector", "iat": int(time.time()), "client_id": "connector",
                       "user_id": "bench", "user_representation": "bench"}, SECRET, algorithm="HS256")


def prepare_bare(double: DoubleProcess, messages: list[Message]) -> list[tuple[str, list[dict]]]:
    """The payloads of the bare loop, built before its clock starts (renditions included)."""
    session = requests.Session()
    auth = {"Authorization": f"Bearer {_token()}"}
    zaaktype = session.get(f"{double.url}/catalogi/api/v1/zaaktypen", params={"identificatie": "SOCIAL-MELDING"},
                           headers=auth).json()["results"][0]["url"]
    iotype = next(t["url"] for t in session.get(f"{double.url}/catalogi/api/v1/informatieobjecttypen",
                                                headers=auth).json()["results"]
                  if t["omschrijving"] == "Sociale-mediabericht")
    prepared = []
    started = time.perf_counter()
    renditions = [render_pdf(m, parent=m.parent, images=(), captured_at=m.raw.fetched_at) for m in messages]
    print(f"bare: {len(renditions)} PDF/A renditions rendered in {time.perf_counter() - started:.2f} s"
          " (before its clock)", flush=True)
    if renditions[0] != build_record(messages[0]).file(RENDITION).data:
        raise RuntimeError("the bare loop's rendition differs from the connector's: not the same documents")
    for message, rendition in zip(messages, renditions):
        documents = []
        for role, content, media_type in (("rendition", rendition, PDF),
                                          ("original", message.raw.body, "application/json")):
            documents.append({
                "identificatie": document_identificatie(message, role), "bronorganisatie": RSIN,
                "creatiedatum": "2026-03-01", "titel": f"bench {message.id} {role}", "auteur": "bench",
                "taal": "dut", "formaat": media_type, "bestandsnaam": f"{message.id}-{role}",
                "inhoud": base64.b64encode(content).decode(), "vertrouwelijkheidaanduiding": "openbaar",
                "informatieobjecttype": iotype, "status": "definitief",
                "integriteit": {"algoritme": "sha_256", "waarde": hashlib.sha256(content).hexdigest(),
                                "datum": "2026-03-01"}})
        zaak = {"identificatie": zaak_identificatie(message), "bronorganisatie": RSIN,
                "verantwoordelijkeOrganisatie": RSIN, "zaaktype": zaaktype, "startdatum": "2026-03-01",
                "omschrijving": f"Melding {message.id}"}
        prepared.append((zaak, documents))
    return prepared


def post_documents(session: requests.Session, base: str, zaak_url: str, documents: list[dict]) -> None:
    """Create each document and link it to the zaak: what the sink does for the files of a message."""
    crs = {"Accept-Crs": "EPSG:4326", "Content-Crs": "EPSG:4326"}
    for document in documents:
        created = session.post(f"{base}/documenten/api/v1/enkelvoudiginformatieobjecten",
                               headers={"Authorization": f"Bearer {_token()}"}, json=document)
        created.raise_for_status()
        session.post(f"{base}/zaken/api/v1/zaakinformatieobjecten",
                     headers={"Authorization": f"Bearer {_token()}", **crs},
                     json={"zaak": zaak_url, "informatieobject": created.json()["url"]}).raise_for_status()


def send_bare(double: DoubleProcess, prepared: list[tuple[dict, list[dict]]]) -> None:
    """The same six calls per message the ZGW sink makes, in a plain loop."""
    base = double.url
    session = requests.Session()
    crs = {"Accept-Crs": "EPSG:4326", "Content-Crs": "EPSG:4326"}
    for zaak_payload, documents in prepared:
        session.get(f"{base}/zaken/api/v1/zaken", headers={"Authorization": f"Bearer {_token()}", **crs},
                    params={"identificatie": zaak_payload["identificatie"], "bronorganisatie": RSIN}
                    ).raise_for_status()
        zaak = session.post(f"{base}/zaken/api/v1/zaken", headers={"Authorization": f"Bearer {_token()}", **crs},
                            json=zaak_payload)
        zaak.raise_for_status()
        post_documents(session, base, zaak.json()["url"], documents)


def timed_threads(target, chunks: list) -> float:
    """Seconds for ``target(chunk)`` to finish for every chunk, each on its own thread."""
    workers = [threading.Thread(target=target, args=(chunk,)) for chunk in chunks]
    started = time.perf_counter()
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    return time.perf_counter() - started


def run_bare(double: DoubleProcess, messages: list[Message], threads: int = 1) -> float:
    prepared = prepare_bare(double, messages)
    return timed_threads(lambda chunk: send_bare(double, chunk), [prepared[i::threads] for i in range(threads)])


def run() -> list[tuple[str, float, str]]:
    messages = make_messages(MESSAGES)
    double = DoubleProcess()
    double.start()
    seconds = {}
    try:
        with tempfile.TemporaryDirectory() as tmp:
            folder = Path(tmp)
            print(f"workload: {len(messages)} messages, each a new zaak with 2 documents (6 calls);"
                  f" double latency {LATENCY * 1000:.0f} ms per call"
                  + (f" plus latency profile {LATENCY_PROFILE}" if LATENCY_PROFILE else ""))
            for name, measure in (("bare", lambda: run_bare(double, messages)),
                                  ("bare_parallel4", lambda: run_bare(double, messages, threads=4)),
                                  ("pipeline", lambda: run_pipeline(folder, double, messages, parallel=1)),
                                  ("pipeline_parallel4", lambda: run_pipeline(folder, double, messages, parallel=4))):
                double.reset()
                seconds[name] = measure()
    finally:
        double.stop()
    rate = {name: MESSAGES / value for name, value in seconds.items()}
    for name, value in rate.items():
        print(f"{name:>20}: {value:6.1f} messages/s")
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return [
        ("bare_sequential_messages_per_second", rate["bare"], "msg/s"),
        ("pipeline_sequential_messages_per_second", rate["pipeline"], "msg/s"),
        ("pipeline_parallel4_messages_per_second", rate["pipeline_parallel4"], "msg/s"),
        ("pipeline_vs_bare_sequential", rate["pipeline"] / rate["bare"], "x"),
        ("pipeline_parallel4_vs_bare_sequential", rate["pipeline_parallel4"] / rate["bare"], "x"),
        # the ceiling of this machine and double: the bare loop itself on 4 threads
        ("bare_parallel4_vs_bare_sequential", rate["bare_parallel4"] / rate["bare"], "x"),
        ("pipeline_peak_rss", peak_mb, "MB"),
    ]
