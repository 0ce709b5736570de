"""Run the benchmarks and print one ``name = value unit`` line per figure at the end."""
from __future__ import annotations

import importlib
import sys

# in the order they run; each module is imported only when it runs, so one benchmark's imports (the PDF
# library of ``renditions``, say) never weigh on another's figures (``pipeline_peak_rss`` is this process's peak)
BENCHMARKS = ("pipeline", "one_zaak", "rules", "crash_resume", "large_file", "renditions", "pages", "workers")


def main(argv: list[str]) -> int:
    names = argv or list(BENCHMARKS)
    unknown = [name for name in names if name not in BENCHMARKS]
    if unknown:
        print(f"unknown benchmark(s): {', '.join(unknown)}; known: {', '.join(BENCHMARKS)}", file=sys.stderr)
        return 2
    figures = []
    for name in names:
        print(f"## {name}", flush=True)
        figures += importlib.import_module(f"{__package__}.{name}").run()
    print()
    for name, value, unit in figures:
        print(f"{name} = {value:.2f} {unit}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
