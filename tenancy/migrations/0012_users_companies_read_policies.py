"""Row-level security on the reads of `users` and `companies`: a company's scope reads only itself.

Before, SQL on the application's connection read every company's users (their password hashes) and
every company's name, since signing in looks a user up before any company is known. Now a company's
scope shows its own users and its own row, and only the all-companies scope (which only the
application can seal) shows more; the look-ups before a company is known read one user through
tenancy.identity. On SQLite this does nothing.
"""

from django.db import migrations

from tenancy.sealed_scope import CURRENT_SCOPE_FUNCTION, EVERY_COMPANY

SCOPE_COMPANY = f"(SELECT NULLIF({CURRENT_SCOPE_FUNCTION}(), '{EVERY_COMPANY}')::uuid)"
EVERY = f"(SELECT {CURRENT_SCOPE_FUNCTION}() = '{EVERY_COMPANY}')"
READ = {
    "users": f"CASE WHEN {EVERY} THEN true ELSE company_id = {SCOPE_COMPANY} END",
    "companies": f"CASE WHEN {EVERY} THEN true ELSE id = {SCOPE_COMPANY} END",
}


def forwards(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    for table, condition in READ.items():
        schema_editor.execute(f"ALTER POLICY tenant_read ON {table} USING ({condition})")


def backwards(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    for table in READ:
        schema_editor.execute(f"ALTER POLICY tenant_read ON {table} USING (true)")


class Migration(migrations.Migration):
    dependencies = [
        ("tenancy", "0011_token_tables_policy"),
    ]

    operations = [
        migrations.RunPython(forwards, backwards),
    ]
