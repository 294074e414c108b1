"""Scale in companies: `manage.py migrate` of one new migration with 1, 1,000 and 10,000 companies.

Each database is a copy of one migrated to the product's head, with N companies, a user and a contact
each. The new migration is the bench-only app bench/migration_probe (a nullable column and an index
built concurrently on `contacts`), installed by its own settings module, never by the product's.
`migrate` runs as the real command in a subprocess, so its figures include Python and Django startup,
loading the migration graph, and the post-migrate signals; each round migrates every database forward
in turn, then back, so drift on the machine hits every company count alike.
"""

from __future__ import annotations

import re
import statistics

from .common import Figure
from .databases import connect, create_database, database_url, manage, migrated_template

TEMPLATE = "crm_h2_companies_template"
COUNTS = (1, 1_000, 10_000)
SMOKE_COUNTS = (1, 100)
ROUNDS = 5
SMOKE_ROUNDS = 1
PROBE_SETTINGS = "bench.migration_probe.settings"
PROBE_APP = "bench_migration_probe"
TARGET_RATIO = 1.2
# With --verbosity 2, migrate says how long each migration took: "Applying app.name... OK (0.034s)".
_APPLIED = re.compile(r"Applying (\S+)\.\.\. OK \(([0-9.]+)s\)")

_FILL_SQL = [
    """
    INSERT INTO companies (id, name, slug, is_active, created_at, updated_at)
    SELECT gen_random_uuid(), 'Bench Company ' || n, 'bench-' || n, true, now(), now()
    FROM generate_series(1, %(count)s) AS n
    """,
    """
    INSERT INTO users (id, password, is_superuser, email, full_name, role, is_active, is_staff,
                       date_joined, company_id, phone)
    SELECT gen_random_uuid(), '!', false, 'owner@' || slug || '.example', 'Owner', 'owner', true, false,
           now(), id, ''
    FROM companies
    """,
    """
    INSERT INTO contacts (id, created_at, updated_at, is_deleted, first_name, last_name, email, phone,
                          title, notes, company_id, owner_id, sms_opted_out)
    SELECT gen_random_uuid(), now(), now(), false, 'Ada', 'Lovelace', 'ada@' || c.slug || '.example', '',
           '', '', c.id, u.id, false
    FROM companies c JOIN users u ON u.company_id = c.id
    """,
    "ANALYZE",
]


def database_name(count: int) -> str:
    """The bench database with `count` companies."""
    return f"crm_h2_companies_{count}"


def prepare(count: int) -> str:
    """A fresh copy of the migrated template with `count` companies (filled as the superuser, past RLS)."""
    name = database_name(count)
    create_database(name, template=TEMPLATE)
    with connect(database_url(name)) as conn:
        for statement in _FILL_SQL:
            conn.execute(statement, {"count": count})
        companies = conn.execute("SELECT COUNT(*) FROM companies").fetchone()[0]
    if companies != count:
        raise RuntimeError(f"{name}: expected {count} companies, found {companies}")
    return name


def migrate_forward(name: str) -> tuple[float, float]:
    """Seconds of `manage.py migrate` applying the probe migration alone, and of the migration itself."""
    run = manage("migrate", "--noinput", "--verbosity", "2", database=name, settings=PROBE_SETTINGS)
    applied = _APPLIED.findall(run.output)
    if len(applied) != 1 or applied[0][0] != f"{PROBE_APP}.0001_contact_column_and_index":
        raise RuntimeError(f"{name}: migrate was to apply the probe migration alone:\n{run.output}")
    return run.seconds, float(applied[0][1])


def migrate_backward(name: str) -> float:
    """Seconds of `manage.py migrate <probe> zero` (unapplying it again)."""
    return manage("migrate", PROBE_APP, "zero", "--noinput", database=name, settings=PROBE_SETTINGS).seconds


def migrate_nothing(name: str) -> float:
    """Seconds of `manage.py migrate` with nothing to apply: the startup part of every run."""
    return manage("migrate", "--noinput", database=name).seconds


def run(smoke: bool) -> list[Figure]:
    """Time the new migration forward and back on each company count, round after round."""
    counts = SMOKE_COUNTS if smoke else COUNTS
    rounds = SMOKE_ROUNDS if smoke else ROUNDS
    migrated_template(TEMPLATE)
    names = {count: prepare(count) for count in counts}
    forward: dict[int, list[float]] = {count: [] for count in counts}
    migration_only: dict[int, list[float]] = {count: [] for count in counts}
    backward: dict[int, list[float]] = {count: [] for count in counts}
    nothing: dict[int, list[float]] = {count: [] for count in counts}
    for round_index in range(rounds):
        # Rotate who goes first, so no company count always runs on a cold or a warm cache.
        order = counts[round_index % len(counts) :] + counts[: round_index % len(counts)]
        for count in order:
            seconds, inside = migrate_forward(names[count])
            forward[count].append(seconds)
            migration_only[count].append(inside)
        for count in order:
            backward[count].append(migrate_backward(names[count]))
        for count in order:
            nothing[count].append(migrate_nothing(names[count]))
    smallest, largest = counts[0], counts[-1]
    median = {count: statistics.median(samples) for count, samples in forward.items()}
    figures = [
        Figure(
            name=f"migrate a new migration, {count:,} compan{'y' if count == 1 else 'ies'}",
            value=median[count],
            unit="s",
            detail={
                "forward_s": forward[count],
                "migration_only_median_s": statistics.median(migration_only[count]),
                "migration_only_s": migration_only[count],
                "backward_median_s": statistics.median(backward[count]),
                "backward_s": backward[count],
                "nothing_to_apply_median_s": statistics.median(nothing[count]),
                "nothing_to_apply_s": nothing[count],
                "rounds": rounds,
            },
        )
        for count in counts
    ]
    ratio = median[largest] / median[smallest]
    figures.append(
        Figure(
            name=f"migrate time, {largest:,} / {smallest:,} companies",
            value=ratio,
            unit="x",
            target=f"<= {TARGET_RATIO}",
            met=ratio <= TARGET_RATIO,
            detail={
                "backward_ratio": statistics.median(backward[largest])
                / statistics.median(backward[smallest]),
                "migration_only_ratio": statistics.median(migration_only[largest])
                / statistics.median(migration_only[smallest]),
            },
        )
    )
    return figures
