"""Rollout 3/3: company is required (NOT NULL without a long lock), with indexes that lead with it."""

from django.db import migrations, models

from tenancy.operations import AddIndexConcurrentlyOnPostgres, EnforceCompany


class Migration(migrations.Migration):

    # CREATE INDEX CONCURRENTLY and the CHECK ... NOT VALID / VALIDATE steps run outside a transaction.
    atomic = False

    dependencies = [
        ('documents', '0003_backfill_company'),
    ]

    operations = [
        EnforceCompany('document'),
        EnforceCompany('documentsignature'),
        AddIndexConcurrentlyOnPostgres(
            model_name='document',
            index=models.Index(fields=['company', 'status'], name='documents_company_status'),
        ),
        AddIndexConcurrentlyOnPostgres(
            model_name='document',
            index=models.Index(fields=['company', '-created_at'], name='documents_company_created'),
        ),
    ]
