"""manage.py tenancy_report: is every tenant row owned by a company, and does PostgreSQL enforce it?"""

import json

from django.apps import apps
from django.conf import settings
from django.contrib.admin.models import LogEntry
from django.contrib.auth import get_user_model
from django.contrib.sessions.models import Session
from django.core.management.base import BaseCommand, CommandError
from django.db import connection, transaction
from rest_framework_simplejwt.token_blacklist.models import BlacklistedToken, OutstandingToken

from tenancy.context import all_companies
from tenancy.models import AuditLog, Company, TenantModel

PROTECTIONS = ("not_null", "rls_enabled", "rls_forced", "composite_keys", "company_index")
HEADERS = (
    "table",
    "rows",
    "with company",
    "%",
    "NOT NULL",
    "RLS",
    "forced",
    "composite keys",
    "company index",
)


# Tables without a company column whose rows would let SQL on the application's connection sign in
# as someone, or read or rewrite another company's names and history.
CREDENTIAL_HOLDINGS = (
    (get_user_model, "password hashes"),
    (lambda: Company, "company names"),
    (lambda: OutstandingToken, "refresh tokens"),
    (lambda: BlacklistedToken, "signed-out refresh tokens"),
    (lambda: AuditLog, "who read and changed what"),
    (lambda: LogEntry, "names of changed records"),
    (lambda: Session, "session keys"),
)
DATABASE_SESSION_ENGINES = (
    "django.contrib.sessions.backends.db",
    "django.contrib.sessions.backends.cached_db",
)
APPEND_ONLY_TRIGGER = "audit_log_append_only"


def tenant_models() -> list:
    """Every concrete model that inherits TenantModel, in table-name order."""
    found = [
        model
        for model in apps.get_models()
        if issubclass(model, TenantModel) and not model._meta.proxy and model._meta.managed
    ]
    return sorted(found, key=lambda model: model._meta.db_table)


def tenant_foreign_keys(model) -> list:
    """Foreign keys from a tenant model to another tenant table (the company key aside)."""
    return [
        field
        for field in model._meta.concrete_fields
        if field.many_to_one and field.name != "company" and issubclass(field.related_model, TenantModel)
    ]


def count_rows(cursor, table: str) -> tuple[int, int]:
    """All rows of every company, and those with a company."""
    qn = connection.ops.quote_name
    cursor.execute(f"SELECT COUNT(*), COUNT({qn('company_id')}) FROM {qn(table)}")  # noqa: S608
    total, with_company = cursor.fetchone()
    return total, with_company


def company_not_null(cursor, table: str) -> bool:
    """Whether the database refuses a row without company_id."""
    description = connection.introspection.get_table_description(cursor, table)
    return any(column.name == "company_id" and not column.null_ok for column in description)


def postgres_protections(cursor, model) -> dict:
    """Read RLS flags, composite keys and company-leading indexes from PostgreSQL's catalogs."""
    table = model._meta.db_table
    cursor.execute(
        "SELECT relrowsecurity, relforcerowsecurity FROM pg_class WHERE oid = to_regclass(%s)", [table]
    )
    rls_enabled, rls_forced = cursor.fetchone() or (False, False)
    cursor.execute(
        """
        SELECT c.contype, c.confrelid::regclass::text,
               ARRAY(SELECT a.attname FROM unnest(c.conkey) WITH ORDINALITY k(num, pos)
                     JOIN pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = k.num ORDER BY k.pos),
               ARRAY(SELECT a.attname FROM unnest(c.confkey) WITH ORDINALITY k(num, pos)
                     JOIN pg_attribute a ON a.attrelid = c.confrelid AND a.attnum = k.num ORDER BY k.pos)
        FROM pg_constraint c WHERE c.conrelid = to_regclass(%s)
        """,
        [table],
    )
    constraints = cursor.fetchall()
    cursor.execute(
        """
        SELECT i.indisunique, i.indpred IS NULL,
               ARRAY(SELECT a.attname FROM unnest(i.indkey::int2[]) WITH ORDINALITY k(num, pos)
                     JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.num ORDER BY k.pos)
        FROM pg_index i WHERE i.indrelid = to_regclass(%s) AND i.indisvalid
        """,
        [table],
    )
    indexes = cursor.fetchall()
    company_and_id = {"company_id", model._meta.pk.column}
    unique_company_id = any(
        kind in ("u", "p") and set(columns) == company_and_id for kind, _, columns, _ in constraints
    ) or any(unique and whole and set(columns) == company_and_id for unique, whole, columns in indexes)
    missing_fks = [
        field.name for field in tenant_foreign_keys(model) if not _has_composite_fk(constraints, field)
    ]
    return {
        "rls_enabled": bool(rls_enabled),
        "rls_forced": bool(rls_forced),
        "composite_keys": unique_company_id and not missing_fks,
        "unique_company_id": unique_company_id,
        "foreign_keys_not_composite": missing_fks,
        "company_index": any(columns and columns[0] == "company_id" for _, _, columns in indexes),
    }


def _has_composite_fk(constraints, field) -> bool:
    """Whether (company_id, x_id) REFERENCES target (company_id, id) exists for this foreign key."""
    target = field.related_model
    wanted = {"company_id": "company_id", field.column: target._meta.pk.column}
    return any(
        kind == "f"
        and referenced == target._meta.db_table
        and dict(zip(columns, refs, strict=False)) == wanted
        for kind, referenced, columns, refs in constraints
    )


def credential_protection(cursor, model) -> dict:
    """Row-level security and policies of a credential table; sessions may instead live elsewhere."""
    table = model._meta.db_table
    qn = connection.ops.quote_name
    cursor.execute(f"SELECT COUNT(*) FROM {qn(table)}")  # noqa: S608
    (rows,) = cursor.fetchone()
    cursor.execute(
        "SELECT relrowsecurity, relforcerowsecurity FROM pg_class WHERE oid = to_regclass(%s)", [table]
    )
    rls_enabled, rls_forced = cursor.fetchone() or (False, False)
    cursor.execute(
        "SELECT COUNT(*) FROM pg_policies WHERE schemaname = current_schema() AND tablename = %s", [table]
    )
    (policies,) = cursor.fetchone()
    found = {"rows": rows, "rls_enabled": rls_enabled, "rls_forced": rls_forced, "policies": policies}
    row_security = bool(rls_enabled and rls_forced and policies)
    if model is Session and settings.SESSION_ENGINE not in DATABASE_SESSION_ENGINES:
        # Sessions kept out of the database are safe only if none are left from an earlier engine.
        found["stored_elsewhere"] = settings.SESSION_ENGINE
        found["protected"] = row_security or rows == 0
        return found
    if model is AuditLog:
        cursor.execute(
            "SELECT COUNT(*) FROM pg_trigger "
            "WHERE tgrelid = to_regclass(%s) AND tgname = %s AND tgenabled <> 'D'",
            [table, APPEND_ONLY_TRIGGER],
        )
        found["append_only"] = cursor.fetchone()[0] == 1
        row_security = row_security and found["append_only"]
    found["protected"] = row_security
    return found


def credential_report(cursor, on_postgres: bool) -> list[dict]:
    """One entry per table holding credentials; protections are None where the database has none."""
    rows = []
    for model_of, holds in CREDENTIAL_HOLDINGS:
        model = model_of()
        row = {"table": model._meta.db_table, "holds": holds}
        if on_postgres:
            row.update(credential_protection(cursor, model))
        else:
            row["protected"] = None
        rows.append(row)
    return rows


class Command(BaseCommand):
    help = (
        "Per tenant table: rows, rows with a company, and whether PostgreSQL enforces isolation "
        "(NOT NULL, row-level security enabled and forced, composite keys, company-leading index). "
        "Then every table holding credentials (users, tokens, sessions, audit and admin logs) and whether "
        "row-level security guards it. Exits non-zero unless every table is complete and protected."
    )

    def add_arguments(self, parser):
        parser.add_argument("--json", action="store_true", help="Print the report as JSON.")

    def handle(self, *args, **options):
        rows, credentials = self.build_report()
        ok = all(row["complete"] and row["protected"] is not False for row in rows) and all(
            row["protected"] is not False for row in credentials
        )
        summary = {
            "tables": len(rows),
            "complete": sum(row["complete"] for row in rows),
            "protected": sum(row["protected"] is True for row in rows),
            "credential_tables": len(credentials),
            "credential_tables_protected": sum(row["protected"] is True for row in credentials),
            "protections_checked": connection.vendor == "postgresql",
            "ok": ok,
        }
        if options["json"]:
            report = {"tables": rows, "credential_tables": credentials, "summary": summary}
            self.stdout.write(json.dumps(report, indent=2))
        else:
            self.write_credentials(credentials)
            self.write_table(rows, summary)
        if not ok:
            raise CommandError("Tenant isolation is not complete: see the tables marked above.", returncode=1)

    def build_report(self) -> tuple[list[dict], list[dict]]:
        """One entry per tenant table and per credential table; protections are None without PostgreSQL."""
        rows = []
        on_postgres = connection.vendor == "postgresql"
        # Raw SQL sees every company's rows only inside the audited all-companies context.
        with all_companies(reason="tenancy_report"), transaction.atomic(), connection.cursor() as cursor:
            for model in tenant_models():
                table = model._meta.db_table
                total, with_company = count_rows(cursor, table)
                row = {
                    "table": table,
                    "model": model._meta.label,
                    "rows": total,
                    "with_company": with_company,
                    "percent": round(100.0 * with_company / total, 2) if total else 100.0,
                    "not_null": company_not_null(cursor, table),
                }
                if on_postgres:
                    row.update(postgres_protections(cursor, model))
                else:
                    row.update(dict.fromkeys(PROTECTIONS[1:]))
                row["complete"] = with_company == total
                flags = [row[name] for name in PROTECTIONS]
                row["protected"] = all(flags) if on_postgres else None
                rows.append(row)
            credentials = credential_report(cursor, on_postgres)
        return rows, credentials

    def write_credentials(self, credentials) -> None:
        """One line per credential table: what it holds and what guards it."""
        for row in credentials:
            if row["protected"] is None:
                guard = "n/a on this database"
            elif row.get("stored_elsewhere"):
                guard = f"not stored here ({row['stored_elsewhere']}), {row['rows']} rows left"
            else:
                guard = (
                    f"row-level security {'forced' if row['rls_forced'] else 'NOT forced'}"
                    f"{'' if row['rls_enabled'] else ' (NOT enabled)'}, {row['policies']} policies"
                )
                if "append_only" in row:
                    guard += ", append-only" if row["append_only"] else ", NOT append-only"
            verdict = "n/a" if row["protected"] is None else ("protected" if row["protected"] else "EXPOSED")
            self.stdout.write(f"credentials {row['table']} ({row['holds']}): {guard}: {verdict}")

    def write_table(self, rows, summary) -> None:
        """A fixed-width table an operator reads after `migrate`."""

        def flag(value) -> str:
            return "n/a" if value is None else ("yes" if value else "NO")

        lines = [HEADERS]
        for row in rows:
            lines.append(
                (
                    row["table"],
                    str(row["rows"]),
                    str(row["with_company"]),
                    f"{row['percent']:.1f}%",
                    *(flag(row[name]) for name in PROTECTIONS),
                )
            )
        widths = [max(len(line[i]) for line in lines) for i in range(len(HEADERS))]
        for line in lines:
            self.stdout.write("  ".join(cell.ljust(width) for cell, width in zip(line, widths, strict=True)))
        for row in rows:
            missing = []
            if row.get("unique_company_id") is False:
                missing.append("no UNIQUE (company_id, id)")
            if row.get("foreign_keys_not_composite"):
                missing.append("foreign keys not composite: " + ", ".join(row["foreign_keys_not_composite"]))
            if missing:
                self.stdout.write(f"{row['table']}: {'; '.join(missing)}")
        checked = "" if summary["protections_checked"] else " (database protections n/a on this database)"
        self.stdout.write(
            f"summary: {summary['tables']} tenant tables, {summary['complete']} complete, "
            f"{summary['protected']} protected, {summary['credential_tables']} credential tables, "
            f"{summary['credential_tables_protected']} protected{checked}: "
            f"{'OK' if summary['ok'] else 'INCOMPLETE'}"
        )
