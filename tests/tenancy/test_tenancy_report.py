"""manage.py tenancy_report: every tenant table, all companies' rows, and an exit code that agrees."""

import json
from io import StringIO

import pytest
from django.apps import apps
from django.contrib.sessions.models import Session
from django.core.management import CommandError, call_command
from django.db import connection
from django.utils import timezone

from tenancy.management.commands import tenancy_report
from tenancy.models import TenantModel

from ..factories import ContactFactory


def run_report(*args) -> tuple[str, bool]:
    """The report's output, and whether it exited 0."""
    out = StringIO()
    try:
        call_command("tenancy_report", *args, stdout=out)
    except CommandError as error:
        assert error.returncode == 1
        return out.getvalue(), False
    return out.getvalue(), True


def tenant_tables() -> set[str]:
    return {
        model._meta.db_table
        for model in apps.get_models()
        if issubclass(model, TenantModel) and not model._meta.proxy
    }


@pytest.fixture
def contacts_of_two_companies(company_a, company_b):
    ContactFactory.create_batch(2, company=company_a)
    ContactFactory(company=company_b)


def test_json_lists_every_tenant_table_complete_and_exits_0_iff_all_protected(contacts_of_two_companies):
    """Rows of both companies are counted; the exit code agrees with the protections found."""
    output, exited_ok = run_report("--json")

    report = json.loads(output)
    rows = {row["table"]: row for row in report["tables"]}
    assert set(rows) == tenant_tables()
    assert rows["contacts"]["rows"] == 3 and rows["contacts"]["with_company"] == 3
    assert all(row["percent"] == 100.0 and row["complete"] and row["not_null"] for row in rows.values())
    all_protected = all(row["protected"] is not False for row in rows.values())
    assert exited_ok == all_protected == report["summary"]["ok"]


def test_text_prints_a_line_per_table_and_a_summary(contacts_of_two_companies):
    """An operator sees each tenant table at 100% and a summary line."""
    output, exited_ok = run_report()

    lines = output.splitlines()
    for table in tenant_tables():
        assert any(line.split()[0] == table and "100.0%" in line for line in lines), table
    assert lines[-1].startswith(
        f"summary: {len(tenant_tables())} tenant tables, {len(tenant_tables())} complete"
    )
    assert lines[-1].endswith("OK" if exited_ok else "INCOMPLETE")


def test_rows_without_a_company_fail_the_report(contacts_of_two_companies, monkeypatch):
    """A table with rows missing their company is reported incomplete, and the exit code is non-zero."""
    real_count = tenancy_report.count_rows

    def contacts_missing_one(cursor, table):
        total, with_company = real_count(cursor, table)
        return (total, with_company - 1) if table == "contacts" else (total, with_company)

    monkeypatch.setattr(tenancy_report, "count_rows", contacts_missing_one)
    output, exited_ok = run_report("--json")

    contacts = next(row for row in json.loads(output)["tables"] if row["table"] == "contacts")
    assert not exited_ok
    assert (contacts["rows"], contacts["with_company"], contacts["complete"]) == (3, 2, False)
    assert contacts["percent"] == pytest.approx(66.67)


CREDENTIAL_TABLES = {
    "users",
    "companies",
    "token_blacklist_outstandingtoken",
    "token_blacklist_blacklistedtoken",
    "audit_log",
    "django_admin_log",
    "django_session",
}


@pytest.mark.postgres
def test_every_credential_table_is_listed_and_guarded_by_row_level_security(contacts_of_two_companies):
    """Users, tokens, logs and sessions are reported with what guards each; all are guarded after migrate."""
    output, exited_ok = run_report("--json")

    credentials = {row["table"]: row for row in json.loads(output)["credential_tables"]}
    assert set(credentials) == CREDENTIAL_TABLES
    assert exited_ok
    for table, row in credentials.items():
        assert row["protected"] is True, table
        if table != "django_session":
            assert row["rls_enabled"] and row["rls_forced"] and row["policies"] >= 1, table
    assert credentials["audit_log"]["append_only"] is True
    assert credentials["django_session"]["stored_elsewhere"]


@pytest.mark.postgres
def test_sessions_left_in_the_database_by_an_earlier_engine_fail_the_report(contacts_of_two_companies):
    """Session keys readable by SQL sign in as their users: a leftover row is reported exposed."""
    Session.objects.create(session_key="k" * 32, session_data="x", expire_date=timezone.now())

    output, exited_ok = run_report()

    assert not exited_ok
    assert any(
        line.startswith("credentials django_session") and line.endswith("EXPOSED")
        for line in output.splitlines()
    )


@pytest.mark.postgres
def test_a_credential_table_without_forced_row_security_fails_the_report(database_owner, company_a):
    """The table's owner would read every password hash unless row-level security is forced."""
    with connection.cursor() as cursor:
        cursor.execute("ALTER TABLE users NO FORCE ROW LEVEL SECURITY")
    try:
        output, exited_ok = run_report("--json")
    finally:
        with connection.cursor() as cursor:
            cursor.execute("ALTER TABLE users FORCE ROW LEVEL SECURITY")

    users = next(row for row in json.loads(output)["credential_tables"] if row["table"] == "users")
    assert not exited_ok
    assert users["rls_forced"] is False and users["protected"] is False
