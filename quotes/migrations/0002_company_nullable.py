"""Rollout 1/3: quotes get a nullable company, filled by the next migration."""

from django.db import migrations

from tenancy.operations import AddCompanyField


class Migration(migrations.Migration):

    dependencies = [
        ('quotes', '0001_initial'),
        ('tenancy', '0002_user_phone'),
    ]

    operations = [
        AddCompanyField('quote'),
    ]
