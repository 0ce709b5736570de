"""Many messages into ONE existing zaak, against a double that answers like Open Zaak.

The double runs in its own process with the ``openzaak`` latency profile (lookup ~55 ms, document
POST ~80 ms, link POST ~125 ms; see ``doubles/connector_doubles/zgw/latency.py``) and no fixed latency.
Every message is routed by an ``attach`` rule to the seeded zaak ``ZAAK-2026-0000000042``.

* ``bare``: a plain ``requests`` loop making only the four POSTs per message (two documents, two
  links), payloads and renditions prepared before the clock starts;
* ``pipeline``: the connector's full path, one delivery at a time (it looks the zaak up once per
  sink instance, not per message);
* ``pipeline_parallel4``: the same with ``parallel: 4``: documents into an existing zaak are not
  serialised, so four deliveries run at once;
* ``bare_parallel4``: the bare loop on 4 threads, the ceiling of this machine and double.

Figures: the two pipelines' rates against ``bare`` (targets: at least 0.95 and 3).
"""
from __future__ import annotations

import os
import tempfile
from pathlib import Path

import requests

from .pipeline import RSIN, DoubleProcess, _token, make_messages, post_documents, prepare_bare, run_pipeline, \
    timed_threads

MESSAGES = int(os.environ.get("BENCH_ONE_ZAAK_MESSAGES", "40"))
ZAAK = "ZAAK-2026-0000000042"
RULE = f"attach: {ZAAK}"


def _zaak_url(double: DoubleProcess) -> str:
    found = requests.get(f"{double.url}/zaken/api/v1/zaken", params={"identificatie": ZAAK, "bronorganisatie": RSIN},
                         headers={"Authorization": f"Bearer {_token()}", "Accept-Crs": "EPSG:4326",
                                  "Content-Crs": "EPSG:4326"}, timeout=10)
    found.raise_for_status()
    return found.json()["results"][0]["url"]


def run_bare(double: DoubleProcess, messages, threads: int = 1) -> float:
    documents = [docs for _, docs in prepare_bare(double, messages)]
    zaak_url = _zaak_url(double)

    def send(chunk):
        session = requests.Session()
        for pair in chunk:
            post_documents(session, double.url, zaak_url, pair)

    return timed_threads(send, [documents[i::threads] for i in range(threads)])


def run() -> list[tuple[str, float, str]]:
    messages = make_messages(MESSAGES)
    double = DoubleProcess(latency=0.0, profile="openzaak")
    double.start()
    seconds = {}
    try:
        with tempfile.TemporaryDirectory() as tmp:
            folder = Path(tmp)
            print(f"workload: {len(messages)} messages into one existing zaak (4 POSTs each);"
                  " double with the openzaak latency profile")
            for name, measure in (("bare", lambda: run_bare(double, messages)),
                                  ("bare_parallel4", lambda: run_bare(double, messages, threads=4)),
                                  ("pipeline", lambda: run_pipeline(folder, double, messages, 1, RULE, "one-zaak")),
                                  ("pipeline_parallel4",
                                   lambda: run_pipeline(folder, double, messages, 4, RULE, "one-zaak"))):
                double.reset()
                seconds[name] = measure()
                print(f"{name:>20}: {MESSAGES / seconds[name]:6.2f} messages/s", flush=True)
    finally:
        double.stop()
    return [
        ("one_zaak_vs_bare_sequential", seconds["bare"] / seconds["pipeline"], "x"),
        ("one_zaak_parallel4_vs_bare_sequential", seconds["bare"] / seconds["pipeline_parallel4"], "x"),
        # the ceiling of this machine and double: the bare loop itself on 4 threads
        ("one_zaak_bare_parallel4_vs_bare_sequential", seconds["bare"] / seconds["bare_parallel4"], "x"),
    ]


__all__ = ["run"]
