"""Backfill: the rollout's batched BackfillCompany against one `UPDATE ... FROM users`, on the same table.

The table is `notifications` as the rollout finds it (messaging at 0002_company_nullable: a nullable
`company_id` with its foreign key and index), holding as many rows as the bench dataset's largest
table, spread over 1,000 companies of four users each, a tenth of them in one large company. Its
backfill goes `via="user"`, so the single UPDATE does exactly the same work in one statement.

Each run starts from the same physical table (a pristine copy reloaded, vacuumed and checkpointed)
and runs in a subprocess with Django set up on the bench database as its owner: the batched run calls
the real migration's operation (`database_forwards` of messaging 0003's BackfillCompany, with a
non-atomic schema editor, as `migrate` does); the full run also times the operation's walk by
primary key alone (how it backfilled every row before the sweep in physical order, and still does
off PostgreSQL); the last runs the UPDATE. The methods take turns round after round; medians.

While each run goes, two probes watch the table from their own connections:
- the lock watch polls pg_locks every few milliseconds for transactions holding ROW EXCLUSIVE or a
  stronger lock on it, and keeps the longest age seen of such a transaction (from its first
  statement, so an upper bound on how long it held the lock);
- the writer updates one existing row every few milliseconds, as the application would, and keeps
  its longest wait (a row the backfill has changed stays locked until that transaction commits).
"""

from __future__ import annotations

import hashlib
import json
import os
import statistics
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field

from psycopg import sql

from .common import ROOT, Figure
from .databases import connect, create_database, database_exists, database_url, manage
from .dataset import FULL

TABLE = "notifications"
APP, MODEL = "messaging", "notification"
BEFORE_BACKFILL = "0002_company_nullable"
BACKFILL_MIGRATION = "0003_backfill_company"
PRISTINE = f"bench_{TABLE}_pristine"
# As many rows as the bench dataset's largest table (contacts: 999 companies' records + the large one).
ROWS = (FULL["companies"] - 1) * FULL["per_company"] + FULL["large_company_records"]
SMOKE_ROWS = 20_000
COMPANIES, SMOKE_COMPANIES = 1000, 20
USERS_PER_COMPANY = 4
ROUNDS, SMOKE_ROUNDS = 3, 1
LOCK_POLL_SECONDS = 0.005
WRITE_EVERY_SECONDS = 0.01
TARGET_RATIO = 0.5
TARGET_LOCK_SECONDS = 1.0
SINGLE_UPDATE_SQL = (
    f"UPDATE {TABLE} t SET company_id = u.company_id FROM users u "  # noqa: S608
    "WHERE t.user_id = u.id AND t.company_id IS NULL"
)
# Every lock mode that conflicts with the application's writes (ROW EXCLUSIVE) or is ROW EXCLUSIVE.
_HELD_LOCK_AGE_SQL = """
SELECT EXTRACT(EPOCH FROM clock_timestamp() - a.xact_start), a.query
FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid
WHERE l.locktype = 'relation' AND l.relation = %(table)s::regclass AND l.granted
  AND l.mode IN ('RowExclusiveLock', 'ShareLock', 'ShareRowExclusiveLock', 'ExclusiveLock',
                 'AccessExclusiveLock')
  AND a.pid <> ALL(%(ignored)s) AND a.xact_start IS NOT NULL
ORDER BY a.xact_start LIMIT 1
"""


def database_name(smoke: bool) -> str:
    """The database this benchmark builds and keeps between runs."""
    return "crm_h2_backfill_smoke" if smoke else "crm_h2_backfill"


def prepare(name: str, rows: int, companies: int) -> None:
    """The table before its backfill, and a pristine copy of it; kept while its migrations are unchanged."""
    wanted = {"rows": rows, "companies": companies, "migrations": _migrations_fingerprint()}
    if database_exists(name):
        with connect(database_url(name)) as conn:
            recorded = conn.execute(
                "SELECT shobj_description(oid, 'pg_database') FROM pg_database WHERE datname = %s", [name]
            ).fetchone()[0]
        if recorded and json.loads(recorded) == wanted:
            return
    print(f"backfill: building {name} ({rows:,} rows in {TABLE})", flush=True)
    create_database(name)
    manage("migrate", APP, BEFORE_BACKFILL, "--noinput", database=name)
    with connect(database_url(name)) as conn:
        _fill(conn, rows, companies)
        conn.execute(f"CREATE TABLE {PRISTINE} AS SELECT * FROM {TABLE}")  # noqa: S608
        conn.execute("VACUUM ANALYZE")
        conn.execute(
            sql.SQL("COMMENT ON DATABASE {} IS {}").format(
                sql.Identifier(name), sql.Literal(json.dumps(wanted))
            )
        )


def _migrations_fingerprint() -> str:
    """A digest of the migrations the table is built from (the apps messaging 0002 depends on)."""
    digest = hashlib.sha256()
    for app in ("tenancy", "crm", "messaging"):
        for path in sorted((ROOT / app / "migrations").glob("*.py")):
            digest.update(path.name.encode() + path.read_bytes())
    return digest.hexdigest()[:16]


def _fill(conn, rows: int, companies: int) -> None:
    """Companies with four users each; the rows, a tenth of them owned by the first company's users."""
    conn.execute(
        "INSERT INTO companies (id, name, slug, is_active, created_at, updated_at) "
        "SELECT gen_random_uuid(), 'Company ' || n, 'company-' || lpad(n::text, 5, '0'), true, now(), now() "
        "FROM generate_series(1, %s) AS n",
        [companies],
    )
    conn.execute(
        "INSERT INTO users (id, password, is_superuser, email, full_name, role, is_active, is_staff, "
        "date_joined, company_id, phone) "
        "SELECT gen_random_uuid(), '!', false, 'user' || k || '@' || c.slug || '.example', '', 'member', "
        "true, false, now(), c.id, '' FROM companies c, generate_series(1, %s) AS k",
        [USERS_PER_COMPANY],
    )
    conn.execute(
        f"""
        WITH large AS (
            SELECT array_agg(u.id ORDER BY u.email) AS ids
            FROM users u JOIN companies c ON c.id = u.company_id WHERE c.slug = 'company-00001'
        ), other AS (
            SELECT array_agg(u.id ORDER BY u.email) AS ids
            FROM users u JOIN companies c ON c.id = u.company_id WHERE c.slug <> 'company-00001'
        )
        INSERT INTO {TABLE} (id, created_at, updated_at, is_deleted, kind, title, body, target_type,
                             target_id, read_at, user_id)
        SELECT gen_random_uuid(), now() - (n %% 525600) * interval '1 minute', now(), false, 'info',
               'Notification ' || n, 'A text message arrived from a contact.', '', NULL, NULL,
               CASE WHEN n %% 10 = 0 THEN large.ids[1 + n %% cardinality(large.ids)]
                    ELSE other.ids[1 + (n::bigint * 7919) %% cardinality(other.ids)] END
        FROM generate_series(1, %s) AS n, large, other
        """,  # noqa: S608
        [rows],
    )


def reset(name: str) -> None:
    """The table as it was before any backfill: reloaded from the pristine copy, vacuumed, checkpointed."""
    with connect(database_url(name)) as conn:
        conn.execute(f"TRUNCATE {TABLE}")
        conn.execute(f"INSERT INTO {TABLE} SELECT * FROM {PRISTINE}")  # noqa: S608
        conn.execute(f"VACUUM ANALYZE {TABLE}")
        conn.execute("CHECKPOINT")


@dataclass
class Probes:
    """The lock watch and the writer, each on its own connection and thread, for the length of one run."""

    name: str
    longest_lock_seconds: float = 0.0
    longest_lock_statement: str = ""
    longest_write_seconds: float = 0.0
    lock_polls: int = 0
    writes: int = 0
    _stop: threading.Event = field(default_factory=threading.Event)
    _threads: list[threading.Thread] = field(default_factory=list)

    def __enter__(self) -> Probes:
        url = database_url(self.name)
        self._watch_conn, self._write_conn = connect(url), connect(url)
        self._write_pid = self._write_conn.info.backend_pid
        self._ids = [
            row[0]
            for row in self._write_conn.execute(f"SELECT id FROM {TABLE} TABLESAMPLE SYSTEM (1) LIMIT 2000")  # noqa: S608
        ]
        self._threads = [threading.Thread(target=self._watch), threading.Thread(target=self._write)]
        for thread in self._threads:
            thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join()
        self._watch_conn.close()
        self._write_conn.close()

    def _watch(self) -> None:
        ignored = [self._watch_conn.info.backend_pid, self._write_pid]
        while not self._stop.is_set():
            held = self._watch_conn.execute(
                _HELD_LOCK_AGE_SQL, {"table": TABLE, "ignored": ignored}
            ).fetchone()
            if held and float(held[0]) > self.longest_lock_seconds:
                self.longest_lock_seconds, self.longest_lock_statement = float(held[0]), held[1][:300]
            self.lock_polls += 1
            time.sleep(LOCK_POLL_SECONDS)

    def _write(self) -> None:
        index = 0
        while not self._stop.is_set() and self._ids:
            started = time.perf_counter()
            self._write_conn.execute(
                f"UPDATE {TABLE} SET read_at = read_at WHERE id = %s",  # noqa: S608
                [self._ids[index % len(self._ids)]],
            )
            self.longest_write_seconds = max(self.longest_write_seconds, time.perf_counter() - started)
            self.writes += 1
            index += 1
            time.sleep(WRITE_EVERY_SECONDS)


def run_once(name: str, method: str) -> dict:
    """One run of `method` ("batched" or "single_update") on a freshly reset table, with its probes."""
    reset(name)
    environment = {
        **os.environ,
        "DATABASE_URL": database_url(name),
        "DJANGO_SETTINGS_MODULE": "config.settings",
    }
    environment.pop("MIGRATION_DATABASE_URL", None)
    with Probes(name) as probes:
        finished = subprocess.run(  # noqa: S603 (this interpreter and module, a fixed argument)
            [sys.executable, "-m", "bench.backfill", method],
            cwd=ROOT,
            env=environment,
            capture_output=True,
            text=True,
            check=False,
        )
    if finished.returncode != 0:
        raise RuntimeError(f"backfill {method} failed:\n{finished.stdout}{finished.stderr}")
    result = json.loads(finished.stdout.strip().splitlines()[-1])
    with connect(database_url(name)) as conn:
        missing = conn.execute(f"SELECT COUNT(*) FROM {TABLE} WHERE company_id IS NULL").fetchone()[0]  # noqa: S608
    if missing:
        raise RuntimeError(f"backfill {method} left {missing} rows without a company")
    return {
        **result,
        "rows_per_second": result["rows"] / result["seconds"],
        "longest_lock_seconds": probes.longest_lock_seconds,
        "longest_lock_statement": probes.longest_lock_statement,
        "longest_write_wait_seconds": probes.longest_write_seconds,
        "lock_polls": probes.lock_polls,
        "probe_writes": probes.writes,
    }


# The migration's operation as it runs; its primary-key walk alone (the shape before the sweep in
# physical order, still the pass after it and the only one off PostgreSQL); one UPDATE of the table.
METHODS = ("batched", "primary_key_batches", "single_update")
SMOKE_METHODS = ("batched", "single_update")


def run(smoke: bool) -> list[Figure]:
    """The batched backfill and the single UPDATE, taking turns run after run on the same table."""
    name = database_name(smoke)
    rows = SMOKE_ROWS if smoke else ROWS
    prepare(name, rows, SMOKE_COMPANIES if smoke else COMPANIES)
    methods = SMOKE_METHODS if smoke else METHODS
    results: dict[str, list[dict]] = {method: [] for method in methods}
    for round_index in range(SMOKE_ROUNDS if smoke else ROUNDS):
        # Rotate who goes first, so no method always runs right after the table was reloaded.
        shift = round_index % len(methods)
        for method in methods[shift:] + methods[:shift]:
            results[method].append(run_once(name, method))
            last = results[method][-1]
            print(
                f"backfill: {method} {last['rows_per_second']:,.0f} rows/s, "
                f"longest lock {last['longest_lock_seconds']:.3f} s",
                flush=True,
            )

    def median(method: str, key: str) -> float:
        return statistics.median(result[key] for result in results[method])

    ratio = median("batched", "rows_per_second") / median("single_update", "rows_per_second")
    longest_lock = max(result["longest_lock_seconds"] for result in results["batched"])
    return [
        Figure(
            name=f"{method} backfill of {rows:,} rows",
            value=median(method, "rows_per_second"),
            unit="rows/s",
            detail={
                "median_seconds": median(method, "seconds"),
                "median_longest_lock_seconds": median(method, "longest_lock_seconds"),
                "median_longest_write_wait_seconds": median(method, "longest_write_wait_seconds"),
                "runs": results[method],
            },
        )
        for method in methods
    ] + [
        Figure(
            name="batched / single UPDATE speed",
            value=ratio,
            unit="x",
            target=f">= {TARGET_RATIO}",
            met=ratio >= TARGET_RATIO,
        ),
        Figure(
            name="longest lock held by the batched backfill",
            value=longest_lock,
            unit="s",
            target=f"<= {TARGET_LOCK_SECONDS}",
            met=longest_lock <= TARGET_LOCK_SECONDS,
            detail={
                "longest_write_wait_seconds": max(r["longest_write_wait_seconds"] for r in results["batched"])
            },
        ),
    ]


def _run_in_django(method: str) -> dict:
    """In the subprocess: one backfill by `method`, timed without Django's startup."""
    import django

    django.setup()
    from django.db import connection
    from django.db.migrations.loader import MigrationLoader

    from tenancy.operations import BackfillCompany

    if method == "single_update":
        started = time.perf_counter()
        with connection.cursor() as cursor:
            cursor.execute(SINGLE_UPDATE_SQL)
            rows = cursor.rowcount
        return {"seconds": time.perf_counter() - started, "rows": rows}
    loader = MigrationLoader(connection)
    migration = loader.graph.nodes[APP, BACKFILL_MIGRATION]
    (operation,) = [
        op for op in migration.operations if isinstance(op, BackfillCompany) and op.model_name == MODEL
    ]
    state = loader.project_state((APP, BEFORE_BACKFILL))
    model = state.apps.get_model(APP, MODEL)
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT COUNT(*) FROM {TABLE} WHERE company_id IS NULL")  # noqa: S608
        rows = cursor.fetchone()[0]
    started = time.perf_counter()
    if method == "primary_key_batches":
        owner_company = f"COALESCE({', '.join(operation._owner_company_sql(model, connection))}, NULL)"
        operation._update_in_batches(model, connection, owner_company, [])
    else:
        with connection.schema_editor(atomic=False) as editor:
            operation.database_forwards(APP, editor, state, state)
    return {"seconds": time.perf_counter() - started, "rows": rows, "batch_size": operation.batch_size}


if __name__ == "__main__":
    print(json.dumps(_run_in_django(sys.argv[1])))
