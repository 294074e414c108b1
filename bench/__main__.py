"""`python -m bench [name ...] [--smoke]`: run the benchmarks (all by default) and store their figures."""

import argparse
import importlib
import sys
import time

from .common import write_results

# In the order docs/BENCHMARKS.md gives them; each module has run(smoke: bool) -> list[Figure].
BENCHMARKS = ["scoping", "rls", "lists", "http", "backfill", "companies", "admin"]


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument(
        "names", nargs="*", help=f"benchmarks to run (default: all of {', '.join(BENCHMARKS)})"
    )
    parser.add_argument("--smoke", action="store_true", help="a small, quick run that checks the harness")
    options = parser.parse_args(argv)
    unknown = sorted(set(options.names) - set(BENCHMARKS))
    if unknown:
        parser.error(f"unknown benchmark(s): {', '.join(unknown)}; choose from {', '.join(BENCHMARKS)}")
    missed = []
    for name in options.names or BENCHMARKS:
        started = time.monotonic()
        module = importlib.import_module(f"bench.{name}")
        figures = module.run(smoke=options.smoke)
        command = f"make bench BENCH={name}" + (" BENCH_ARGS=--smoke" if options.smoke else "")
        write_results(name + ("-smoke" if options.smoke else ""), figures, command)
        missed += [f"{name}: {figure.name}" for figure in figures if figure.met is False]
        print(f"{name}: done in {time.monotonic() - started:.0f} s", flush=True)
    for line in missed:
        print(f"target missed: {line}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
