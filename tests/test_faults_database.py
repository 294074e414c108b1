"""PostgreSQL restarted under a served app: requests in flight get a clear 503, and service resumes by itself.

The app runs in gunicorn (threads) on loopback against a throwaway cluster of this test's own, as a
role under row-level security; the shared server on 5432 is never touched.
"""

import json
import os
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

import psycopg
import pytest

from .faults import ThrowawayPostgres, free_port, stop_process, wait_for
from .keys import server_keys

pytestmark = [pytest.mark.faults, pytest.mark.postgres]

ROOT = Path(__file__).resolve().parent.parent
APP_ROLE = "crm_fault_app"
REQUEST_TIMEOUT = 20
IN_FLIGHT_READS = 4
IN_FLIGHT_WRITES = 2
THREADS = 8
SEED = """
import json
from tests.factories import ContactFactory, UserFactory
from tenancy.auth import issue_tokens
contact = ContactFactory(first_name="Seeded")
owner = UserFactory(company=contact.company, role="owner")
print(json.dumps({"token": issue_tokens(owner)["access_token"]}))
"""


def manage(env: dict, *arguments: str) -> str:
    command = [sys.executable, "manage.py", *arguments]
    result = subprocess.run(  # noqa: S603 (a fixed command)
        command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=120, check=False
    )
    assert result.returncode == 0, f"manage.py {' '.join(arguments)}:\n{result.stdout}{result.stderr}"
    return result.stdout


def base_env(database_url: str) -> dict:
    env = {
        key: value for key, value in os.environ.items() if key not in {"REDIS_URL", "MIGRATION_DATABASE_URL"}
    }
    # One set of keys for every process: the token the seeding shell issues is the one gunicorn checks.
    return {
        **env,
        **server_keys(),
        "DATABASE_URL": database_url,
        "CELERY_TASK_ALWAYS_EAGER": "true",
        "DEBUG": "false",
    }


@pytest.fixture(scope="module")
def cluster():
    """A migrated throwaway cluster with an app role and one company's owner; yields (cluster, token)."""
    server = ThrowawayPostgres()
    try:
        server.start()
        with psycopg.connect(server.url(database="postgres"), autocommit=True) as admin:
            admin.execute("CREATE DATABASE crm")
            admin.execute(f"CREATE ROLE {APP_ROLE} LOGIN NOSUPERUSER NOBYPASSRLS NOCREATEDB NOCREATEROLE")
        owner_env = base_env(server.url())
        manage(
            {**base_env(server.url(APP_ROLE)), "MIGRATION_DATABASE_URL": server.url()}, "migrate", "--noinput"
        )
        manage(owner_env, "tenancy_grant_app_role", APP_ROLE)
        token = json.loads(manage(owner_env, "shell", "-c", SEED).strip().splitlines()[-1])["token"]
        yield server, token
    finally:
        server.stop()


@pytest.fixture(params=[0, 60], ids=["fresh-connections", "persistent-connections"])
def served(cluster, request, tmp_path):
    """gunicorn with threads serving the app as the app role; DB_CONN_MAX_AGE is the parameter."""
    server, token = cluster
    port = free_port()
    log = tmp_path / "gunicorn.log"
    env = {**base_env(server.url(APP_ROLE)), "DB_CONN_MAX_AGE": str(request.param)}
    command = [sys.executable, "-m", "gunicorn", "config.wsgi:application", "--bind", f"127.0.0.1:{port}"]
    command += ["--workers", "1", "--worker-class", "gthread", "--threads", str(THREADS), "--timeout", "60"]
    with log.open("wb") as output:
        process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=output, stderr=subprocess.STDOUT)  # noqa: S603 (a fixed command)
    base = f"http://127.0.0.1:{port}"
    try:
        wait_for(lambda: call(base, token, "GET", "/api/contacts")[0] == 200, seconds=30, what="gunicorn")
        yield server, base, token, process, log
    finally:
        stop_process(process)


def call(base: str, token: str, method: str, path: str, body: dict | None = None):
    """(status, headers, parsed JSON or raw text, seconds); 0 as the status when nothing answered."""
    data = json.dumps(body).encode() if body is not None else None
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
    request = urllib.request.Request(base + path, data=data, method=method, headers=headers)  # noqa: S310 (loopback)
    started = time.monotonic()
    try:
        with urllib.request.urlopen(request, timeout=REQUEST_TIMEOUT) as response:  # noqa: S310 (loopback)
            status, answer_headers, raw = response.status, response.headers, response.read()
    except urllib.error.HTTPError as error:
        status, answer_headers, raw = error.code, error.headers, error.read()
    except OSError as error:
        return 0, {}, repr(error), time.monotonic() - started
    try:
        parsed = json.loads(raw)
    except ValueError:
        parsed = raw.decode(errors="replace")
    return status, answer_headers, parsed, time.monotonic() - started


def blocked_backends(server: ThrowawayPostgres) -> int:
    with psycopg.connect(server.url(), autocommit=True) as probe:
        return probe.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE usename = %s AND wait_event_type = 'Lock'",
            [APP_ROLE],
        ).fetchone()[0]


def test_a_database_restart_fails_requests_in_flight_with_503_and_service_resumes(served):
    """Requests blocked in PostgreSQL when it restarts get 503 JSON; the same gunicorn serves 200s after."""
    server, base, token, process, log = served
    # Every thread of the worker serves once first, so persistent connections go stale in the restart.
    warm = [
        threading.Thread(target=call, args=(base, token, "GET", "/api/contacts")) for _ in range(2 * THREADS)
    ]
    for thread in warm:
        thread.start()
    for thread in warm:
        thread.join()

    results: list[tuple] = []
    # Holding the table's lock keeps the requests inside PostgreSQL, so they are in flight at the restart.
    locker = psycopg.connect(server.url())
    locker.execute("LOCK TABLE contacts IN ACCESS EXCLUSIVE MODE")
    requests = [("GET", "/api/contacts", None)] * IN_FLIGHT_READS
    requests += [
        ("POST", "/api/contacts", {"first_name": "Lost", "last_name": f"Write {n}"})
        for n in range(IN_FLIGHT_WRITES)
    ]
    threads = [
        threading.Thread(target=lambda args=args: results.append(call(base, token, *args)))
        for args in requests
    ]
    for thread in threads:
        thread.start()
    wait_for(
        lambda: blocked_backends(server) >= len(requests), seconds=15, what="the requests to wait on the lock"
    )
    server.restart()
    for thread in threads:
        thread.join(timeout=REQUEST_TIMEOUT + 5)
    locker.close()

    assert len(results) == len(requests), "a request in flight never got an answer"
    for status, headers, body, seconds in results:
        assert status == 503, (status, body, log.read_text()[-3000:])
        assert isinstance(body, dict) and "database is unavailable" in body["detail"], body
        assert headers["Content-Type"] == "application/json"
        assert int(headers["Retry-After"]) > 0
        assert seconds < REQUEST_TIMEOUT

    # Service resumes without restarting gunicorn: the first 200 within seconds, then only 200s.
    started = time.monotonic()
    wait_for(
        lambda: call(base, token, "GET", "/api/contacts")[0] == 200,
        seconds=10,
        what="a 200 after the restart",
    )
    recovered_after = time.monotonic() - started
    after = [call(base, token, "GET", "/api/contacts") for _ in range(3 * THREADS)]
    assert [status for status, *_ in after] == [200] * len(after), [body for _, _, body, _ in after]
    assert process.poll() is None
    created = call(base, token, "POST", "/api/contacts", {"first_name": "After", "last_name": "Restart"})
    assert created[0] == 201, created
    names = [
        row["first_name"] for row in call(base, token, "GET", "/api/contacts?page_size=100")[2]["results"]
    ]
    assert "Lost" not in names, "a write that answered 503 was kept"
    assert recovered_after < 10
