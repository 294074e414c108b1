"""Lists read a page in order through indexes led by company: SMS, notifications, campaign recipients.

The recipients' uniqueness (campaign, to_email) becomes (company, campaign, to_email): the same rule,
since a campaign belongs to one company, now in an index that leads with company_id and serves the
recipient list's order. On PostgreSQL the new unique index is built concurrently before the old
one is dropped, so every moment has one of them.
"""

from django.db import migrations, models

from tenancy.operations import AddIndexConcurrentlyOnPostgres

OLD_UNIQUENESS = models.UniqueConstraint(
    condition=models.Q(('campaign__isnull', False)),
    fields=('campaign', 'to_email'),
    name='email_campaign_recipient_once',
)
NEW_UNIQUENESS = models.UniqueConstraint(
    condition=models.Q(('campaign__isnull', False)),
    fields=('company', 'campaign', 'to_email'),
    name='email_campaign_recipient_once',
)
BUILDING = 'email_campaign_recipient_once_building'


class ReplaceRecipientUniqueness(migrations.operations.base.Operation):
    """Swap the recipients' partial unique index for one with other columns, concurrently on PostgreSQL."""

    reversible = True
    reduces_to_sql = False

    def state_forwards(self, app_label, state):
        state.remove_constraint(app_label, 'email', OLD_UNIQUENESS.name)
        state.add_constraint(app_label, 'email', NEW_UNIQUENESS)

    def database_forwards(self, app_label, schema_editor, from_state, to_state):
        self._swap(schema_editor, from_state.apps.get_model(app_label, 'email'), OLD_UNIQUENESS, NEW_UNIQUENESS)

    def database_backwards(self, app_label, schema_editor, from_state, to_state):
        self._swap(schema_editor, from_state.apps.get_model(app_label, 'email'), NEW_UNIQUENESS, OLD_UNIQUENESS)

    def _swap(self, schema_editor, model, old, new):
        if schema_editor.connection.vendor != 'postgresql':
            schema_editor.remove_constraint(model, old)
            schema_editor.add_constraint(model, new)
            return
        columns = ', '.join(schema_editor.quote_name(model._meta.get_field(name).column) for name in new.fields)
        # What an interrupted run left behind is built again.
        schema_editor.execute(f'DROP INDEX CONCURRENTLY IF EXISTS {BUILDING}')
        schema_editor.execute(
            f'CREATE UNIQUE INDEX CONCURRENTLY {BUILDING} ON {schema_editor.quote_name(model._meta.db_table)} '
            f'({columns}) WHERE campaign_id IS NOT NULL'
        )
        schema_editor.execute(f'DROP INDEX CONCURRENTLY IF EXISTS {old.name}')
        schema_editor.execute(f'ALTER INDEX {BUILDING} RENAME TO {new.name}')

    def describe(self):
        return 'Lead the uniqueness of a campaign recipient with company (concurrently on PostgreSQL)'


class Migration(migrations.Migration):

    # CREATE INDEX CONCURRENTLY runs outside a transaction.
    atomic = False

    dependencies = [
        ('messaging', '0004_enforce_company'),
    ]

    operations = [
        AddIndexConcurrentlyOnPostgres(
            model_name='smsmessage',
            index=models.Index(fields=['company', '-created_at'], name='sms_company_created'),
        ),
        AddIndexConcurrentlyOnPostgres(
            model_name='notification',
            index=models.Index(fields=['company', 'user', '-created_at'], name='notifications_user_created'),
        ),
        ReplaceRecipientUniqueness(),
    ]
