"""Rollout 3/3: company is required (NOT NULL without a long lock), with indexes that lead with it."""

from django.db import migrations, models

from tenancy.operations import AddIndexConcurrentlyOnPostgres, EnforceCompany


class Migration(migrations.Migration):

    # CREATE INDEX CONCURRENTLY and the CHECK ... NOT VALID / VALIDATE steps run outside a transaction.
    atomic = False

    dependencies = [
        ('quotes', '0003_backfill_company'),
    ]

    operations = [
        EnforceCompany('quote'),
        AddIndexConcurrentlyOnPostgres(
            model_name='quote',
            index=models.Index(fields=['company', 'status'], name='quotes_company_status'),
        ),
        migrations.AddConstraint(
            model_name='quote',
            constraint=models.UniqueConstraint(fields=('company', 'number'), name='quote_number_unique_in_company'),
        ),
    ]
