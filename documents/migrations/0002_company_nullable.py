"""Rollout 1/3: documents and document_signatures get a nullable company, filled by the next migration."""

from django.db import migrations

from tenancy.operations import AddCompanyField


class Migration(migrations.Migration):

    dependencies = [
        ('documents', '0001_initial'),
        ('tenancy', '0002_user_phone'),
    ]

    operations = [
        AddCompanyField('document'),
        AddCompanyField('documentsignature'),
    ]
