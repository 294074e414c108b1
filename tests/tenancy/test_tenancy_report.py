"""manage.py tenancy_report: every tenant table, all companies' rows, and an exit code that agrees."""

import json
from io import StringIO

import pytest
from django.apps import apps
from django.core.management import CommandError, call_command

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
