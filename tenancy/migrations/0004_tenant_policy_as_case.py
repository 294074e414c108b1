"""The tenant policy as a CASE, which the planner prices sensibly (tenancy.rls.POLICY_CONDITION).

Each table's policy is altered in place. Going back keeps the CASE: it lets exactly the same rows
through as the OR it replaced.
"""

from django.db import migrations

from tenancy.rls import EnableTenantRowLevelSecurity


class ReplaceTenantPolicy(EnableTenantRowLevelSecurity):
    """Alter every tenant table's policy to the current condition; nothing to undo going back."""

    def describe(self):
        return "Alter the tenant policy of every tenant table to the current condition"

    def backwards(self, schema_editor, models):
        pass


class Migration(migrations.Migration):
    # One short lock per table rather than all of them held until the end.
    atomic = False

    dependencies = [
        ("tenancy", "0003_database_isolation"),
    ]

    operations = [
        ReplaceTenantPolicy(),
    ]
