"""7. The admin at a real company's size: every changelist, change form and add form of the large company.

Signed in to the admin as the owner of `acme` (100,100 contacts and deals, 10,010 accounts), each
page the owner may open is fetched through Django's test client, in process: the changelist, the
add form and the change form of the company's newest row (for deals, one with an account and a
contact). For each page: the median server time, the size of the HTML and the number of queries.
The pages are discovered from the admin site, so a new admin is measured without editing this file.
"""

from __future__ import annotations

import statistics

from .common import Figure, timed
from .dataset import ADMIN, connect_django, ensure_dataset
from .lists import company_owner

ROUNDS = 5
SMOKE_ROUNDS = 2
# A page slower than this is timed once: the figure is plain, and five rounds would take minutes.
SLOW_SECONDS = 5.0
TARGET_MS = 1000
TARGET_KB = 300


def admin_pages(user) -> list[tuple[str, str]]:
    """(name, path) of every changelist, add form and change form the user may open."""
    from django.contrib import admin
    from django.test import RequestFactory
    from django.urls import reverse

    from tenancy.context import company_context

    request = RequestFactory().get("/admin/")
    request.user = user
    pages = []
    with company_context(user.company_id):
        for model, model_admin in sorted(admin.site._registry.items(), key=lambda item: item[0]._meta.label):
            if not model_admin.has_view_permission(request):
                continue
            info = (model._meta.app_label, model._meta.model_name)
            pages.append((f"{model._meta.label} changelist", reverse("admin:{}_{}_changelist".format(*info))))
            if model_admin.has_add_permission(request):
                pages.append((f"{model._meta.label} add", reverse("admin:{}_{}_add".format(*info))))
            row = sample_row(model_admin, request)
            if row is not None:
                path = reverse("admin:{}_{}_change".format(*info), args=[row.pk])
                pages.append((f"{model._meta.label} change", path))
    return pages


def sample_row(model_admin, request):
    """The row a change form is opened for: the newest, with every relation filled where one is."""
    rows = model_admin.get_queryset(request)
    relations = [
        field.name
        for field in model_admin.model._meta.concrete_fields
        if field.many_to_one and field.null and field.name != "company"
    ]
    filled = rows.filter(**{f"{name}__isnull": False for name in relations})
    return filled.order_by("-pk").first() or rows.order_by("-pk").first()


def measure(client, name: str, path: str, rounds: int) -> Figure:
    """One page: median time, HTML size and query count."""
    from django.db import connection

    def fetch():
        response = client.get(path)
        if response.status_code != 200:
            raise RuntimeError(f"GET {path} answered {response.status_code}")
        return response

    queries = []

    def count(execute, sql, params, many, context):
        queries.append(sql)
        return execute(sql, params, many, context)

    # Counted as sent, so the figure holds however many queries the page sends.
    with connection.execute_wrapper(count):
        first = timed(fetch)
    size = len(fetch().content)
    samples = [first] if first > SLOW_SECONDS else [timed(fetch) for _ in range(rounds)]
    median_ms = statistics.median(samples) * 1000
    return Figure(
        name=name,
        value=round(median_ms, 1),
        unit="ms (median)",
        target=f"under {TARGET_MS} ms and {TARGET_KB} KB",
        met=median_ms < TARGET_MS and size < TARGET_KB * 1024,
        detail={
            "path": path,
            "kb": round(size / 1024, 1),
            "queries": len(queries),
            "rounds": len(samples),
        },
    )


def run(smoke: bool) -> list[Figure]:
    dataset = ensure_dataset(smoke) if smoke else ensure_dataset(parameters=ADMIN, suffix="_admin")
    connect_django(dataset.app_database_url)
    from django.test import Client

    owner = company_owner(dataset.large_company_id)
    client = Client()
    client.force_login(owner)
    rounds = SMOKE_ROUNDS if smoke else ROUNDS
    figures = []
    for name, path in admin_pages(owner):
        figure = measure(client, name, path, rounds)
        figures.append(figure)
        print(f"admin: {figure.name} {figure.value} ms {figure.detail}", flush=True)
    slowest = max(figures, key=lambda figure: figure.value)
    largest = max(figures, key=lambda figure: figure.detail["kb"])
    figures.append(
        Figure(
            name="slowest page",
            value=slowest.value,
            unit="ms (median)",
            detail={"page": slowest.name, "largest_page": largest.name, "largest_kb": largest.detail["kb"]},
        )
    )
    figures.append(
        Figure(name="dataset", value=dataset.rows_in_largest_table, unit="rows", detail=dataset.describe())
    )
    return figures
