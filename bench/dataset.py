"""The bench database: migrated as its owner, seeded with seed_demo, and built once for every benchmark.

`ensure_dataset(smoke)` creates the database when it is missing, migrates it, grants the application
role (no superuser, no BYPASSRLS, owning nothing) and seeds it: at least 1,000 companies and
1,000,000 rows in the largest table, a tenth of them in one large company. What was built is
recorded as a comment on the database, so a later run with the same parameters does nothing.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import tempfile
import time
import warnings
from dataclasses import dataclass, field
from urllib.parse import urlsplit, urlunsplit

import psycopg
from psycopg import sql

from .common import BENCH_DATABASE_URL, ROOT

APP_ROLE = "crm_bench_app"
SEED = 2026
# contacts (and deals) = 999 * 901 + 100,100 = 1,000,199 rows; the large company holds 10.0% of them.
FULL = {"companies": 1000, "per_company": 901, "large_company_records": 100_100, "seed": SEED}
# A few thousand rows for checking the harness; the large company again holds about a tenth.
SMOKE = {"companies": 20, "per_company": 150, "large_company_records": 300, "seed": SEED}
# The admin is measured on one company of 100,100 contacts and deals and 10,010 accounts; what the
# other companies hold does not reach its pages, so two small ones beside it are enough (crm_bench_admin).
ADMIN = {"companies": 3, "per_company": 901, "large_company_records": 100_100, "seed": SEED}
LARGE_COMPANY_SLUG = "acme"  # seed_demo's first company, the one --large-company-records enlarges
SMALL_COMPANY_SLUG = "globex"  # its second, with --per-company records like the rest


@dataclass
class Dataset:
    """A seeded bench database and how to reach it as the owner and as the application role."""

    database_url: str
    app_database_url: str
    large_company_id: str
    small_company_id: str
    companies: int
    largest_table: str
    rows_in_largest_table: int
    rows: dict[str, int] = field(default_factory=dict)
    large_company_rows: dict[str, int] = field(default_factory=dict)
    seed_seconds: float = 0.0
    parameters: dict = field(default_factory=dict)

    def describe(self) -> dict:
        """The facts a benchmark reports next to its figures."""
        return {
            "database": urlsplit(self.database_url).path.lstrip("/"),
            "companies": self.companies,
            "largest_table": self.largest_table,
            "rows_in_largest_table": self.rows_in_largest_table,
            "large_company_rows_in_largest_table": self.large_company_rows.get(self.largest_table, 0),
            "seed_demo": self.parameters,
            "seed_seconds": round(self.seed_seconds, 1),
        }


def with_database(url: str, name: str, user: str | None = None) -> str:
    """url pointing at another database (and optionally as another user)."""
    parts = urlsplit(url)
    netloc = parts.netloc
    if user is not None:
        netloc = f"{user}@{netloc.rsplit('@', 1)[-1]}"
    return urlunsplit(parts._replace(netloc=netloc, path=f"/{name}"))


def migrations_fingerprint() -> str:
    """A digest of every migration file name in the project: it changes when a migration is added."""
    names = sorted(
        str(path.relative_to(ROOT)) for path in ROOT.glob("*/migrations/*.py") if path.name != "__init__.py"
    )
    return hashlib.sha256("\n".join(names).encode()).hexdigest()[:16]


def ensure_dataset(smoke: bool = False, *, parameters: dict | None = None, suffix: str = "") -> Dataset:
    """The seeded bench database (crm_bench, or crm_bench_smoke), built on first use.

    Other parameters (ADMIN) are built in a database of their own, named with suffix (crm_bench_admin).
    """
    if parameters is None:
        parameters = SMOKE if smoke else FULL
    base_name = urlsplit(BENCH_DATABASE_URL).path.lstrip("/") + suffix
    name = f"{base_name}_smoke" if smoke else base_name
    owner_url = with_database(BENCH_DATABASE_URL, name)
    fingerprint = migrations_fingerprint()
    _create_role_and_database(owner_url, name)
    recorded = _recorded(owner_url, name)
    if recorded and recorded["parameters"] == parameters and recorded["migrations"] == fingerprint:
        return _dataset(owner_url, recorded)
    if recorded and recorded["parameters"] != parameters:
        print(f"dataset: {name} was seeded with {recorded['parameters']}; rebuilding it", flush=True)
        _drop_database(owner_url, name)
        _create_role_and_database(owner_url, name)
        recorded = None
    _manage(owner_url, name, "migrate", "--noinput", "--verbosity", "0")
    _manage(owner_url, name, "tenancy_grant_app_role", APP_ROLE, "--verbosity", "0")
    if recorded:
        seed_seconds = recorded["seed_seconds"]
    else:
        print(f"dataset: seeding {name} with seed_demo {parameters}", flush=True)
        started = time.monotonic()
        _manage(
            owner_url,
            name,
            "seed_demo",
            "--companies",
            str(parameters["companies"]),
            "--per-company",
            str(parameters["per_company"]),
            "--large-company-records",
            str(parameters["large_company_records"]),
            "--seed",
            str(parameters["seed"]),
        )
        seed_seconds = time.monotonic() - started
        print(f"dataset: seed_demo took {seed_seconds:.0f} s", flush=True)
        vacuum_started = time.monotonic()
        with psycopg.connect(owner_url, autocommit=True) as connection:
            connection.execute("VACUUM ANALYZE")
        print(f"dataset: VACUUM ANALYZE took {time.monotonic() - vacuum_started:.0f} s", flush=True)
    recorded = _measure(owner_url, parameters, fingerprint, seed_seconds)
    with psycopg.connect(owner_url, autocommit=True) as connection:
        connection.execute(
            sql.SQL("COMMENT ON DATABASE {} IS {}").format(
                sql.Identifier(name), sql.Literal(json.dumps(recorded, sort_keys=True))
            )
        )
    return _dataset(owner_url, recorded)


def _dataset(owner_url: str, recorded: dict) -> Dataset:
    name = urlsplit(owner_url).path.lstrip("/")
    return Dataset(
        database_url=owner_url,
        app_database_url=with_database(owner_url, name, user=APP_ROLE),
        large_company_id=recorded["large_company_id"],
        small_company_id=recorded["small_company_id"],
        companies=recorded["companies"],
        largest_table=recorded["largest_table"],
        rows_in_largest_table=recorded["rows"][recorded["largest_table"]],
        rows=recorded["rows"],
        large_company_rows=recorded["large_company_rows"],
        seed_seconds=recorded["seed_seconds"],
        parameters=recorded["parameters"],
    )


def _create_role_and_database(owner_url: str, name: str) -> None:
    with psycopg.connect(with_database(owner_url, "postgres"), autocommit=True) as connection:
        if not connection.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", [APP_ROLE]).fetchone():
            connection.execute(
                sql.SQL("CREATE ROLE {} LOGIN NOSUPERUSER NOBYPASSRLS NOCREATEDB NOCREATEROLE").format(
                    sql.Identifier(APP_ROLE)
                )
            )
        if not connection.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone():
            connection.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))


def _drop_database(owner_url: str, name: str) -> None:
    with psycopg.connect(with_database(owner_url, "postgres"), autocommit=True) as connection:
        connection.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


def _recorded(owner_url: str, name: str) -> dict | None:
    with psycopg.connect(owner_url) as connection:
        row = connection.execute(
            "SELECT shobj_description(oid, 'pg_database') FROM pg_database WHERE datname = %s", [name]
        ).fetchone()
    try:
        return json.loads(row[0]) if row and row[0] else None
    except ValueError:
        return None


def media_root(name: str) -> str:
    """Where the demo files of a bench database are stored: outside the repository, one directory each."""
    return os.path.join(tempfile.gettempdir(), "crm-bench-media", name)


def _manage(owner_url: str, name: str, *arguments: str) -> None:
    """Run a manage.py command against the bench database as its owner, printing its output."""
    environment = {
        key: value
        for key, value in os.environ.items()
        if key not in {"MIGRATION_DATABASE_URL", "REDIS_URL", "DJANGO_SETTINGS_MODULE"}
    }
    environment["DATABASE_URL"] = owner_url
    environment["MEDIA_ROOT"] = media_root(name)
    command = [sys.executable, str(ROOT / "manage.py"), *arguments]
    subprocess.run(command, env=environment, check=True)  # noqa: S603 (this interpreter, our arguments)


def _measure(owner_url: str, parameters: dict, fingerprint: str, seed_seconds: float) -> dict:
    """Rows per tenant table, in total and in the large company, read as the owner after seeding."""
    with psycopg.connect(owner_url) as connection:
        companies = dict(connection.execute("SELECT slug, id::text FROM companies").fetchall())
        tables = [
            row[0]
            for row in connection.execute(
                "SELECT table_name FROM information_schema.columns "
                "WHERE table_schema = 'public' AND column_name = 'company_id' "
                "AND table_name IN (SELECT table_name FROM information_schema.columns "
                "WHERE table_schema = 'public' AND column_name = 'is_deleted') ORDER BY table_name"
            ).fetchall()
        ]
        rows, large_rows = {}, {}
        for table in tables:
            total, large = connection.execute(
                sql.SQL("SELECT count(*), count(*) FILTER (WHERE company_id = %s) FROM {}").format(
                    sql.Identifier(table)
                ),
                [companies[LARGE_COMPANY_SLUG]],
            ).fetchone()
            rows[table], large_rows[table] = total, large
    largest = max(rows, key=lambda table: (rows[table], table))
    return {
        "parameters": parameters,
        "migrations": fingerprint,
        "seed_seconds": round(seed_seconds, 1),
        "companies": len(companies),
        "large_company_id": companies[LARGE_COMPANY_SLUG],
        "small_company_id": companies[SMALL_COMPANY_SLUG],
        "largest_table": largest,
        "rows": rows,
        "large_company_rows": large_rows,
    }


def connect_django(database_url: str) -> None:
    """Point Django's default database at database_url, setting Django up on first use.

    Connections persist across requests, as behind a production pool, so a benchmark times the
    request and not a new connection each time.
    """
    import dj_database_url

    # Static files are not collected for benchmarks; whitenoise would warn about it on every setup.
    warnings.filterwarnings("ignore", message="No directory at", category=UserWarning)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    from django.apps import apps

    if not apps.ready:
        os.environ["DATABASE_URL"] = database_url
        # The seeded files, so the file endpoints read them rather than log them missing.
        os.environ.setdefault("MEDIA_ROOT", media_root(urlsplit(database_url).path.lstrip("/")))
        import django

        django.setup()
    from django.db import connections

    connections.close_all()
    settings_dict = connections["default"].settings_dict
    for key, value in dj_database_url.parse(database_url).items():
        if key in {"NAME", "USER", "PASSWORD", "HOST", "PORT"}:
            settings_dict[key] = value
    settings_dict["CONN_MAX_AGE"] = None
