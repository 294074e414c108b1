"""Rollout 3/3: company is required (NOT NULL without a long lock), with indexes that lead with it."""

from django.db import migrations, models

from tenancy.operations import AddIndexConcurrentlyOnPostgres, EnforceCompany


class Migration(migrations.Migration):

    # CREATE INDEX CONCURRENTLY and the CHECK ... NOT VALID / VALIDATE steps run outside a transaction.
    atomic = False

    dependencies = [
        ('calls', '0003_backfill_company'),
    ]

    operations = [
        EnforceCompany('call'),
        AddIndexConcurrentlyOnPostgres(
            model_name='call',
            index=models.Index(fields=['company', '-created_at'], name='calls_company_created'),
        ),
        AddIndexConcurrentlyOnPostgres(
            model_name='call',
            index=models.Index(fields=['company', 'user', '-created_at'], name='calls_company_user_created'),
        ),
        AddIndexConcurrentlyOnPostgres(
            model_name='call',
            index=models.Index(fields=['company', 'contact'], name='calls_company_contact'),
        ),
    ]
