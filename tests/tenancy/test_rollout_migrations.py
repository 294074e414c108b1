"""The rollout chain: pre-tenancy rows of two companies' users get their owner's company on migrate."""

import importlib
import logging
import os
from contextlib import contextmanager

import dj_database_url
import pytest
from django.db import connection, connections
from django.db.migrations.loader import MigrationLoader
from django.test.utils import CaptureQueriesContext

from tenancy.operations import BackfillCompany, EnforceCompany, RolloutError

ROLLOUT_APPS = ("messaging", "calls", "files", "documents", "quotes", "workflows")


@contextmanager
def as_table_owner():
    """Connect as the role that owns the tables: the suite's application role may not create them."""
    url = os.environ.get("DATABASE_URL", "")
    owner = dj_database_url.parse(url).get("USER") if url else None
    current = connection.settings_dict["USER"]
    if connection.vendor != "postgresql" or not owner or owner == current:
        yield
        return
    connections.close_all()
    connection.settings_dict["USER"] = owner
    try:
        yield
    finally:
        connections.close_all()
        connection.settings_dict["USER"] = current


@pytest.fixture
def migrator(transactional_db):
    """django-test-migrations' Migrator, run as the owner, leaving the database fully migrated."""
    from django_test_migrations.migrator import Migrator

    with as_table_owner():
        migrator = Migrator()
        yield migrator
        migrator.reset()


def migrate_to(migrator, name: str, apps=ROLLOUT_APPS):
    """Every app in `apps` at migration `name` on a fresh database; return the state there."""
    # The tenant-born core first; then exactly the migrations the targets need, nothing ahead of them.
    migrator.apply_initial_migration([("crm", "0003_contact_sms_opted_out_contact_sms_opted_out_at")])
    targets = [(app, name) for app in apps]
    migrator.apply_tested_migration(targets)
    # The executor's own state after a plan is not reliable across apps; the loader's is.
    return MigrationLoader(connection).project_state(targets)


def two_companies(state):
    """Two companies with one user each, and a platform super admin (no company)."""
    company = state.apps.get_model("tenancy", "Company")
    user = state.apps.get_model("tenancy", "User")
    company_a = company.objects.create(name="A", slug="a")
    company_b = company.objects.create(name="B", slug="b")
    return (
        company_a,
        company_b,
        user.objects.create(email="a@a.example", company=company_a),
        user.objects.create(email="b@b.example", company=company_b),
        user.objects.create(email="root@platform.example", company=None, is_superuser=True),
    )


def backfill_operations(app: str) -> list[BackfillCompany]:
    """The BackfillCompany operations of an app's rollout chain."""
    module = importlib.import_module(f"{app}.migrations.0003_backfill_company")
    return [op for op in module.Migration.operations if isinstance(op, BackfillCompany)]


def test_rows_of_two_companies_get_their_owners_company_and_a_rerun_changes_nothing(migrator, caplog):
    """Each pre-tenancy row takes its user's (or its parent's) company; backfilling again changes nothing."""
    caplog.set_level(logging.INFO, logger="tenancy.operations")
    old = migrate_to(migrator, "0001_initial")
    model = old.apps.get_model
    company_a, company_b, user_a, user_b, _ = two_companies(old)
    assert "company" not in {field.name for field in model("calls", "Call")._meta.get_fields()}

    number_a = model("messaging", "PhoneNumber").objects.create(number="+15550000001", user=user_a)
    template_b = model("messaging", "EmailTemplate").objects.create(
        user=user_b, name="Hello", subject="Hi", body_text="Hi"
    )
    campaign_b = model("messaging", "EmailCampaign").objects.create(name="Spring", template=template_b)
    expected = {
        number_a: company_a,
        template_b: company_b,
        campaign_b: company_b,  # no user: from its template
        model("messaging", "Email").objects.create(
            campaign=campaign_b, to_email="x@example.com", subject="Hi", body_text="Hi"
        ): company_b,  # no user: from its campaign
        model("messaging", "SmsMessage").objects.create(
            user=user_b, direction="outbound", from_number="+15550000002", to_number="+15550000003", body="Hi"
        ): company_b,
        model("messaging", "Notification").objects.create(user=user_a, kind="info", title="Hi"): company_a,
        model("calls", "Call").objects.create(
            phone_number=number_a, direction="inbound", from_number="+15550000009", to_number="+15550000001"
        ): company_a,  # no user: from the number called
        model("calls", "Call").objects.create(
            user=user_b, direction="outbound", from_number="+15550000002", to_number="+15550000009"
        ): company_b,
    }
    folder_b = model("files", "Folder").objects.create(user=user_b, name="Contracts")
    file_b = model("files", "File").objects.create(
        folder=folder_b,
        name="c.pdf",
        content_type="application/pdf",
        size=1,
        sha256="0" * 64,
        storage_key="k1",
    )
    document_b = model("documents", "Document").objects.create(user=user_b, name="Contract", file=file_b)
    workflow_a = model("workflows", "Workflow").objects.create(
        user=user_a, name="Welcome", trigger="manual", actions=[]
    )
    expected |= {
        folder_b: company_b,
        file_b: company_b,  # no user: from its folder
        document_b: company_b,
        model("documents", "DocumentSignature").objects.create(
            document=document_b, order=1, signer_name="S", signer_email="s@example.com"
        ): company_b,
        model("quotes", "Quote").objects.create(user=user_a, number=1): company_a,
        workflow_a: company_a,
        model("workflows", "WorkflowExecution").objects.create(
            workflow=workflow_a, trigger="manual"
        ): company_a,
    }

    new = migrator.apply_tested_migration([(app, "0004_enforce_company") for app in ROLLOUT_APPS])

    for row, company in expected.items():
        migrated = new.apps.get_model(row._meta.label).objects.get(pk=row.pk)
        assert migrated.company_id == company.pk, f"{row._meta.db_table} {row.pk}"
    assert "calls: backfilled company_id, 2 / 2 rows" in caplog.text
    companies_before = {
        (row._meta.label, row.pk): new.apps.get_model(row._meta.label).objects.get(pk=row.pk).company_id
        for row in expected
    }
    for app in ROLLOUT_APPS:
        for operation in backfill_operations(app):
            assert operation.backfill(new.apps.get_model(app, operation.model_name), connection) == 0
    companies_after = {
        (label, pk): new.apps.get_model(label).objects.get(pk=pk).company_id for label, pk in companies_before
    }
    assert companies_after == companies_before


def test_ownerless_rows_stop_the_migration_until_a_company_is_named(migrator, settings):
    """Ownerless rows are listed with the fix; a TENANCY_BACKFILL_COMPANY naming a company gets them."""
    settings.TENANCY_BACKFILL_COMPANY = ""
    old = migrate_to(migrator, "0001_initial", apps=("messaging", "calls"))
    call = old.apps.get_model("calls", "Call")
    _, company_b, user_a, _, platform_admin = two_companies(old)
    owned = call.objects.create(user=user_a, direction="outbound", from_number="+1555", to_number="+1556")
    orphans = call.objects.bulk_create(
        [call(direction="inbound", from_number="+1557", to_number="+1558") for _ in range(11)]
        + [call(user=platform_admin, direction="outbound", from_number="+1559", to_number="+1550")]
    )
    orphan_ids = sorted(orphan.pk for orphan in orphans)

    with pytest.raises(RolloutError) as stopped:
        migrator.apply_tested_migration([("calls", "0003_backfill_company")])

    message = str(stopped.value)
    assert message.startswith("calls: 12 rows have no owner with a company")
    assert all(str(pk) in message for pk in orphan_ids[:10])
    assert str(orphan_ids[10]) not in message
    assert "and 2 more" in message
    assert "TENANCY_BACKFILL_COMPANY" in message
    progress = migrator.apply_tested_migration([("calls", "0002_company_nullable")])
    assert progress.apps.get_model("calls", "Call").objects.get(pk=owned.pk).company_id == user_a.company_id

    settings.TENANCY_BACKFILL_COMPANY = "no-such-company"
    with pytest.raises(RolloutError, match="TENANCY_BACKFILL_COMPANY='no-such-company' names no company"):
        migrator.apply_tested_migration([("calls", "0003_backfill_company")])

    settings.TENANCY_BACKFILL_COMPANY = company_b.slug
    new = migrator.apply_tested_migration([("calls", "0004_enforce_company")])

    migrated = new.apps.get_model("calls", "Call").objects
    assert set(migrated.filter(pk__in=orphan_ids).values_list("company_id", flat=True)) == {company_b.pk}
    assert migrated.get(pk=owned.pk).company_id == user_a.company_id


@pytest.mark.postgres
def test_enforce_company_validates_a_not_valid_check_before_set_not_null(migrator):
    """On PostgreSQL: CHECK NOT VALID, VALIDATE, SET NOT NULL, drop the CHECK; a NULL row is refused."""
    state = migrate_to(migrator, "0002_company_nullable", apps=("calls",))
    company_a, *_ = two_companies(state)
    row = state.apps.get_model("calls", "Call").objects.create(
        direction="inbound", from_number="+1", to_number="+2"
    )
    operation = EnforceCompany("call")
    enforced = state.clone()
    operation.state_forwards("calls", enforced)

    def enforce():
        with connection.schema_editor(atomic=False) as editor:
            operation.database_forwards("calls", editor, state, enforced)

    with pytest.raises(RolloutError, match="calls: rows without company_id remain"):
        enforce()
    assert not company_id_not_null() and not leftover_checks()

    state.apps.get_model("calls", "Call").objects.filter(pk=row.pk).update(company=company_a)
    with CaptureQueriesContext(connection) as queries:
        enforce()

    statements = [query["sql"] for query in queries.captured_queries]
    steps = [
        "NOT VALID",
        "VALIDATE CONSTRAINT",
        "SET NOT NULL",
        'DROP CONSTRAINT "calls_company_id_not_null"',
    ]
    positions = [next(i for i, sql in enumerate(statements) if step in sql) for step in steps]
    assert positions == sorted(positions)
    assert company_id_not_null() and not leftover_checks()

    with CaptureQueriesContext(connection) as queries:
        migrator.apply_tested_migration([("calls", "0004_enforce_company")])
    assert any("CREATE INDEX CONCURRENTLY" in query["sql"] for query in queries.captured_queries)
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT i.indisvalid FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid "
            "WHERE c.relname = %s",
            ["calls_company_created"],
        )
        assert cursor.fetchone() == (True,)


def company_id_not_null() -> bool:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT attnotnull FROM pg_attribute "
            "WHERE attrelid = 'calls'::regclass AND attname = 'company_id'"
        )
        return cursor.fetchone()[0]


def leftover_checks() -> list:
    with connection.cursor() as cursor:
        cursor.execute("SELECT conname FROM pg_constraint WHERE conname = 'calls_company_id_not_null'")
        return cursor.fetchall()
