"""Run the StUF double standalone: ``python -m connector_doubles.stuf --port 8002 --dialect 1.1``."""
from __future__ import annotations

import argparse

from ..serving import report_until_interrupted
from . import StufDouble, serve


def build(argv=None) -> tuple[StufDouble, argparse.Namespace]:
    """The double the command line asks for (faults set, not serving yet) and the options."""
    parser = argparse.ArgumentParser(prog="python -m connector_doubles.stuf",
                                     description="A local fake StUF-ZDS case system for the connector.")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8002)
    parser.add_argument("--dialect", choices=("1.1", "1.2"), default="1.1",
                        help="ZDS 1.1.02 (ZKN roots, default) or ZDS 1.2 (ZDS roots)")
    parser.add_argument("--soap", choices=("1.1", "1.2"), default=None,
                        help="serve this SOAP version only (default: both, each answered in its own)")
    parser.add_argument("--lenient", action="store_true",
                        help="store a second zaak or document with the same identificatie (default: Fo03)")
    parser.add_argument("--basic-auth", metavar="USER:PASSWORD", default=None)
    parser.add_argument("--username-token", metavar="USER:PASSWORD", default=None,
                        help="require a WS-Security UsernameToken (PasswordText)")
    parser.add_argument("--no-validate", action="store_true", help="skip XSD validation")
    parser.add_argument("--latency", type=float, default=0.0, help="seconds added per call")
    parser.add_argument("--error-rate", type=float, default=0.0, metavar="P",
                        help="share of calls answered 500/502/503, half of them after the work was done")
    parser.add_argument("--fault-seed", type=int, default=None)
    args = parser.parse_args(argv)
    if not 0.0 <= args.error_rate <= 1.0:
        parser.error("--error-rate must be between 0 and 1")
    pairs = {}
    for name in ("basic_auth", "username_token"):
        value = getattr(args, name)
        if value is not None:
            user, colon, password = value.partition(":")
            if not colon:
                parser.error(f"--{name.replace('_', '-')} takes USER:PASSWORD")
            pairs[name] = (user, password)
    double = StufDouble(dialect=args.dialect, lenient=args.lenient, validate=not args.no_validate,
                        latency=args.latency, soap_versions=(args.soap,) if args.soap else ("1.1", "1.2"),
                        **pairs)
    if args.error_rate:
        double.faults.error_rate(args.error_rate, methods=("POST",), seed=args.fault_seed)
    return double, args


def main(argv=None) -> int:
    double, args = build(argv)
    server = serve(double, host=args.host, port=args.port)
    print(f"StUF double (ZDS {args.dialect}{', lenient' if args.lenient else ''}) on {server.url}")
    for service, url in server.endpoints.items():
        print(f"  {service + ':':19} {url}")
    print(f"  SOAP {' and '.join(double.soap_versions)}")
    print("Ctrl-C to stop.", flush=True)
    try:
        report_until_interrupted(double, "VIOLATION")
    finally:
        server.shutdown()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
