"""Throwaway PostgreSQL databases for the benchmarks, and `manage.py` run as a real subprocess."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from dataclasses import dataclass
from urllib.parse import urlsplit, urlunsplit

import psycopg
from psycopg import sql

from .common import BENCH_DATABASE_URL, ROOT

# The server every bench database lives on: the one BENCH_DATABASE_URL names, as its superuser.
SERVER_URL = BENCH_DATABASE_URL


def database_url(name: str, *, user: str | None = None) -> str:
    """The URL of database `name` on the bench server (as `user`, default the server URL's user)."""
    parts = urlsplit(SERVER_URL)
    netloc = parts.netloc
    if user is not None:
        host = netloc.rsplit("@", 1)[-1]
        netloc = f"{user}@{host}"
    return urlunsplit((parts.scheme, netloc, f"/{name}", "", ""))


def connect(url: str, **options) -> psycopg.Connection:
    """An autocommit connection: every statement of a benchmark commits on its own unless it says."""
    return psycopg.connect(url, autocommit=True, **options)


def database_exists(name: str) -> bool:
    """Whether the bench server has a database of that name."""
    with connect(database_url("postgres")) as admin:
        return admin.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone() is not None


def drop_database(name: str) -> None:
    """Drop a bench database, ending its sessions first."""
    with connect(database_url("postgres")) as admin:
        admin.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


def create_database(name: str, *, template: str | None = None) -> None:
    """Create a bench database afresh (dropping one of that name), optionally as a copy of a template."""
    drop_database(name)
    with connect(database_url("postgres")) as admin:
        statement = sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name))
        if template:
            statement += sql.SQL(" TEMPLATE {}").format(sql.Identifier(template))
        admin.execute(statement)


@dataclass
class ManageRun:
    """One `manage.py` subprocess: how long it took from spawn to exit, and what it printed."""

    seconds: float
    output: str


def manage(*args: str, database: str, settings: str = "config.settings", **env: str) -> ManageRun:
    """Run `manage.py <args>` against a bench database as its owner; raise with its output if it fails."""
    environment = {
        **os.environ,
        "DATABASE_URL": database_url(database),
        "DJANGO_SETTINGS_MODULE": settings,
        "MIGRATION_DATABASE_URL": "",
        **env,
    }
    started = time.perf_counter()
    finished = subprocess.run(  # noqa: S603 (this interpreter and manage.py)
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env=environment,
        capture_output=True,
        text=True,
        check=False,
    )
    seconds = time.perf_counter() - started
    output = finished.stdout + finished.stderr
    if finished.returncode != 0:
        raise RuntimeError(f"manage.py {' '.join(args)} on {database} failed:\n{output}")
    return ManageRun(seconds=seconds, output=output)


def migrated_template(name: str) -> str:
    """A database migrated to the product's head, kept between runs and brought up to date each time."""
    if not database_exists(name):
        create_database(name)
    manage("migrate", "--noinput", database=name)
    return name
