"""1. Scoping overhead: the same ORM queries through the tenant manager and with a hand-written filter.

Both ways run inside `company_context` and one transaction, as a request does, so row-level
security sees the same company and the SQL sent is the same; what differs is only how the ORM adds
the company condition: the tenant manager reads the context, the baseline writes
`.filter(company_id=..., is_deleted=False)` on the unscoped base manager.
"""

from __future__ import annotations

import statistics
from collections.abc import Callable
from functools import partial

from .common import Figure, paired_ratio, side_by_side
from .dataset import connect_django, ensure_dataset

RUNS, ROUNDS = 7, 100
SMOKE_RUNS, SMOKE_ROUNDS = 2, 10
TARGET = 1.05
PAGE = 50
MANAGER, EXPLICIT = "tenant manager", "explicit filter"
WAYS = (MANAGER, EXPLICIT)
ALL = "all five queries"


def dangerously_unscoped_rows(model, company_id: str):
    """Every company's rows narrowed by hand to one: the baseline, which exists only in this benchmark."""
    return model._base_manager.filter(company_id=company_id, is_deleted=False)


def scoped_rows(model):
    """The current company's rows through the tenant manager."""
    return model.objects.all()


def queries(contact_id) -> dict[str, Callable[[Callable], object]]:
    """The query mix, each evaluated in full; `rows(model)` gives the company's rows one way or the other."""
    from crm.models import Contact, Deal

    return {
        "list page": lambda rows: list(rows(Contact).order_by("last_name", "first_name")[:PAGE]),
        "count": lambda rows: rows(Contact).count(),
        "filtered list": lambda rows: list(rows(Deal).filter(stage="won").order_by("-created_at")[:PAGE]),
        "detail by id": lambda rows: rows(Contact).get(pk=contact_id),
        "join": lambda rows: list(
            rows(Deal).select_related("contact", "account").order_by("-created_at")[:PAGE]
        ),
    }


def sql_of(function: Callable[[], object]) -> list[str]:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as captured:
        function()
    return [query["sql"] for query in captured.captured_queries]


def one_run(company_id: str, rounds: int) -> dict[str, dict[str, list[float]]]:
    """Samples of one side-by-side run for one company: per query (and for the whole mix), per way."""
    from django.db import transaction

    from crm.models import Contact
    from tenancy.context import company_context

    with company_context(company_id), transaction.atomic():
        contact_ids = list(Contact.objects.order_by("pk").values_list("pk", flat=True)[:1000])
        mix = queries(contact_ids[len(contact_ids) // 2])
        explicit_rows = partial(dangerously_unscoped_rows, company_id=company_id)
        by_query = {}
        for name, query in mix.items():
            candidates = {MANAGER: partial(query, scoped_rows), EXPLICIT: partial(query, explicit_rows)}
            # The comparison is only fair if both send the very same SQL.
            if sql_of(candidates[MANAGER]) != sql_of(candidates[EXPLICIT]):
                raise AssertionError(f"scoping: {name} sends different SQL through the tenant manager")
            # The two ways of one query back to back in each round, in a shuffled order.
            by_query[name] = side_by_side(candidates, rounds, shuffle=True)
    # The whole mix per round, so one ratio answers "what does scoping cost a request like this".
    by_query[ALL] = {
        way: [sum(per_round) for per_round in zip(*(by_query[name][way] for name in mix), strict=True)]
        for way in WAYS
    }
    return by_query


def measure_company(label: str, company_id: str, runs: int, rounds: int) -> list[Figure]:
    """The median over runs of each run's median round ratio, query by query and for the whole mix."""
    results = [one_run(company_id, rounds) for _ in range(runs)]
    figures = []
    for name in results[0]:
        ratios = [paired_ratio(result[name], MANAGER, EXPLICIT) for result in results]
        ratio = statistics.median(ratios)
        medians = {
            way: statistics.median(statistics.median(result[name][way]) for result in results) for way in WAYS
        }
        figures.append(
            Figure(
                name=f"{label} company: {name}",
                value=round(ratio, 3),
                unit="x (tenant manager / explicit filter; median over runs of the median round)",
                target=f"<= {TARGET}",
                met=ratio <= TARGET,
                detail={
                    "ratio_by_run": [round(r, 3) for r in ratios],
                    "tenant_manager_median_ms": round(medians[MANAGER] * 1000, 4),
                    "explicit_filter_median_ms": round(medians[EXPLICIT] * 1000, 4),
                    "runs": runs,
                    "rounds_per_run": rounds,
                },
            )
        )
    return figures


def run(smoke: bool) -> list[Figure]:
    dataset = ensure_dataset(smoke)
    # The application role, as in production: row-level security applies to both ways alike.
    connect_django(dataset.app_database_url)
    runs, rounds = (SMOKE_RUNS, SMOKE_ROUNDS) if smoke else (RUNS, ROUNDS)
    figures = []
    for label, company_id in (("large", dataset.large_company_id), ("small", dataset.small_company_id)):
        figures += measure_company(label, company_id, runs, rounds)
    figures[-1].detail["dataset"] = dataset.describe()
    return figures
