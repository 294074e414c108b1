"""Audit entries keep their actor's address as written; the append-only trigger guards it too.

A company's scope cannot read a platform user's row (row-level security on `users`), so a company's
own log could not say which support person visited; a deleted user took their address with them.
"""

import importlib

from django.db import migrations, models

FUNCTION = "tenancy_audit_log_append_only"
# As in 0007, with actor_email among the columns no one may change.
CREATE = f"""
CREATE OR REPLACE FUNCTION {FUNCTION}() RETURNS trigger
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    IF TG_OP = 'DELETE' THEN
        RAISE EXCEPTION 'audit_log is append-only: an entry cannot be deleted'
            USING ERRCODE = 'insufficient_privilege';
    END IF;
    IF (NEW.id, NEW.created_at, NEW.action, NEW.reason, NEW.method, NEW.path, NEW.ip_address,
        NEW.actor_email)
           IS NOT DISTINCT FROM (OLD.id, OLD.created_at, OLD.action, OLD.reason, OLD.method, OLD.path,
                                 OLD.ip_address, OLD.actor_email)
       AND (NEW.actor_id IS NULL OR NEW.actor_id IS NOT DISTINCT FROM OLD.actor_id)
       AND (NEW.company_id IS NULL OR NEW.company_id IS NOT DISTINCT FROM OLD.company_id)
    THEN
        RETURN NEW;
    END IF;
    RAISE EXCEPTION 'audit_log is append-only: an entry cannot be changed'
        USING ERRCODE = 'insufficient_privilege';
END
$$;
"""


def forwards(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(CREATE)


def backwards(apps, schema_editor):
    """0007's function again, before the column it would name is dropped."""
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(importlib.import_module("tenancy.migrations.0007_audit_log_append_only").CREATE)


class Migration(migrations.Migration):

    dependencies = [
        ('tenancy', '0012_users_companies_read_policies'),
    ]

    operations = [
        migrations.AddField(
            model_name='auditlog',
            name='actor_email',
            field=models.EmailField(blank=True, default='', max_length=254),
        ),
        migrations.RunPython(forwards, backwards),
    ]
