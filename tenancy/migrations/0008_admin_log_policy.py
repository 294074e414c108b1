"""Row-level security on Django's admin log: an entry shows only in the company of the staff member who made it.

The log names the records changed (`object_repr`), so without a policy any SQL on the application's
connection read every company's record names. An entry of a platform super admin shows only across
all companies. On SQLite this does nothing.
"""

from django.db import migrations

from tenancy.sealed_scope import CURRENT_SCOPE_FUNCTION, EVERY_COMPANY

TABLE = "django_admin_log"
POLICY = "tenant_isolation"
SCOPE_COMPANY = f"(SELECT NULLIF({CURRENT_SCOPE_FUNCTION}(), '{EVERY_COMPANY}')::uuid)"
EVERY = f"(SELECT {CURRENT_SCOPE_FUNCTION}() = '{EVERY_COMPANY}')"
# Read: entries of the company's own staff. Write: also a super admin acting inside the company.
VISIBLE = f"CASE WHEN {EVERY} THEN true ELSE user_id IN (SELECT id FROM users WHERE company_id = {SCOPE_COMPANY}) END"
WRITABLE = (
    f"CASE WHEN {EVERY} THEN true ELSE user_id IN "
    f"(SELECT id FROM users WHERE company_id = {SCOPE_COMPANY} OR company_id IS NULL) END"
)


def forwards(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    schema_editor.execute(f"ALTER TABLE {TABLE} ENABLE ROW LEVEL SECURITY")
    schema_editor.execute(f"ALTER TABLE {TABLE} FORCE ROW LEVEL SECURITY")
    schema_editor.execute(f"DROP POLICY IF EXISTS {POLICY} ON {TABLE}")
    schema_editor.execute(f"CREATE POLICY {POLICY} ON {TABLE} USING ({VISIBLE}) WITH CHECK ({WRITABLE})")


def backwards(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    schema_editor.execute(f"DROP POLICY IF EXISTS {POLICY} ON {TABLE}")
    schema_editor.execute(f"ALTER TABLE {TABLE} NO FORCE ROW LEVEL SECURITY")
    schema_editor.execute(f"ALTER TABLE {TABLE} DISABLE ROW LEVEL SECURITY")


class Migration(migrations.Migration):
    dependencies = [
        ("tenancy", "0007_audit_log_append_only"),
        ("admin", "0003_logentry_add_action_flag_choices"),
    ]

    operations = [
        migrations.RunPython(forwards, backwards),
    ]
