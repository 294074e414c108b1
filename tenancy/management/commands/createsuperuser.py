"""`manage.py createsuperuser`, inside the audited all-companies scope a platform user is written in."""

from django.contrib.auth.management.commands.createsuperuser import Command as DjangoCreateSuperUserCommand

from tenancy.context import all_companies
from tenancy.models import CREATE_SUPERUSER


class Command(DjangoCreateSuperUserCommand):
    def handle(self, *args, **options):
        # Its check that the address is free reads users, which no scope but every company's shows.
        with all_companies(reason=CREATE_SUPERUSER):
            return super().handle(*args, **options)
