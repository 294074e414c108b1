"""Indexes that read a page of the file and folder lists by name, led by company."""

from django.db import migrations, models

from tenancy.operations import AddIndexConcurrentlyOnPostgres


class Migration(migrations.Migration):

    # CREATE INDEX CONCURRENTLY runs outside a transaction.
    atomic = False

    dependencies = [
        ('files', '0004_enforce_company'),
    ]

    operations = [
        AddIndexConcurrentlyOnPostgres(
            model_name='folder',
            index=models.Index(fields=['company', 'name'], name='folders_company_name'),
        ),
        AddIndexConcurrentlyOnPostgres(
            model_name='file',
            index=models.Index(fields=['company', 'name'], name='files_company_name'),
        ),
    ]
