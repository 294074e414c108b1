"""The company's users in e-mail order (/api/users), read through an index led by company_id."""

from django.db import migrations, models

from tenancy.operations import AddIndexConcurrentlyOnPostgres


class Migration(migrations.Migration):
    atomic = False

    dependencies = [("tenancy", "0015_audit_log_restore")]

    operations = [
        AddIndexConcurrentlyOnPostgres(
            model_name="user",
            index=models.Index(fields=["company", "email"], name="users_company_email"),
        ),
    ]
