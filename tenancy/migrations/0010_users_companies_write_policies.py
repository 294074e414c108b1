"""Row-level security on the writes of `users` and `companies`: a company changes only itself.

Before, SQL on the application's connection could make any user a platform super admin, move a
user into another company, or set the password of another company's owner. Now, inside a
company's scope, only that company's users can be inserted, changed or deleted, never into
another company and never as a super admin; a company changes only its own row; creating and
deleting companies and changing platform users need the all-companies scope, which only the
application can seal. Reads stay open (sign-in looks a user up before any company is known).
On SQLite this does nothing.
"""

from django.db import migrations

from tenancy.sealed_scope import CURRENT_SCOPE_FUNCTION, EVERY_COMPANY

SCOPE_COMPANY = f"(SELECT NULLIF({CURRENT_SCOPE_FUNCTION}(), '{EVERY_COMPANY}')::uuid)"
EVERY = f"(SELECT {CURRENT_SCOPE_FUNCTION}() = '{EVERY_COMPANY}')"
OWN_USER = f"CASE WHEN {EVERY} THEN true ELSE company_id = {SCOPE_COMPANY} END"
OWN_COMPANY_USER = (
    f"CASE WHEN {EVERY} THEN true ELSE company_id = {SCOPE_COMPANY} AND NOT is_superuser END"
)
OWN_COMPANY = f"CASE WHEN {EVERY} THEN true ELSE id = {SCOPE_COMPANY} END"

POLICIES = {
    "users": [
        ("read", "FOR SELECT USING (true)"),
        ("insert", f"FOR INSERT WITH CHECK ({OWN_COMPANY_USER})"),
        ("update", f"FOR UPDATE USING ({OWN_USER}) WITH CHECK ({OWN_COMPANY_USER})"),
        ("delete", f"FOR DELETE USING ({OWN_USER})"),
    ],
    "companies": [
        ("read", "FOR SELECT USING (true)"),
        ("insert", f"FOR INSERT WITH CHECK ({EVERY})"),
        ("update", f"FOR UPDATE USING ({OWN_COMPANY}) WITH CHECK ({OWN_COMPANY})"),
        ("delete", f"FOR DELETE USING ({EVERY})"),
    ],
}


def forwards(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    for table, policies in POLICIES.items():
        schema_editor.execute(f"ALTER TABLE {table} ENABLE ROW LEVEL SECURITY")
        schema_editor.execute(f"ALTER TABLE {table} FORCE ROW LEVEL SECURITY")
        for name, body in policies:
            schema_editor.execute(f"DROP POLICY IF EXISTS tenant_{name} ON {table}")
            schema_editor.execute(f"CREATE POLICY tenant_{name} ON {table} {body}")


def backwards(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    for table, policies in POLICIES.items():
        for name, _body in policies:
            schema_editor.execute(f"DROP POLICY IF EXISTS tenant_{name} ON {table}")
        schema_editor.execute(f"ALTER TABLE {table} NO FORCE ROW LEVEL SECURITY")
        schema_editor.execute(f"ALTER TABLE {table} DISABLE ROW LEVEL SECURITY")


class Migration(migrations.Migration):
    dependencies = [
        ("tenancy", "0009_audit_log_policy"),
    ]

    operations = [
        migrations.RunPython(forwards, backwards),
    ]
