"""Run the ZGW double standalone: ``python -m connector_doubles.zgw --port 8001``."""
from __future__ import annotations

import argparse
import signal

from ..serving import report_until_interrupted
from . import PROFILES, ZgwDouble, serve
from .validation import SPEC_FILES, load_api


def build(argv=None) -> tuple[ZgwDouble, argparse.Namespace]:
    """The double the command line asks for (specs loaded, faults set, not serving yet) and the options."""
    parser = argparse.ArgumentParser(prog="python -m connector_doubles.zgw",
                                     description="A local fake Open Zaak for the connector.")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8001)
    parser.add_argument("--secret", default="insecure-test-secret")
    parser.add_argument("--client-id", action="append", dest="client_ids",
                        help="accepted JWT client_id (repeatable; default: connector)")
    parser.add_argument("--seed", default=None, help="seed YAML (default fixtures/zgw/catalogus.yaml)")
    parser.add_argument("--latency", type=float, default=0.0, help="seconds added per call")
    parser.add_argument("--latency-profile", choices=sorted(PROFILES), default=None,
                        help="answer each call as slowly as that server does (openzaak: Open Zaak "
                             "1.21.0 on loopback, 20-125 ms by method and path); adds to --latency")
    parser.add_argument("--lenient", action="store_true",
                        help="accept a second zaak or document with the same identificatie and a "
                             "second link of the same pair (Open Zaak refuses them with 400)")
    parser.add_argument("--part-size", type=int, default=4 << 30, metavar="BYTES",
                        help="bytes per bestandsdeel of a large file (default 4 GiB, as Open Zaak)")
    parser.add_argument("--part-locks", choices=("document", "own"), default="document",
                        help="each bestandsdeel carries the document's lock (Open Zaak) or its own")
    parser.add_argument("--no-validate", action="store_true", help="skip OpenAPI validation")
    parser.add_argument("--error-rate", type=float, default=0.0, metavar="P",
                        help="share of GET/POST calls answered 500/502/503, half of them after "
                             "the work was done")
    parser.add_argument("--outage-after", type=float, default=None, metavar="S",
                        help="start an outage (every call 503) S seconds after startup")
    parser.add_argument("--outage-seconds", type=float, default=30.0, metavar="D",
                        help="length of that outage (default 30)")
    parser.add_argument("--fault-seed", type=int, default=None, help="seed for --error-rate")
    args = parser.parse_args(argv)
    if not 0.0 <= args.error_rate <= 1.0:
        parser.error("--error-rate must be between 0 and 1")

    double = ZgwDouble(secret=args.secret, client_ids=tuple(args.client_ids or ["connector"]),
                       seed=args.seed, validate=not args.no_validate, latency=args.latency,
                       latency_profile=args.latency_profile, lenient=args.lenient,
                       part_size=args.part_size, part_locks=args.part_locks)
    if double.validate:
        for base in SPEC_FILES:   # pay the spec loading before the first client call
            load_api(base)
    if args.error_rate:
        double.faults.error_rate(args.error_rate, seed=args.fault_seed)
    if args.outage_after is not None:
        double.faults.outage(args.outage_seconds, start_in=args.outage_after)
    return double, args


def main(argv=None) -> int:
    double, args = build(argv)
    server = serve(double, host=args.host, port=args.port)
    print(f"ZGW double (fake Open Zaak 1.21.0) on {server.url}")
    print(f"  Zaken API:      {server.zaken_url}")
    print(f"  Documenten API: {server.documenten_url}")
    print(f"  Catalogi API:   {server.catalogi_url}")
    if args.latency_profile:
        print(f"  latency profile {args.latency_profile} (+{args.latency} s per call)")
    if args.lenient:
        print("  lenient: duplicate identificaties and links are accepted")
    print("Ctrl-C to stop.", flush=True)
    signal.signal(signal.SIGTERM, _interrupt)   # a terminated double removes its uploads too
    try:
        report_until_interrupted(double, "SPEC VIOLATION")
        server.shutdown()
    finally:
        double.state.close()
    return 0


def _interrupt(signum, frame):
    raise KeyboardInterrupt


if __name__ == "__main__":
    raise SystemExit(main())
