"""Two companies' clients hammer one live server (gunicorn threads, then ASGI) and never see each other.

The server is a real subprocess on loopback, connected to this test's database as the application
role (row-level security applies) with production settings (DEBUG off, the startup role check on).
Thousands of interleaved requests of both companies share its threads and keep-alive connections;
every response must carry its own company's data only, and no request may fail.
"""

import json
import os
import random
import signal
import socket
import subprocess
import sys
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import quote

import pytest
import requests
from django.db import connection

from crm.models import Contact
from tenancy.auth import issue_tokens
from tenancy.context import company_context

from .factories import AccountFactory, CompanyFactory, ContactFactory, UserFactory
from .keys import server_keys

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

ROOT = Path(__file__).resolve().parent.parent
CLIENT_THREADS = 16
REQUESTS_PER_RUN = 2000
SEEDED_PER_COMPANY = 6
# Every planned request is sent and waited for: a loaded machine is slower, never wrong. The
# timeouts catch only a hang; how fast the servers answer is bench/http.py's question.
REQUEST_TIMEOUT_SECONDS = 120
STARTUP_SECONDS = 180
SEED = 7

# Gunicorn's threads keep their database connections, so one connection serves both companies in
# turn; under ASGI each request runs in a thread of its own, where persistent connections would leak.
SERVER_ENV = {"gunicorn-threads": {"DB_CONN_MAX_AGE": "60"}, "uvicorn-asgi": {"DB_CONN_MAX_AGE": "0"}}
SERVERS = {
    "gunicorn-threads": lambda port: [
        *("-m", "gunicorn", "config.wsgi:application", "--workers", "1", "--threads", "8"),
        *("--bind", f"127.0.0.1:{port}", "--keep-alive", "30", "--timeout", "120"),
    ],
    "uvicorn-asgi": lambda port: [
        *("-m", "uvicorn", "config.asgi:application", "--host", "127.0.0.1", "--port", str(port)),
        *("--workers", "1", "--lifespan", "off", "--timeout-keep-alive", "30", "--no-access-log"),
    ],
}


@dataclass
class Tenant:
    """One company as its clients know it: a token, its rows, and a tag every one of its names carries."""

    tag: str
    company_id: str
    token: str
    contact_ids: list[str]
    account_ids: list[str]
    secrets: list[str] = field(default_factory=list)


def seed_tenant(tag: str) -> Tenant:
    """A committed company with an owner and rows whose names all carry the tag."""
    company = CompanyFactory(name=f"Company {tag}", slug=f"company-{tag.lower()}")
    user = UserFactory(
        company=company, role="owner", email=f"owner-{tag.lower()}@example.com", full_name=f"Owner {tag}"
    )
    accounts = [
        AccountFactory(
            company=company, owner=user, name=f"Account {tag} {n}", domain=f"{tag.lower()}{n}.test"
        )
        for n in range(SEEDED_PER_COMPANY)
    ]
    contacts = [
        ContactFactory(
            company=company,
            owner=user,
            first_name=f"{tag}{n}",
            last_name=f"Person {tag}",
            email=f"person{n}-{tag.lower()}@example.com",
            phone=f"+1415555{n:04d}",
        )
        for n in range(SEEDED_PER_COMPANY)
    ]
    return Tenant(
        tag=tag,
        company_id=str(company.pk),
        token=issue_tokens(user)["access_token"],
        contact_ids=[str(c.pk) for c in contacts],
        account_ids=[str(a.pk) for a in accounts],
        secrets=[str(user.pk), user.email],
    )


def database_url_of_this_test() -> str:
    db = connection.settings_dict
    credentials = quote(db["USER"] or "", safe="")
    if db["PASSWORD"]:
        credentials += ":" + quote(db["PASSWORD"], safe="")
    return f"postgres://{credentials}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def start_server(
    kind: str, log_path: Path, *, command=None, **extra_env: str
) -> tuple[subprocess.Popen, str]:
    """Start the server as the application role with production settings; wait until it answers.

    `command` (port -> arguments) replaces the kind's own command line, for another server layout.
    """
    port = free_port()
    env = {key: value for key, value in os.environ.items() if key not in {"REDIS_URL", "DATABASE_URL"}}
    env.update(
        DJANGO_SETTINGS_MODULE="config.settings",
        DATABASE_URL=database_url_of_this_test(),
        DEBUG="false",
        TENANCY_ALLOW_RLS_BYPASS="false",
        ALLOWED_HOSTS="127.0.0.1",
        **server_keys(),
        CELERY_TASK_ALWAYS_EAGER="true",
        LOG_LEVEL="WARNING",
        **extra_env,
    )
    with log_path.open("wb") as log:
        server = subprocess.Popen(  # noqa: S603 (a fixed command on loopback)
            [sys.executable, *(command or SERVERS[kind])(port)],
            cwd=ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + STARTUP_SECONDS
    while time.monotonic() < deadline:
        if server.poll() is not None:
            pytest.fail(f"{kind} exited with {server.returncode}:\n{log_path.read_text()[-3000:]}")
        try:
            if requests.get(f"{base}/api/auth/me", timeout=2).status_code == 401:
                return server, base
        except (requests.ConnectionError, requests.Timeout):
            pass  # still starting: a loaded machine may accept the connection before it can answer
        time.sleep(0.2)
    stop_server(server)
    pytest.fail(f"{kind} did not answer within {STARTUP_SECONDS}s:\n{log_path.read_text()[-3000:]}")


def stop_server(server: subprocess.Popen) -> None:
    if server.poll() is None:
        os.killpg(server.pid, signal.SIGTERM)
        try:
            server.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)
            server.wait(timeout=10)


CALL_KINDS = [
    *("list-contacts", "list-accounts", "me", "own-contact", "own-account"),
    *("foreign-contact", "foreign-account", "create-contact"),
]


@dataclass(frozen=True)
class Call:
    """One request of one company's client, and the status it must get."""

    tenant: str
    kind: str
    method: str
    path: str
    expected: int
    body: dict | None = None


def planned_calls(tenants: dict[str, Tenant]) -> list[Call]:
    """A shuffled mix of lists, own and foreign retrieves, and creates, for both companies."""
    rng = random.Random(SEED)
    calls = []
    for index in range(REQUESTS_PER_RUN):
        me, other = ("A", "B") if index % 2 == 0 else ("B", "A")
        own, foreign = tenants[me], tenants[other]
        kind = rng.choice(CALL_KINDS)
        if kind == "list-contacts":
            calls.append(Call(me, kind, "GET", "/api/contacts?page_size=100", 200))
        elif kind == "list-accounts":
            calls.append(Call(me, kind, "GET", "/api/accounts", 200))
        elif kind == "me":
            calls.append(Call(me, kind, "GET", "/api/auth/me", 200))
        elif kind == "own-contact":
            calls.append(Call(me, kind, "GET", f"/api/contacts/{rng.choice(own.contact_ids)}", 200))
        elif kind == "own-account":
            calls.append(Call(me, kind, "GET", f"/api/accounts/{rng.choice(own.account_ids)}", 200))
        elif kind == "foreign-contact":
            calls.append(Call(me, kind, "GET", f"/api/contacts/{rng.choice(foreign.contact_ids)}", 404))
        elif kind == "foreign-account":
            calls.append(Call(me, kind, "GET", f"/api/accounts/{rng.choice(foreign.account_ids)}", 404))
        else:
            body = {"first_name": f"{me}{index}", "last_name": f"Created {own.tag}"}
            calls.append(Call(me, kind, "POST", "/api/contacts", 201, body))
    return calls


def rows_of(body) -> list[dict]:
    if isinstance(body, dict) and "results" in body:
        return body["results"]
    return [body] if isinstance(body, dict) and "id" in body else []


def problems_with(call: Call, status: int, raw: bytes, tenants: dict[str, Tenant]) -> list[str]:
    """Everything wrong with one response: its status, or any sign of the other company."""
    own = tenants[call.tenant]
    other = tenants["B" if call.tenant == "A" else "A"]
    text = raw.decode("utf-8", "replace")
    found = []
    if status != call.expected:
        found.append(f"status {status}, expected {call.expected}")
    leaked = [m for m in [other.tag, other.company_id, *other.contact_ids, *other.account_ids] if m in text]
    leaked += [m for m in other.secrets if m in text]
    if leaked:
        found.append(f"carries the other company's {leaked[:3]}")
    body = json.loads(raw) if raw else None
    for row in rows_of(body) if status in (200, 201) else []:
        company = row.get("company")
        company_id = company["id"] if isinstance(company, dict) else company
        if company_id != own.company_id:
            found.append(f"row {row.get('id')} of company {company_id}")
        if call.kind == "me" and row["company"]["name"] != f"Company {own.tag}":
            found.append(f"/me names {row['company']['name']}")
    if call.kind.startswith("list") and status == 200 and not body["results"]:
        found.append("an empty list")
    return found


def run_interleaved(base: str, tenants: dict[str, Tenant]) -> tuple[Counter, list[str]]:
    """Send every planned call from a pool of threads over keep-alive sessions; tally the outcomes."""
    calls = planned_calls(tenants)
    local = threading.local()
    tally: Counter = Counter()
    failures: list[str] = []
    lock = threading.Lock()

    def send(call: Call) -> None:
        if not hasattr(local, "session"):
            local.session = requests.Session()
        headers = {"Authorization": f"Bearer {tenants[call.tenant].token}"}
        try:
            response = local.session.request(
                call.method,
                base + call.path,
                json=call.body,
                headers=headers,
                timeout=REQUEST_TIMEOUT_SECONDS,
            )
        except requests.RequestException as error:
            outcome, found = "connection error", [f"{type(error).__name__}: {error}"]
        else:
            outcome = f"{call.kind} {response.status_code}"
            found = problems_with(call, response.status_code, response.content, tenants)
        with lock:
            tally[outcome] += 1
            failures.extend(f"{call.tenant} {call.method} {call.path}: {problem}" for problem in found)

    with ThreadPoolExecutor(max_workers=CLIENT_THREADS) as pool:
        list(pool.map(send, calls))
    return tally, failures


@pytest.mark.parametrize("kind", list(SERVERS))
def test_interleaved_clients_of_two_companies_never_see_each_other(kind, tmp_path):
    """Thousands of interleaved requests of two companies: every status as expected, no foreign data."""
    tenants = {"A": seed_tenant("Alphaqx"), "B": seed_tenant("Bravoqz")}
    server, base = start_server(kind, tmp_path / f"{kind}.log", **SERVER_ENV[kind])
    try:
        tally, failures = run_interleaved(base, tenants)
    finally:
        stop_server(server)
    server_log = (tmp_path / f"{kind}.log").read_text()

    sent = sum(tally.values())
    print(f"\n{kind}: {sent} requests, {len(failures)} failures; {sorted(tally.items())}")
    assert failures == [], f"{len(failures)} of {sent} requests went wrong, e.g. {failures[:10]}"
    assert sent == REQUESTS_PER_RUN
    assert "Traceback" not in server_log, server_log[-3000:]
    assert tally["create-contact 201"] > 0
    planned_creates = Counter(call.tenant for call in planned_calls(tenants) if call.kind == "create-contact")
    for key in ("A", "B"):
        tenant = tenants[key]
        with company_context(tenant.company_id):
            names = list(Contact.objects.values_list("last_name", flat=True))
        assert len(names) == SEEDED_PER_COMPANY + planned_creates[key]
        assert all(tenant.tag in name for name in names), f"{key} holds another company's contact"
