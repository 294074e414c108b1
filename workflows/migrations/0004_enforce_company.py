"""Rollout 3/3: company is required (NOT NULL without a long lock), with indexes that lead with it."""

from django.db import migrations, models

from tenancy.operations import AddIndexConcurrentlyOnPostgres, EnforceCompany


class Migration(migrations.Migration):

    # CREATE INDEX CONCURRENTLY and the CHECK ... NOT VALID / VALIDATE steps run outside a transaction.
    atomic = False

    dependencies = [
        ('workflows', '0003_backfill_company'),
    ]

    operations = [
        EnforceCompany('workflow'),
        EnforceCompany('workflowexecution'),
        AddIndexConcurrentlyOnPostgres(
            model_name='workflow',
            index=models.Index(fields=['company', 'trigger', 'record_type'], name='workflows_company_trigger'),
        ),
        AddIndexConcurrentlyOnPostgres(
            model_name='workflowexecution',
            index=models.Index(fields=['company', 'workflow', '-created_at'], name='wf_exec_company_workflow'),
        ),
        AddIndexConcurrentlyOnPostgres(
            model_name='workflowexecution',
            index=models.Index(fields=['company', 'status'], name='wf_exec_company_status'),
        ),
    ]
