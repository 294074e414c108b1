"""The audit log is append-only in PostgreSQL: no role, the application's included, changes or deletes an entry.

An entry may only lose its link to a user or company that was deleted (Django's ON DELETE SET NULL,
which it runs as an UPDATE); anything else raises. On SQLite this does nothing.
"""

from django.db import migrations

FUNCTION = "tenancy_audit_log_append_only"
TRIGGER = "audit_log_append_only"
CREATE = f"""
CREATE OR REPLACE FUNCTION {FUNCTION}() RETURNS trigger
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    IF TG_OP = 'DELETE' THEN
        RAISE EXCEPTION 'audit_log is append-only: an entry cannot be deleted'
            USING ERRCODE = 'insufficient_privilege';
    END IF;
    IF (NEW.id, NEW.created_at, NEW.action, NEW.reason, NEW.method, NEW.path, NEW.ip_address)
           IS NOT DISTINCT FROM (OLD.id, OLD.created_at, OLD.action, OLD.reason, OLD.method, OLD.path, OLD.ip_address)
       AND (NEW.actor_id IS NULL OR NEW.actor_id IS NOT DISTINCT FROM OLD.actor_id)
       AND (NEW.company_id IS NULL OR NEW.company_id IS NOT DISTINCT FROM OLD.company_id)
    THEN
        RETURN NEW;
    END IF;
    RAISE EXCEPTION 'audit_log is append-only: an entry cannot be changed'
        USING ERRCODE = 'insufficient_privilege';
END
$$;
DROP TRIGGER IF EXISTS {TRIGGER} ON audit_log;
CREATE TRIGGER {TRIGGER} BEFORE UPDATE OR DELETE ON audit_log FOR EACH ROW EXECUTE FUNCTION {FUNCTION}();
"""
DROP = f"DROP TRIGGER IF EXISTS {TRIGGER} ON audit_log; DROP FUNCTION IF EXISTS {FUNCTION}();"


def forwards(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(CREATE)


def backwards(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(DROP)


class Migration(migrations.Migration):
    dependencies = [
        ("tenancy", "0006_sealed_tenant_scope"),
    ]

    operations = [
        migrations.RunPython(forwards, backwards),
    ]
