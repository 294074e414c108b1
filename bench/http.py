"""HTTP throughput: gunicorn on this machine, two companies' clients interleaved on loopback.

gunicorn serves `config.wsgi` as in production (DEBUG off, the application role, so row-level security
applies and the startup role check runs; persistent database connections; Redis for the cache)
against the bench dataset. The load generator (bench/loadgen.py, asyncio, one process) keeps a fixed
number of requests in flight, alternating the large company's owner and a small company's owner,
each with a bearer token. Every answer is checked: the status, and every row's company against the
caller's, and the other company's id must not appear anywhere in the body.

First a short sweep of worker and thread counts on the list mix; then the best of them serves the
list mix and the read mix in turn, three timed runs each after a warm-up, and the medians count.
CPU time of the server, of PostgreSQL's backends and of the load generator is read from /proc for
each timed run, so the figures say what one request costs and who else used the two cores.
"""

from __future__ import annotations

import json
import os
import random
import signal
import socket
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from django.conf import settings

from core.checks import weak_secret_problems

from .common import ROOT, Figure, percentile
from .databases import connect
from .dataset import APP_ROLE, Dataset, connect_django, ensure_dataset
from .loadgen import Outcome, Request, drive, encode

HOST = "127.0.0.1"
CONNECTIONS = 16
WARMUP_SECONDS, SMOKE_WARMUP_SECONDS = 5.0, 1.0
RUN_SECONDS, SMOKE_RUN_SECONDS = 30.0, 3.0
SWEEP_SECONDS = 10.0
RUNS, SMOKE_RUNS = 3, 1
TARGET_RPS = 300
REDIS_URL = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/13")
LOG = ROOT / "bench" / "results" / "http-gunicorn.log"
SAMPLED_IDS = 200
PLAN_LENGTH = 20_000
SEED = 2026
SWEEP_KEYS = (
    "rps",
    "p50_ms",
    "p99_ms",
    "errors",
    "cores_capacity_rps",
    "cpu_ms_per_request",
    "cpu_cores_used",
)


@dataclass(frozen=True)
class ServerConfig:
    """How gunicorn is run: its worker class, workers, and threads per worker."""

    worker_class: str
    workers: int
    threads: int = 1

    @property
    def label(self) -> str:
        threads = f" x {self.threads} threads" if self.threads > 1 else ""
        return f"{self.worker_class} {self.workers} workers{threads}"

    def arguments(self, port: int) -> list[str]:
        return [
            *("-m", "gunicorn", "config.wsgi:application", "--bind", f"{HOST}:{port}"),
            *("--worker-class", self.worker_class, "--workers", str(self.workers)),
            *("--threads", str(self.threads), "--keep-alive", "30", "--timeout", "60"),
            *("--backlog", "2048", "--log-level", "warning"),
        ]


CONFIGS = [
    ServerConfig("sync", 2),
    ServerConfig("sync", 3),
    ServerConfig("sync", 4),
    ServerConfig("gthread", 2, 4),
    ServerConfig("gthread", 3, 4),
]
SMOKE_CONFIGS = [ServerConfig("gthread", 2, 4)]

# Weights of each request kind; every list asks for a page of 50.
LIST_MIX = {"contacts": 3, "deals": 3, "accounts": 2, "quotes": 1}
READ_MIX = {"contacts": 2, "deals": 2, "accounts": 1, "quotes": 1, "contact": 2, "deal": 1, "me": 1}
LISTS = {name: f"/api/{name}" for name in ("contacts", "deals", "accounts", "quotes")}
DETAILS = {"contact": ("/api/contacts", "contacts"), "deal": ("/api/deals", "deals")}


@dataclass
class Caller:
    """One company's client: its token, its company, ids of its rows, and the other company's id."""

    name: str
    company_id: str
    other_company_id: str
    token: str
    ids: dict[str, list[str]]


def callers(dataset: Dataset) -> dict[str, Caller]:
    """The large company's and the small company's owners, with fresh access tokens."""
    connect_django(dataset.database_url)
    from django.contrib.auth import get_user_model

    from tenancy.auth import issue_tokens
    from tenancy.context import company_context

    user_model = get_user_model()
    found = {}
    with connect(dataset.database_url) as conn:
        for name, company_id, other in (
            ("large", dataset.large_company_id, dataset.small_company_id),
            ("small", dataset.small_company_id, dataset.large_company_id),
        ):
            with company_context(company_id):  # users are read in their company's scope
                user = user_model.objects.filter(company_id=company_id, role="owner", is_active=True).first()
            ids = {
                table: [
                    str(row[0])
                    for row in conn.execute(
                        f"SELECT id FROM {table} WHERE company_id = %s AND NOT is_deleted "  # noqa: S608
                        "ORDER BY id LIMIT %s",
                        [company_id, SAMPLED_IDS],
                    )
                ]
                for table in ("contacts", "deals")
            }
            found[name] = Caller(name, company_id, other, issue_tokens(user)["access_token"], ids)
    return found


def plan(mix: dict[str, int], people: dict[str, Caller], port: int) -> list[Request]:
    """A fixed, shuffled sequence of requests alternating the two companies."""
    rng = random.Random(SEED)  # noqa: S311 (a reproducible mix, not a secret)
    kinds = [kind for kind, weight in mix.items() for _ in range(weight)]
    order = list(people.values())
    requests = []
    for index in range(PLAN_LENGTH):
        caller = order[index % len(order)]
        kind = rng.choice(kinds)
        if kind in LISTS:
            path = f"{LISTS[kind]}?page_size=50"
        elif kind in DETAILS:
            prefix, table = DETAILS[kind]
            path = f"{prefix}/{rng.choice(caller.ids[table])}"
        else:
            path = "/api/auth/me"
        headers = {"Authorization": f"Bearer {caller.token}", "Accept": "application/json"}
        requests.append(Request(caller.name, kind, path, encode("GET", path, f"{HOST}:{port}", headers)))
    return requests


def checker(people: dict[str, Caller]):
    """What is wrong with an answer: `error:` for a failed request, `leak:` for another company's data."""

    def check(request: Request, status: int, body: bytes) -> list[str]:
        caller = people[request.caller]
        if status != 200:
            return [f"error: status {status}: {body[:200]!r}"]
        found = []
        if caller.other_company_id.encode() in body:
            found.append("leak: the other company's id in the body")
        data = json.loads(body)
        if request.kind in LISTS:
            rows = data["results"]
            if not rows:
                found.append("error: an empty list")
        elif request.kind == "me":
            rows = [{"id": data["id"], "company": data["company"]["id"]}]
        else:
            rows = [data]
            if data.get("id") != request.path.rsplit("/", 1)[-1]:
                found.append(f"leak: asked for {request.path}, got {data.get('id')}")
        for row in rows:
            company = row.get("company")
            company = company.get("id") if isinstance(company, dict) else company
            if company != caller.company_id:
                found.append(f"leak: row {row.get('id')} of company {company}")
        return found

    return check


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind((HOST, 0))
        return probe.getsockname()[1]


def server_keys() -> dict[str, str]:
    """This process's keys for gunicorn, which checks the tokens issued here; strong, or gunicorn refuses."""
    problems = weak_secret_problems(settings)
    if problems:
        raise RuntimeError(
            f"gunicorn (DEBUG off) would refuse this run's keys: {'; '.join(why for _, why in problems)}. "
            "Export a SECRET_KEY of 50 characters or more (`make bench` exports .local/secret_key)."
        )
    return {
        "SECRET_KEY": settings.SECRET_KEY,
        "JWT_SIGNING_KEY": settings.SIMPLE_JWT["SIGNING_KEY"],
        "FIELD_ENCRYPTION_KEYS": ",".join(settings.FIELD_ENCRYPTION_KEYS),
    }


class Server:
    """gunicorn serving the bench database as the application role, as production runs it."""

    def __init__(self, config: ServerConfig, dataset: Dataset):
        self.config = config
        self.port = free_port()
        dropped = {"MIGRATION_DATABASE_URL", "DATABASE_URL"}
        environment = {key: value for key, value in os.environ.items() if key not in dropped}
        environment.update(
            DJANGO_SETTINGS_MODULE="config.settings",
            DATABASE_URL=dataset.app_database_url,
            # Connections outlive every run (production keeps them 60 s), so no reconnect lands in a window.
            DB_CONN_MAX_AGE="600",
            DEBUG="false",
            **server_keys(),
            TENANCY_ALLOW_RLS_BYPASS="false",
            ALLOWED_HOSTS=HOST,
            REDIS_URL=REDIS_URL,
            CELERY_TASK_ALWAYS_EAGER="true",
            LOG_LEVEL="WARNING",
        )
        LOG.parent.mkdir(parents=True, exist_ok=True)
        with LOG.open("ab") as log:
            self.process = subprocess.Popen(  # noqa: S603 (a fixed command on loopback)
                [sys.executable, *config.arguments(self.port)],
                cwd=ROOT,
                env=environment,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        self._wait_until_answering()

    def _wait_until_answering(self) -> None:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"gunicorn exited with {self.process.returncode}; see {LOG}")
            try:
                with socket.create_connection((HOST, self.port), timeout=2) as sock:
                    probe = encode("GET", "/api/auth/me", f"{HOST}:{self.port}", {"Connection": "close"})
                    sock.sendall(probe)
                    if b" 401 " in sock.recv(200):
                        return
            except OSError:
                pass
            time.sleep(0.2)
        self.stop()
        raise RuntimeError(f"gunicorn did not answer within 60 s; see {LOG}")

    def pids(self) -> list[int]:
        """The gunicorn master and its workers."""
        children = Path(f"/proc/{self.process.pid}/task/{self.process.pid}/children")
        try:
            return [self.process.pid, *(int(pid) for pid in children.read_text().split())]
        except OSError:
            return [self.process.pid]

    def stop(self) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(timeout=10)

    def __enter__(self) -> Server:
        return self

    def __exit__(self, *exc) -> None:
        self.stop()


_TICKS = os.sysconf("SC_CLK_TCK")


def cpu_by_process(pids: list[int]) -> dict[int, float]:
    """User and system CPU seconds of each of these processes so far (one that has gone is left out)."""
    found = {}
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        found[pid] = (int(fields[11]) + int(fields[12])) / _TICKS
    return found


def cpu_used(before: dict[int, float], after: dict[int, float]) -> float:
    """CPU seconds used between two readings; a process started in between counts from zero."""
    return sum(seconds - before.get(pid, 0.0) for pid, seconds in after.items())


def machine_cpu_seconds() -> tuple[float, float]:
    """(busy, total) CPU seconds of the whole machine since boot, all cores."""
    values = [int(value) for value in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    idle = values[3] + values[4]
    return (sum(values) - idle) / _TICKS, sum(values) / _TICKS


def database_pids(dataset: Dataset) -> list[int]:
    """PostgreSQL backends of the application role on the bench database (the server's connections)."""
    with connect(dataset.database_url) as conn:
        return [
            row[0]
            for row in conn.execute(
                "SELECT pid FROM pg_stat_activity WHERE usename = %s AND datname = current_database()",
                [APP_ROLE],
            )
        ]


def timed_run(server: Server, dataset: Dataset, requests: list[Request], check, seconds: float) -> dict:
    """One timed window of load, with the CPU each party used in it."""
    server_before = cpu_by_process(server.pids())
    db_before = cpu_by_process(database_pids(dataset))
    busy_before, total_before = machine_cpu_seconds()
    outcome: Outcome = drive(
        HOST, server.port, requests, connections=CONNECTIONS, seconds=seconds, check=check
    )
    busy_after, total_after = machine_cpu_seconds()
    server_cpu = cpu_used(server_before, cpu_by_process(server.pids()))
    db_cpu = cpu_used(db_before, cpu_by_process(database_pids(dataset)))
    machine_busy = busy_after - busy_before
    count = max(outcome.requests, 1)
    cpu_per_request = (server_cpu + db_cpu + outcome.client_cpu_seconds) / count
    leaks = [problem for problem in outcome.problems if ": leak:" in problem]
    errors = outcome.errors + sum(1 for problem in outcome.problems if ": error:" in problem)
    return {
        "requests": outcome.requests,
        "rps": outcome.requests / seconds,
        "p50_ms": percentile(outcome.latencies, 0.50) * 1000 if outcome.latencies else 0.0,
        "p95_ms": percentile(outcome.latencies, 0.95) * 1000 if outcome.latencies else 0.0,
        "p99_ms": percentile(outcome.latencies, 0.99) * 1000 if outcome.latencies else 0.0,
        "errors": errors,
        "leaks": len(leaks),
        "problems_sample": outcome.problems[:5],
        "kinds": dict(outcome.kinds),
        "connections_opened": outcome.connections_opened,
        # What the machine's cores could serve at this CPU cost per request, with nothing else running.
        "cores_capacity_rps": (os.cpu_count() or 1) / cpu_per_request if cpu_per_request else 0.0,
        "cpu_ms_per_request": {
            "gunicorn": server_cpu / count * 1000,
            "postgresql": db_cpu / count * 1000,
            "load_generator": outcome.client_cpu_seconds / count * 1000,
        },
        "cpu_cores_used": {
            "gunicorn": server_cpu / seconds,
            "postgresql": db_cpu / seconds,
            "load_generator": outcome.client_cpu_seconds / seconds,
            "everything_else": max(0.0, machine_busy - server_cpu - db_cpu - outcome.client_cpu_seconds)
            / seconds,
            "machine_idle": max(0.0, (total_after - total_before) - machine_busy) / seconds,
        },
    }


def serve_and_load(
    config: ServerConfig,
    dataset: Dataset,
    mixes: dict[str, dict],
    *,
    runs: int,
    seconds: float,
    warmup: float,
) -> dict[str, list[dict]]:
    """Start gunicorn with config; for each round, warm up and time every mix in turn."""
    people = callers(dataset)
    check = checker(people)
    results: dict[str, list[dict]] = {name: [] for name in mixes}
    with Server(config, dataset) as server:
        plans = {name: plan(mix, people, server.port) for name, mix in mixes.items()}
        for _ in range(runs):
            for name in mixes:
                drive(HOST, server.port, plans[name], connections=CONNECTIONS, seconds=warmup, check=check)
                results[name].append(timed_run(server, dataset, plans[name], check, seconds))
                last = results[name][-1]
                cpu = ", ".join(f"{who} {ms:.1f}" for who, ms in last["cpu_ms_per_request"].items())
                print(
                    f"http: {config.label}, {name} mix: {last['rps']:.0f} rps, p50 {last['p50_ms']:.0f} ms, "
                    f"p99 {last['p99_ms']:.0f} ms, {last['errors']} errors, {last['leaks']} leaks; "
                    f"CPU ms per request: {cpu}; the cores could serve {last['cores_capacity_rps']:.0f} rps",
                    flush=True,
                )
    return results


def _median_of(runs: list[dict], key: str) -> float:
    return statistics.median(run[key] for run in runs)


def run(smoke: bool) -> list[Figure]:
    """The configuration sweep, then the best configuration on both mixes, medians of the runs."""
    dataset = ensure_dataset(smoke)
    sweep = {}
    configs = SMOKE_CONFIGS if smoke else CONFIGS
    warmup = SMOKE_WARMUP_SECONDS if smoke else WARMUP_SECONDS
    if len(configs) > 1:
        for config in configs:
            sweep[config.label] = serve_and_load(
                config, dataset, {"list": LIST_MIX}, runs=1, seconds=SWEEP_SECONDS, warmup=warmup
            )["list"][0]
        best = max(configs, key=lambda config: sweep[config.label]["rps"])
    else:
        best = configs[0]
    results = serve_and_load(
        best,
        dataset,
        {"list": LIST_MIX, "read": READ_MIX},
        runs=SMOKE_RUNS if smoke else RUNS,
        seconds=SMOKE_RUN_SECONDS if smoke else RUN_SECONDS,
        warmup=warmup,
    )
    figures = []
    for name, runs in results.items():
        rps = _median_of(runs, "rps")
        figures.append(
            Figure(
                name=f"{name} mix, {best.label}, {CONNECTIONS} connections",
                value=rps,
                unit="requests/s",
                target=f">= {TARGET_RPS}" if name == "list" else "",
                met=rps >= TARGET_RPS if name == "list" else None,
                detail={
                    "mix": LIST_MIX if name == "list" else READ_MIX,
                    "p50_ms": _median_of(runs, "p50_ms"),
                    "p95_ms": _median_of(runs, "p95_ms"),
                    "p99_ms": _median_of(runs, "p99_ms"),
                    "cores_capacity_rps": _median_of(runs, "cores_capacity_rps"),
                    "runs": runs,
                    "dataset": dataset.describe(),
                },
            )
        )
    everything = [run for runs in [*results.values(), *([[r] for r in sweep.values()])] for run in runs]
    errors = sum(run["errors"] for run in everything)
    leaks = sum(run["leaks"] for run in everything)
    figures += [
        Figure(
            name="failed requests (all runs)",
            value=errors,
            unit="requests",
            target="0",
            met=errors == 0,
            detail={"requests": sum(run["requests"] for run in everything)},
        ),
        Figure(
            name="answers carrying the other company's data (all runs)",
            value=leaks,
            unit="answers",
            target="0",
            met=leaks == 0,
        ),
    ]
    if sweep:
        figures.append(
            Figure(
                name="list mix by server configuration (one 10 s run each)",
                value=sweep[best.label]["rps"],
                unit="requests/s",
                detail={label: {key: result[key] for key in SWEEP_KEYS} for label, result in sweep.items()},
            )
        )
    return figures
