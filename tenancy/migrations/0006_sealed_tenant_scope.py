"""The tenant policy reads a sealed scope (tenancy.sealed_scope) that SQL on the connection cannot forge.

Creates pgcrypto, the owner's private copy of the sealing key and `tenancy_current_scope()`, then
alters every tenant table's policy in place. Going back restores the policy on the plain settings.
"""

from django.db import migrations

from tenancy.rls import POLICY_NAME, EnableTenantRowLevelSecurity

# The policy as migration 0004 left it, on settings any SQL on the connection could set.
SETTINGS_POLICY_CONDITION = (
    "CASE WHEN (SELECT current_setting('app.all_companies', true) = 'on') THEN true "
    "ELSE company_id = (SELECT NULLIF(current_setting('app.company_id', true), '')::uuid) END"
)


class SealTenantPolicy(EnableTenantRowLevelSecurity):
    """Alter every tenant table's policy to the sealed scope; going back, to the plain settings."""

    def describe(self):
        return "Alter the tenant policy of every tenant table to read the sealed scope"

    def backwards(self, schema_editor, models):
        for model in models:
            table = schema_editor.quote_name(model._meta.db_table)
            schema_editor.execute(
                f"ALTER POLICY {POLICY_NAME} ON {table} "
                f"USING ({SETTINGS_POLICY_CONDITION}) WITH CHECK ({SETTINGS_POLICY_CONDITION})"
            )


class Migration(migrations.Migration):
    # One short lock per table rather than all of them held until the end.
    atomic = False

    dependencies = [
        ("tenancy", "0005_audit_identities_differ"),
    ]

    operations = [
        SealTenantPolicy(),
    ]
