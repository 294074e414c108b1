"""Row-level security on the audit log: a company reads the entries about itself, the platform reads all.

Before, SQL on the application's connection read every company's entries. Now an entry shows
inside the company it names, and entries that name no company (platform-wide reads, refused
requests) only across all companies. A new entry may name the company in scope or none: the
entries written before a company is known (a refused request, the start of an all-companies
read) name none. The append-only trigger (0007) still refuses every change. On SQLite this does
nothing.
"""

from django.db import migrations

from tenancy.sealed_scope import CURRENT_SCOPE_FUNCTION, EVERY_COMPANY

TABLE = "audit_log"
POLICY = "tenant_isolation"
SCOPE_COMPANY = f"(SELECT NULLIF({CURRENT_SCOPE_FUNCTION}(), '{EVERY_COMPANY}')::uuid)"
EVERY = f"(SELECT {CURRENT_SCOPE_FUNCTION}() = '{EVERY_COMPANY}')"
VISIBLE = f"CASE WHEN {EVERY} THEN true ELSE company_id = {SCOPE_COMPANY} END"
WRITABLE = f"CASE WHEN {EVERY} THEN true ELSE company_id IS NULL OR company_id = {SCOPE_COMPANY} END"


def forwards(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    schema_editor.execute(f"ALTER TABLE {TABLE} ENABLE ROW LEVEL SECURITY")
    schema_editor.execute(f"ALTER TABLE {TABLE} FORCE ROW LEVEL SECURITY")
    schema_editor.execute(f"DROP POLICY IF EXISTS {POLICY}_read ON {TABLE}")
    schema_editor.execute(f"DROP POLICY IF EXISTS {POLICY}_write ON {TABLE}")
    schema_editor.execute(f"DROP POLICY IF EXISTS {POLICY}_unlink ON {TABLE}")
    schema_editor.execute(f"CREATE POLICY {POLICY}_read ON {TABLE} FOR SELECT USING ({VISIBLE})")
    schema_editor.execute(f"CREATE POLICY {POLICY}_write ON {TABLE} FOR INSERT WITH CHECK ({WRITABLE})")
    # Deleting a user or company sets its links to NULL (an UPDATE, which the trigger allows). The
    # entry must stay visible where it was, so a company cannot unlink its entries from itself.
    schema_editor.execute(
        f"CREATE POLICY {POLICY}_unlink ON {TABLE} FOR UPDATE USING ({VISIBLE}) WITH CHECK ({VISIBLE})"
    )
    schema_editor.execute(
        f"CREATE INDEX IF NOT EXISTS audit_log_company_created ON {TABLE} (company_id, created_at DESC, id DESC)"
    )


def backwards(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    for suffix in ("read", "write", "unlink"):
        schema_editor.execute(f"DROP POLICY IF EXISTS {POLICY}_{suffix} ON {TABLE}")
    schema_editor.execute(f"ALTER TABLE {TABLE} NO FORCE ROW LEVEL SECURITY")
    schema_editor.execute(f"ALTER TABLE {TABLE} DISABLE ROW LEVEL SECURITY")
    schema_editor.execute("DROP INDEX IF EXISTS audit_log_company_created")


class Migration(migrations.Migration):
    dependencies = [
        ("tenancy", "0008_admin_log_policy"),
    ]

    operations = [
        migrations.RunPython(forwards, backwards),
    ]
