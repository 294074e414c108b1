"""Rollout 1/3: phone_numbers, email_templates, email_campaigns, emails, sms_messages and notifications get a nullable company, filled by the next migration."""

from django.db import migrations

from tenancy.operations import AddCompanyField


class Migration(migrations.Migration):

    dependencies = [
        ('messaging', '0001_initial'),
        ('tenancy', '0002_user_phone'),
    ]

    operations = [
        AddCompanyField('phonenumber'),
        AddCompanyField('emailtemplate'),
        AddCompanyField('emailcampaign'),
        AddCompanyField('email'),
        AddCompanyField('smsmessage'),
        AddCompanyField('notification'),
    ]
