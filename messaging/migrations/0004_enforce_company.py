"""Rollout 3/3: company is required (NOT NULL without a long lock), with indexes that lead with it."""

from django.db import migrations, models

from tenancy.operations import AddIndexConcurrentlyOnPostgres, EnforceCompany


class Migration(migrations.Migration):

    # CREATE INDEX CONCURRENTLY and the CHECK ... NOT VALID / VALIDATE steps run outside a transaction.
    atomic = False

    dependencies = [
        ('messaging', '0003_backfill_company'),
    ]

    operations = [
        EnforceCompany('phonenumber'),
        EnforceCompany('emailtemplate'),
        EnforceCompany('emailcampaign'),
        EnforceCompany('email'),
        EnforceCompany('smsmessage'),
        EnforceCompany('notification'),
        AddIndexConcurrentlyOnPostgres(
            model_name='phonenumber',
            index=models.Index(fields=['company', 'number'], name='phone_numbers_company_number'),
        ),
        AddIndexConcurrentlyOnPostgres(
            model_name='email',
            index=models.Index(fields=['company', '-created_at'], name='emails_company_created'),
        ),
        AddIndexConcurrentlyOnPostgres(
            model_name='email',
            index=models.Index(fields=['company', 'campaign', 'status'], name='emails_company_campaign'),
        ),
        AddIndexConcurrentlyOnPostgres(
            model_name='email',
            index=models.Index(fields=['company', 'status', 'created_at'], name='emails_company_status'),
        ),
        AddIndexConcurrentlyOnPostgres(
            model_name='smsmessage',
            index=models.Index(fields=['company', 'contact', '-created_at'], name='sms_company_contact_created'),
        ),
        AddIndexConcurrentlyOnPostgres(
            model_name='smsmessage',
            index=models.Index(fields=['company', 'status', 'created_at'], name='sms_company_status_created'),
        ),
        AddIndexConcurrentlyOnPostgres(
            model_name='notification',
            index=models.Index(fields=['company', 'user', 'read_at'], name='notifications_company_user'),
        ),
        migrations.AddConstraint(
            model_name='emailtemplate',
            constraint=models.UniqueConstraint(condition=models.Q(('is_deleted', False)), fields=('company', 'name'), name='email_template_name_unique'),
        ),
    ]
