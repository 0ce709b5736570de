"""Run the benchmarks and print one ``name = value unit`` line per figure at the end."""
from __future__ import annotations

import sys

from . import crash_resume, large_file, one_zaak, pipeline, renditions, rules

BENCHMARKS = {"pipeline": pipeline.run, "one_zaak": one_zaak.run, "rules": rules.run,
              "crash_resume": crash_resume.run, "large_file": large_file.run, "renditions": renditions.run}


def main(argv: list[str]) -> int:
    names = argv or list(BENCHMARKS)
    unknown = [name for name in names if name not in BENCHMARKS]
    if unknown:
        print(f"unknown benchmark(s): {', '.join(unknown)}; known: {', '.join(BENCHMARKS)}", file=sys.stderr)
        return 2
    figures = []
    for name in names:
        print(f"## {name}", flush=True)
        figures += BENCHMARKS[name]()
    print()
    for name, value, unit in figures:
        print(f"{name} = {value:.2f} {unit}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
