"""A typical new migration on a tenant table: a nullable column and an index that leads with the company.

The operations run once on the one shared schema, whatever the number of companies; a schema per
company would run them once per company.
"""

from django.db import migrations


class Migration(migrations.Migration):

    # CREATE INDEX CONCURRENTLY, as product migrations build indexes on live tables.
    atomic = False

    dependencies = [
        ("crm", "0003_contact_sms_opted_out_contact_sms_opted_out_at"),
        ("tenancy", "0003_database_isolation"),
    ]

    operations = [
        migrations.RunSQL(
            "ALTER TABLE contacts ADD COLUMN bench_probe varchar(40) NULL",
            reverse_sql="ALTER TABLE contacts DROP COLUMN bench_probe",
        ),
        migrations.RunSQL(
            "CREATE INDEX CONCURRENTLY contacts_company_bench_probe ON contacts (company_id, bench_probe)",
            reverse_sql="DROP INDEX CONCURRENTLY IF EXISTS contacts_company_bench_probe",
        ),
    ]
