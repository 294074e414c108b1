"""Deleted numbers stay reserved for their company: the look-up across companies, and its index.

HeldPhoneNumber is a proxy (no table): phone_numbers as the registration check reads them. The index
covers deleted rows only, by number; on PostgreSQL it is built concurrently, so `migrate` takes no
long lock on phone_numbers.
"""

from django.db import migrations, models

from tenancy.operations import AddIndexConcurrentlyOnPostgres


class Migration(migrations.Migration):

    # CREATE INDEX CONCURRENTLY runs outside a transaction.
    atomic = False

    dependencies = [
        ('messaging', '0005_list_indexes'),
    ]

    operations = [
        migrations.CreateModel(
            name='HeldPhoneNumber',
            fields=[],
            options={
                'ordering': [],
                'proxy': True,
                'indexes': [],
                'constraints': [],
            },
            bases=('messaging.phonenumber',),
        ),
        AddIndexConcurrentlyOnPostgres(
            model_name='phonenumber',
            index=models.Index(
                condition=models.Q(('is_deleted', True)), fields=['number'], name='phone_numbers_released_number'
            ),
        ),
    ]
