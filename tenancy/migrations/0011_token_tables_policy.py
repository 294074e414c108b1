"""Row-level security on the refresh-token tables: a token's record shows only in its user's company.

`token_blacklist_outstandingtoken` holds every issued refresh token in full, so SQL on the
application's connection read tokens that sign in as any user of any company, platform super
admins included. Now a record is visible and writable only in the scope of its user's company
(a platform user's only across all companies), and a blacklist entry exactly where its token's
record is. Sign-in, refresh and sign-out run in the user's scope (`tenancy.context.acting_as`), and
`tenancy.auth.ScopedRefreshToken` refuses a token whose record it cannot see, so a wrong scope
never lets a used token through. On SQLite this does nothing.
"""

from django.db import migrations

from tenancy.sealed_scope import CURRENT_SCOPE_FUNCTION, EVERY_COMPANY

OUTSTANDING = "token_blacklist_outstandingtoken"
BLACKLISTED = "token_blacklist_blacklistedtoken"
POLICY = "tenant_isolation"
SCOPE_COMPANY = f"(SELECT NULLIF({CURRENT_SCOPE_FUNCTION}(), '{EVERY_COMPANY}')::uuid)"
EVERY = f"(SELECT {CURRENT_SCOPE_FUNCTION}() = '{EVERY_COMPANY}')"
USER_IN_SCOPE = (
    f"CASE WHEN {EVERY} THEN true ELSE user_id IN "
    f"(SELECT id FROM users WHERE company_id = {SCOPE_COMPANY}) END"
)
# The subquery is itself under the outstanding table's policy: visible where its token's record is.
TOKEN_IN_SCOPE = f"EXISTS (SELECT 1 FROM {OUTSTANDING} AS issued WHERE issued.id = token_id)"
# Deleting a user unlinks their records (SET NULL) inside the user's company, where the unlinked
# record then drops out of sight; a record of nobody grants nothing.
USER_IN_SCOPE_OR_NOBODY = f"user_id IS NULL OR {USER_IN_SCOPE}"
POLICIES = {
    OUTSTANDING: (USER_IN_SCOPE, USER_IN_SCOPE_OR_NOBODY),
    BLACKLISTED: (TOKEN_IN_SCOPE, TOKEN_IN_SCOPE),
}


def forwards(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    for table, (visible, writable) in POLICIES.items():
        schema_editor.execute(f"ALTER TABLE {table} ENABLE ROW LEVEL SECURITY")
        schema_editor.execute(f"ALTER TABLE {table} FORCE ROW LEVEL SECURITY")
        schema_editor.execute(f"DROP POLICY IF EXISTS {POLICY} ON {table}")
        schema_editor.execute(
            f"CREATE POLICY {POLICY} ON {table} USING ({visible}) WITH CHECK ({writable})"
        )


def backwards(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    for table in POLICIES:
        schema_editor.execute(f"DROP POLICY IF EXISTS {POLICY} ON {table}")
        schema_editor.execute(f"ALTER TABLE {table} NO FORCE ROW LEVEL SECURITY")
        schema_editor.execute(f"ALTER TABLE {table} DISABLE ROW LEVEL SECURITY")


class Migration(migrations.Migration):
    dependencies = [
        ("tenancy", "0010_users_companies_write_policies"),
        ("token_blacklist", "0013_alter_blacklistedtoken_options_and_more"),
    ]

    operations = [
        migrations.RunPython(forwards, backwards),
    ]
