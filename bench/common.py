"""What every benchmark shares: the bench database, timing side by side, and the result files."""

from __future__ import annotations

import json
import os
import platform
import random
import statistics
import subprocess
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results"
# The bench database is its own: `make bench` never touches the development or test databases.
BENCH_DATABASE_URL = os.environ.get("BENCH_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/crm_bench")


@dataclass
class Figure:
    """One measured figure, with the target it is held to (if any) and whether it met it."""

    name: str
    value: float
    unit: str
    target: str = ""
    met: bool | None = None
    detail: dict = field(default_factory=dict)


def percentile(samples: list[float], fraction: float) -> float:
    """The nearest-rank percentile of samples (fraction in 0..1)."""
    ordered = sorted(samples)
    index = max(0, min(len(ordered) - 1, round(fraction * len(ordered) + 0.5) - 1))
    return ordered[index]


def timed(function: Callable[[], object]) -> float:
    """Seconds one call of function takes."""
    started = time.perf_counter()
    function()
    return time.perf_counter() - started


def side_by_side(
    candidates: dict[str, Callable[[], object]], rounds: int, warmup: int = 3, *, shuffle: bool = False
) -> dict[str, list[float]]:
    """Time each candidate in turn, round after round, so drift on the machine hits them all alike.

    With shuffle, each round runs the candidates in a new order (the same on every run), so no
    candidate always follows the same one and profits from, or pays for, what it left in the caches.
    """
    for _ in range(warmup):
        for function in candidates.values():
            function()
    samples: dict[str, list[float]] = {name: [] for name in candidates}
    order = list(candidates.items())
    shuffler = random.Random(rounds)  # noqa: S311 (an order of timings, not a secret)
    for _ in range(rounds):
        if shuffle:
            shuffler.shuffle(order)
        for name, function in order:
            samples[name].append(timed(function))
    return samples


def median_ratio(samples: dict[str, list[float]], numerator: str, denominator: str) -> float:
    """Ratio of the medians of two candidates' samples."""
    return statistics.median(samples[numerator]) / statistics.median(samples[denominator])


def paired_ratio(samples: dict[str, list[float]], numerator: str, denominator: str) -> float:
    """Median of the round-by-round ratios of two candidates timed in the same rounds.

    Each ratio compares two timings taken moments apart, so a burst of load on a shared machine
    that slows one round slows both sides of its ratio; the median then drops the rounds it split.
    """
    return statistics.median(
        mine / theirs for mine, theirs in zip(samples[numerator], samples[denominator], strict=True)
    )


def machine() -> dict:
    """The machine a figure was taken on."""
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    try:
        postgres = subprocess.run(
            ["psql", "--version"],  # noqa: S607 - whichever psql the PATH gives is the one in use
            capture_output=True,
            text=True,
            check=False,
        ).stdout.strip()
    except OSError:
        postgres = "unknown"
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "python": platform.python_version(),
        "postgresql_client": postgres,
        "kernel": platform.release(),
        # Other work on the machine when the figures were written: absolute timings depend on it.
        "load_average_1_5_15_min": [round(load, 2) for load in os.getloadavg()],
    }


def write_results(name: str, figures: list[Figure], command: str) -> Path:
    """Store one benchmark's figures as bench/results/<name>.json and print them."""
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / f"{name}.json"
    payload = {
        "benchmark": name,
        "command": command,
        "taken_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "machine": machine(),
        "figures": [asdict(figure) for figure in figures],
    }
    path.write_text(json.dumps(payload, indent=2) + "\n")
    for figure in figures:
        verdict = "" if figure.met is None else ("  met" if figure.met else "  MISSED")
        target = f"  (target {figure.target})" if figure.target else ""
        print(f"{name}: {figure.name} = {figure.value:.4g} {figure.unit}{target}{verdict}")
    return path
