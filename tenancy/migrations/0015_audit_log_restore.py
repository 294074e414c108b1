"""Audit entries name a new kind: a deleted record restored (a change of choices only, no SQL)."""

from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('tenancy', '0014_alter_user_phone'),
    ]

    operations = [
        migrations.AlterField(
            model_name='auditlog',
            name='action',
            field=models.CharField(choices=[('all_companies', 'Read across all companies'), ('company_access', 'Super admin acted inside a company'), ('identities_differ', 'Refused: a session and a bearer token of two users'), ('restore', 'A deleted record restored')], max_length=20),
        ),
    ]
