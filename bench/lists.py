"""3. List endpoints: every list of the API, a page of 50, for the large company and a small one.

For each list: median and 95th percentile of the request in process, the number of queries at page
sizes 10, 50 and 200 (equal, or the list has an N+1), and the ratio to the least a server could do:
the same SQL for the company's tables sent through psycopg and its rows serialized with json.dumps.
The lists are discovered from the API router, so a new one is measured without editing this file.
"""

from __future__ import annotations

import json
import logging
import re
import statistics
import time
from dataclasses import dataclass

import psycopg

from .common import Figure, percentile, side_by_side
from .dataset import connect_django, ensure_dataset

ROUNDS = 60
SMOKE_ROUNDS = 5
PAGE_SIZE = 50
PAGE_SIZES = (10, 50, 200)
# Access tokens live 15 minutes; a client renews its token well before, outside any timed request.
TOKEN_RENEWAL_SECONDS = 300
MAIN_TABLE = re.compile(r'\bFROM "(\w+)"')
# Django reads .iterator() querysets through a server-side cursor; psycopg runs the same SELECT.
SERVER_SIDE_CURSOR = re.compile(r'^DECLARE "[^"]+" NO SCROLL CURSOR (?:WITH HOLD )?FOR ')
TRANSACTION_CONTROL = ("BEGIN", "COMMIT", "ROLLBACK", "SAVEPOINT", "RELEASE SAVEPOINT")


@dataclass(frozen=True)
class ListEndpoint:
    """A GET route of the router that may answer a paginated list; `{key}` stands for a parent row."""

    name: str
    prefix: str
    viewset: type
    nested: bool

    def path(self, key: str | None = None) -> str:
        return "/api/" + self.name.replace("{key}", key or "")


def list_endpoints() -> list[ListEndpoint]:
    """Every router list, and every GET action that may answer one, in the router's order.

    A nested action (`/api/email-campaigns/{key}/recipients`) is a list only if it answers with a
    page; `resolve` keeps those that do. Actions whose path takes more than the parent's key
    (`executions/<id>`) read one row and are left out.
    """
    from config.urls import router

    endpoints = []
    for prefix, viewset, _ in router.registry:
        if hasattr(viewset, "list"):
            endpoints.append(ListEndpoint(prefix, prefix, viewset, nested=False))
        for action in viewset.get_extra_actions():
            if "get" not in action.mapping or "(" in action.url_path:
                continue
            if action.detail:
                endpoints.append(ListEndpoint(f"{prefix}/{{key}}/{action.url_path}", prefix, viewset, True))
            else:
                endpoints.append(ListEndpoint(f"{prefix}/{action.url_path}", prefix, viewset, False))
    return endpoints


def resolve(client, endpoints: list[ListEndpoint]) -> dict[str, str]:
    """The path of each endpoint that answers a page for this client's company, by endpoint name.

    A nested list is read under the parent row (among the first ten of the parent list) with the
    most rows in it; it is left out when the company has no parent row, or when the action answers
    something other than a page.
    """
    # Probing a GET action that is no list (a file's download) may answer 404: not worth a log line.
    request_log = logging.getLogger("django.request")
    level = request_log.level
    request_log.setLevel(logging.ERROR)
    try:
        return _resolve(client, endpoints)
    finally:
        request_log.setLevel(level)


def _resolve(client, endpoints: list[ListEndpoint]) -> dict[str, str]:
    paths = {}
    for endpoint in endpoints:
        keys = [None]
        if endpoint.nested:
            lookup = endpoint.viewset.lookup_field
            parents = client.get(f"/api/{endpoint.prefix}?page_size=10").json()["results"]
            keys = [str(parent["id" if lookup == "pk" else lookup]) for parent in parents]
        counts = {}
        for key in keys:
            response = client.probe(f"{endpoint.path(key)}?page_size=1")
            if response.status_code != 200 or response.get("Content-Type") != "application/json":
                continue
            body = response.json()
            if isinstance(body, dict) and {"count", "results"} <= body.keys():
                counts[endpoint.path(key)] = body["count"]
        if counts:
            paths[endpoint.name] = max(counts, key=counts.get)
    return paths


class BearerClient:
    """Django's test client signed in as one user with a bearer token, as the single-page app is."""

    def __init__(self, user):
        from django.test import Client

        self.user = user
        self.client = Client()
        self._renew()

    def _renew(self) -> None:
        from tenancy.auth import issue_tokens

        self.header = f"Bearer {issue_tokens(self.user)['access_token']}"
        self.renewed_at = time.monotonic()

    def probe(self, path: str):
        """GET path, whatever it answers."""
        if time.monotonic() - self.renewed_at > TOKEN_RENEWAL_SECONDS:
            self._renew()
        return self.client.get(path, HTTP_AUTHORIZATION=self.header)

    def get(self, path: str):
        """GET path; anything but a 200 stops the benchmark, since it would time an error page."""
        response = self.probe(path)
        if response.status_code != 200:
            raise RuntimeError(f"GET {path} answered {response.status_code}: {response.content[:300]!r}")
        return response


def company_owner(company_id: str):
    """The owner of a seeded company (seed_demo gives every company one)."""
    from tenancy.context import company_context
    from tenancy.models import User

    # Users are under row-level security: a company's users are read in its scope.
    with company_context(company_id):
        return User.objects.filter(company_id=company_id, role=User.Role.OWNER).order_by("email").first()


def tenant_tables() -> set[str]:
    from django.apps import apps

    from tenancy.models import AuditLog, User
    from tenancy.rls import tenant_models_in_state

    # The audit log and the users are no tenant models, but each company reads its own through the API too.
    return {model._meta.db_table for model in tenant_models_in_state(apps)} | {
        AuditLog._meta.db_table,
        User._meta.db_table,
    }


def captured_queries(client, path: str) -> list[str]:
    """The SQL of every query one GET of path sends (transaction control left out)."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as captured:
        client.get(path)
    return [
        query["sql"]
        for query in captured.captured_queries
        if not query["sql"].startswith(TRANSACTION_CONTROL)
    ]


def tenant_statements(queries: list[str]) -> list[str]:
    """The queries that read the company's tables, as plain SELECTs."""
    tables = tenant_tables()
    statements = []
    for sql in queries:
        sql = SERVER_SIDE_CURSOR.sub("", sql)
        match = MAIN_TABLE.search(sql)
        # A compound query (a timeline's UNION ALL) opens with its first part's parenthesis.
        if sql.lstrip("(").startswith("SELECT") and match is not None and match.group(1) in tables:
            statements.append(sql)
    return statements


def page_query(queries: list[str]) -> str | None:
    """The query that reads the rows of the page: the first LIMITed read of a company's table after the count.

    None when the list counts no rows in SQL: it then reads them all and cuts the page in Python.
    """
    statements = tenant_statements(queries)
    counted = next((n for n, sql in enumerate(statements) if sql.startswith("SELECT COUNT(*)")), None)
    if counted is None:
        return None
    return next((sql for sql in statements[counted + 1 :] if re.search(r"\bLIMIT \d+", sql)), None)


def main_table(sql: str) -> str:
    return MAIN_TABLE.search(sql).group(1)


def plan_nodes(plan: dict):
    """Every node of an EXPLAIN (FORMAT JSON) plan, depth first."""
    yield plan
    for child in plan.get("Plans", []):
        yield from plan_nodes(child)


def plan_summary(plan: dict, table: str) -> str:
    """How a plan reads table, and whether it sorts: "Index Scan using deals_company_created"."""
    reads = [
        f"{node['Node Type']}" + (f" using {node['Index Name']}" if "Index Name" in node else "")
        for node in plan_nodes(plan)
        if node.get("Relation Name") == table or (node["Node Type"] == "Bitmap Index Scan")
    ]
    sorts = [node["Node Type"] for node in plan_nodes(plan) if node["Node Type"].endswith("Sort")]
    return ", ".join(reads + sorts)


def query_counts(client, path: str) -> dict[int, int]:
    """How many queries a GET of path sends at each page size."""
    return {size: len(captured_queries(client, f"{path}?page_size={size}")) for size in PAGE_SIZES}


def raw_page(connection: psycopg.Connection, company_id: str, statements: list[str]):
    """The page the long way round: the same SQL through psycopg, rows as dicts, json.dumps."""
    from tenancy.rls import set_scope  # the bench sets Django up before it loads the app's modules

    def fetch() -> str:
        with connection.transaction():
            # The application role sees the company's rows once the transaction carries its sealed scope.
            set_scope(connection, company_id)
            results = []
            for statement in statements:
                cursor = connection.execute(statement)
                names = [column.name for column in cursor.description]
                results.append([dict(zip(names, row, strict=True)) for row in cursor.fetchall()])
        return json.dumps(results, default=str)

    return fetch


def measure(client, raw_connection, company_id: str, name: str, path: str, rounds: int) -> Figure:
    """One list for one company: latency, queries per page size, and the ratio to raw psycopg."""
    from tenancy.rls import set_scope  # the bench sets Django up before it loads the app's modules

    page = f"{path}?page_size={PAGE_SIZE}"
    counts = query_counts(client, path)
    queries = captured_queries(client, page)
    statements = tenant_statements(queries)
    page_sql = page_query(queries)
    plan = "no LIMIT: the page is cut in Python"
    if page_sql is not None:
        with raw_connection.transaction():
            set_scope(raw_connection, company_id)
            explained = raw_connection.execute(f"EXPLAIN (FORMAT JSON) {page_sql}").fetchone()[0]
        plan = plan_summary(explained[0]["Plan"], main_table(page_sql))
    candidates = {"api": lambda: client.get(page), "raw": raw_page(raw_connection, company_id, statements)}
    samples = side_by_side(candidates, rounds, shuffle=True)
    api, raw = statistics.median(samples["api"]), statistics.median(samples["raw"])
    rows = len(client.get(page).json()["results"])
    return Figure(
        name=name,
        value=round(api * 1000, 3),
        unit="ms (median, page of 50)",
        target="queries equal at page sizes 10, 50, 200",
        met=len(set(counts.values())) == 1,
        detail={
            "path": page,
            "rows_on_page": rows,
            "p95_ms": round(percentile(samples["api"], 0.95) * 1000, 3),
            "queries_by_page_size": counts,
            "raw_median_ms": round(raw * 1000, 3),
            "raw_statements": len(statements),
            "ratio_to_raw": round(api / raw, 2),
            "page_query_plan": plan,
        },
    )


def run(smoke: bool) -> list[Figure]:
    dataset = ensure_dataset(smoke)
    connect_django(dataset.app_database_url)
    rounds = SMOKE_ROUNDS if smoke else ROUNDS
    endpoints = list_endpoints()
    figures: list[Figure] = []
    with psycopg.connect(dataset.app_database_url, autocommit=True) as raw_connection:
        for label, company_id in (("large", dataset.large_company_id), ("small", dataset.small_company_id)):
            client = BearerClient(company_owner(company_id))
            for name, path in resolve(client, endpoints).items():
                figure = measure(client, raw_connection, company_id, f"{label} company: {name}", path, rounds)
                figures.append(figure)
                print(f"lists: {figure.name} {figure.value} ms {figure.detail}", flush=True)
    ratios = sorted(figures, key=lambda figure: figure.detail["ratio_to_raw"], reverse=True)
    worst = ratios[0]
    figures.append(
        Figure(
            name="worst ratio to raw psycopg and json.dumps",
            value=worst.detail["ratio_to_raw"],
            unit="x",
            detail={
                "worst": {figure.name: figure.detail["ratio_to_raw"] for figure in ratios[:5]},
                "dataset": dataset.describe(),
            },
        )
    )
    return figures
