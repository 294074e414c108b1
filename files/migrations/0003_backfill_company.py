"""Rollout 2/3: each row takes its owner's company, in short batches; safe to run again.

Rows whose owner has no company stop the migration with their ids; set TENANCY_BACKFILL_COMPANY
(a company id or slug) to assign them to one company, or fix or delete them, then migrate again.
"""

from django.db import migrations

from tenancy.operations import BackfillCompany


class Migration(migrations.Migration):

    # One short transaction per batch, never one long transaction over the whole table.
    atomic = False

    dependencies = [
        ('files', '0002_company_nullable'),
    ]

    operations = [
        BackfillCompany('folder', via='user'),
        BackfillCompany('file', via=['user', 'folder']),
    ]
