"""2. Row-level security overhead: the same request mix with row-level security enforced and not.

One Django connection, opened as the tables' owner (a superuser, whom PostgreSQL exempts from
row-level security), switches role between rounds:

* enforced: `SET ROLE` to the application role, which cannot bypass the policies, and the tenancy
  execute wrapper sets `app.company_id` at the start of each request's transaction (production);
* not enforced: `RESET ROLE` back to the superuser, and the wrapper taken off the connection, so
  neither the policies nor the per-transaction setting cost anything (an application with no RLS).

A third way, the superuser with the wrapper left on (the setting is made, the policies are
skipped), splits the overhead between the setting's round trip and the policies. Switching the
role of one connection, rather than using two connections, keeps everything else equal: the same
server process and its caches, and the same Django connection object.
"""

from __future__ import annotations

import statistics
import time
from collections import defaultdict
from urllib.parse import urlsplit

from .common import Figure, paired_ratio, side_by_side
from .dataset import APP_ROLE, connect_django, ensure_dataset
from .lists import BearerClient, company_owner

RUNS, ROUNDS = 5, 40
SMOKE_RUNS, SMOKE_ROUNDS = 2, 3
TARGET = 1.15
ENFORCED = "enforced"
NOT_ENFORCED = "not enforced"
SETTING_ONLY = "setting made, policies bypassed"


def request_mix(client) -> list[str]:
    """Lists and details a user of the CRM opens most, with ids read from the lists."""
    contact = client.get("/api/contacts?page_size=1").json()["results"][0]["id"]
    deal = client.get("/api/deals?page_size=1").json()["results"][0]["id"]
    return [
        "/api/contacts",
        "/api/deals",
        "/api/deals?stage=won",
        "/api/accounts",
        f"/api/contacts/{contact}",
        f"/api/deals/{deal}",
        "/api/quotes",
        "/api/calls",
        "/api/notifications",
        "/api/sms/conversations",
    ]


def answer_shape(body: dict):
    """What must not change with the role: a list's count and page length, a detail's whole body.

    A list's rows themselves may come in another order where its ordering has ties (contacts by
    name): the plans differ with and without the policies, and so does the order of equal keys.
    """
    if "results" in body:
        return body["count"], len(body["results"])
    return body


class RoleSwitch:
    """Puts the one Django connection in the state each way of running needs."""

    def __init__(self):
        from django.db import connection

        from tenancy.rls import TransactionContext

        connection.ensure_connection()
        self.connection = connection
        self.wrapper = next(w for w in connection.execute_wrappers if isinstance(w, TransactionContext))

    def use(self, way: str) -> None:
        wrappers = self.connection.execute_wrappers
        with self.connection.cursor() as cursor:
            cursor.execute(f'SET ROLE "{APP_ROLE}"' if way == ENFORCED else "RESET ROLE")
        if way == NOT_ENFORCED:
            if self.wrapper in wrappers:
                wrappers.remove(self.wrapper)
        elif self.wrapper not in wrappers:
            wrappers.insert(0, self.wrapper)

    def current_role(self) -> str:
        with self.connection.cursor() as cursor:
            cursor.execute("SELECT current_user")
            return cursor.fetchone()[0]


def run(smoke: bool) -> list[Figure]:
    dataset = ensure_dataset(smoke)
    connect_django(dataset.database_url)
    runs, rounds = (SMOKE_RUNS, SMOKE_ROUNDS) if smoke else (RUNS, ROUNDS)
    switch = RoleSwitch()
    switch.use(ENFORCED)
    client = BearerClient(company_owner(dataset.large_company_id))
    mix = request_mix(client)
    # Every way must answer the same: the ORM scopes by company either way; RLS only adds a guard.
    answers = {}
    for way in (ENFORCED, NOT_ENFORCED, SETTING_ONLY):
        switch.use(way)
        expected_role = APP_ROLE if way == ENFORCED else urlsplit(dataset.database_url).username
        if switch.current_role() != expected_role:
            raise AssertionError(f"rls: {way} runs as {switch.current_role()}, not {expected_role}")
        answers[way] = [answer_shape(client.get(path).json()) for path in mix]
    if not answers[ENFORCED] == answers[NOT_ENFORCED] == answers[SETTING_ONLY]:
        raise AssertionError("rls: the request mix answers differently with and without row-level security")

    per_request: dict[str, dict[str, list[float]]] = defaultdict(lambda: defaultdict(list))

    def run_mix(way: str) -> None:
        switch.use(way)
        for path in mix:
            started = time.perf_counter()
            client.get(path)
            per_request[way][path].append(time.perf_counter() - started)

    runs_samples = [
        side_by_side({way: lambda way=way: run_mix(way) for way in answers}, rounds, shuffle=True)
        for _ in range(runs)
    ]
    switch.use(ENFORCED)

    def over_runs(numerator: str, denominator: str) -> tuple[float, list[float]]:
        ratios = [paired_ratio(samples, numerator, denominator) for samples in runs_samples]
        return statistics.median(ratios), [round(ratio, 3) for ratio in ratios]

    ratio, ratio_by_run = over_runs(ENFORCED, NOT_ENFORCED)
    setting, setting_by_run = over_runs(SETTING_ONLY, NOT_ENFORCED)
    policies, policies_by_run = over_runs(ENFORCED, SETTING_ONLY)
    by_request = {
        path: round(
            statistics.median(per_request[ENFORCED][path])
            / statistics.median(per_request[NOT_ENFORCED][path]),
            3,
        )
        for path in mix
    }
    medians_ms = {
        way: round(statistics.median(sample for samples in runs_samples for sample in samples[way]) * 1000, 2)
        for way in answers
    }
    unit = "x (the whole mix; median over runs of the median round)"
    return [
        Figure(
            name="request mix, enforced / not enforced",
            value=round(ratio, 3),
            unit=unit,
            target=f"<= {TARGET}",
            met=ratio <= TARGET,
            detail={
                "ratio_by_run": ratio_by_run,
                "mix_median_ms": medians_ms,
                "requests_in_mix": len(mix),
                "ratio_by_request": by_request,
                "runs": runs,
                "rounds_per_run": rounds,
                "company": "large",
                "dataset": dataset.describe(),
            },
        ),
        Figure(
            name="request mix, the setting alone: superuser with set_config / not enforced",
            value=round(setting, 3),
            unit=unit,
            detail={"ratio_by_run": setting_by_run},
        ),
        Figure(
            name="request mix, the policies alone: enforced / superuser with set_config",
            value=round(policies, 3),
            unit=unit,
            detail={"ratio_by_run": policies_by_run},
        ),
    ]
