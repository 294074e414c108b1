"""Database-enforced isolation on PostgreSQL: composite tenant keys and row-level security.

Runs after every domain app's migrations, so it sees all tenant tables. Not atomic: the unique
indexes are built concurrently. On SQLite it does nothing.
"""

from django.db import migrations

from tenancy.rls import AddCompositeTenantKeys, EnableTenantRowLevelSecurity


class Migration(migrations.Migration):
    atomic = False

    dependencies = [
        ("tenancy", "0002_user_phone"),
        ("crm", "0003_contact_sms_opted_out_contact_sms_opted_out_at"),
        ("calls", "0004_enforce_company"),
        ("documents", "0004_enforce_company"),
        ("files", "0004_enforce_company"),
        ("messaging", "0004_enforce_company"),
        ("quotes", "0004_enforce_company"),
        ("workflows", "0004_enforce_company"),
    ]

    operations = [
        AddCompositeTenantKeys(),
        EnableTenantRowLevelSecurity(),
    ]
