"""manage.py create_company: a new company and its owner."""

from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from tenancy.context import all_companies
from tenancy.services import create_company


class Command(BaseCommand):
    help = "Create a company with its owner account and print their ids."

    def add_arguments(self, parser):
        parser.add_argument("--name", required=True, help="The company's name.")
        parser.add_argument("--admin-email", required=True, help="Email of the company's owner.")
        parser.add_argument("--password", required=True, help="Password of the company's owner.")
        parser.add_argument("--admin-name", default="", help="Full name of the company's owner.")

    def handle(self, *args, **options):
        if not options["name"].strip():
            raise CommandError("--name must not be empty.")
        try:
            validate_password(options["password"])
        except ValidationError as error:
            raise CommandError("Password refused: " + " ".join(error.messages)) from error
        try:
            # Only the all-companies scope may insert a company.
            with all_companies(reason="create_company: a new company and its owner"):
                company, owner = create_company(
                    name=options["name"],
                    admin_email=options["admin_email"],
                    password=options["password"],
                    admin_name=options["admin_name"],
                )
        except ValueError as error:
            raise CommandError(str(error)) from error
        self.stdout.write(f"company_id={company.id}")
        self.stdout.write(f"company_slug={company.slug}")
        self.stdout.write(f"admin_user_id={owner.id}")
        self.stdout.write(f"admin_email={owner.email}")
