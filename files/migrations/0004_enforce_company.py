"""Rollout 3/3: company is required (NOT NULL without a long lock), with indexes that lead with it."""

from django.db import migrations, models

from tenancy.operations import AddIndexConcurrentlyOnPostgres, EnforceCompany


class Migration(migrations.Migration):

    # CREATE INDEX CONCURRENTLY and the CHECK ... NOT VALID / VALIDATE steps run outside a transaction.
    atomic = False

    dependencies = [
        ('files', '0003_backfill_company'),
    ]

    operations = [
        EnforceCompany('folder'),
        EnforceCompany('file'),
        AddIndexConcurrentlyOnPostgres(
            model_name='file',
            index=models.Index(fields=['company', 'folder', 'name'], name='files_company_folder_name'),
        ),
        AddIndexConcurrentlyOnPostgres(
            model_name='file',
            index=models.Index(fields=['company', 'sha256'], name='files_company_sha256'),
        ),
        migrations.AddConstraint(
            model_name='folder',
            constraint=models.UniqueConstraint(condition=models.Q(('is_deleted', False), ('parent__isnull', False)), fields=('company', 'parent', 'name'), name='folder_name_unique_in_parent'),
        ),
        migrations.AddConstraint(
            model_name='folder',
            constraint=models.UniqueConstraint(condition=models.Q(('is_deleted', False), ('parent__isnull', True)), fields=('company', 'name'), name='folder_name_unique_at_top'),
        ),
    ]
