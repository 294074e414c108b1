"""manage.py seed_demo: deterministic demo companies, users and records, idempotent on re-runs."""

import random
import time

from django.contrib.auth.hashers import make_password
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from calls.demo import seed_calls
from crm.demo import demo_company_identity, seed_sales
from documents.demo import seed_documents
from files.demo import seed_files
from messaging.demo import seed_messaging
from quotes.demo import seed_quotes
from tenancy.context import all_companies, company_context
from tenancy.models import Company, User
from workflows.demo import seed_workflows

DEMO_PASSWORD = "demo-pass-2026"
SUPER_ADMIN_EMAIL = "support@platform.example"
# Every app's seeder, in the order of the layers: seeder(company, users, rng, per_company).
SEEDERS = [seed_sales, seed_messaging, seed_calls, seed_files, seed_documents, seed_quotes, seed_workflows]


class Command(BaseCommand):
    help = "Fill the database with demo companies, users and records (safe to run again)."

    def add_arguments(self, parser):
        parser.add_argument("--companies", type=int, default=2, help="How many companies (default 2).")
        parser.add_argument(
            "--per-company", type=int, default=50, help="Contacts and deals per company (default 50)."
        )
        parser.add_argument(
            "--large-company-records",
            type=int,
            default=None,
            help="Contacts and deals of the first company instead of --per-company (one large tenant).",
        )
        parser.add_argument("--seed", type=int, default=2026, help="Random seed (default 2026).")

    def handle(self, *args, companies, per_company, large_company_records, seed, **options):
        if companies < 1 or per_company < 0:
            raise CommandError("--companies must be at least 1 and --per-company at least 0.")
        if large_company_records is not None and large_company_records < 0:
            raise CommandError("--large-company-records must be at least 0.")
        # Only the all-companies scope may insert companies and platform users.
        with all_companies(reason="seed_demo: demo companies and their users"):
            self._seed(companies, per_company, large_company_records, seed)

    def _seed(self, companies, per_company, large_company_records, seed) -> None:
        started = time.monotonic()
        password_hash = make_password(DEMO_PASSWORD)
        self._ensure_super_admin(password_hash)
        existing = set(Company.objects.values_list("slug", flat=True))
        created = 0
        for index in range(companies):
            name, slug = demo_company_identity(index)
            if slug in existing:
                continue
            # One generator per company keeps each company's data the same whatever --companies says.
            rng = random.Random(f"{seed}:{slug}")
            large = index == 0 and large_company_records is not None
            records = large_company_records if large else per_company
            with transaction.atomic():
                company = Company.objects.create(name=name, slug=slug)
                users = self._create_users(company, password_hash)
                with company_context(company):
                    for seeder in SEEDERS:
                        seeder(company, users, rng, records)
            created += 1
            if created % 100 == 0:
                self.stdout.write(f"  {created} companies seeded ({time.monotonic() - started:.0f}s)")
        self.stdout.write(
            self.style.SUCCESS(
                f"Seeded {created} new companies ({companies - created} already present) "
                f"in {time.monotonic() - started:.1f}s."
            )
        )
        self._print_logins(min(companies, 2))

    def _ensure_super_admin(self, password_hash: str) -> None:
        if not User.objects.filter(email=SUPER_ADMIN_EMAIL).exists():
            User.objects.create(
                email=SUPER_ADMIN_EMAIL,
                password=password_hash,
                full_name="Platform Support",
                is_staff=True,
                is_superuser=True,
                role=User.Role.OWNER,
            )

    def _create_users(self, company: Company, password_hash: str) -> list[User]:
        people = [("owner", User.Role.OWNER, True), ("admin", User.Role.ADMIN, True)]
        people += [("sales1", User.Role.MEMBER, True), ("sales2", User.Role.MEMBER, False)]
        return User.objects.bulk_create(
            User(
                email=f"{local}@{company.slug}.example",
                full_name=f"{local.capitalize()} of {company.name}",
                password=password_hash,
                company=company,
                role=role,
                is_staff=staff,
                # Where calls to the user's numbers ring: fictional 555-0100 to 555-0199 numbers.
                phone=f"+14155550{100 + person}",
            )
            for person, (local, role, staff) in enumerate(people)
        )

    def _print_logins(self, shown: int) -> None:
        self.stdout.write(f"\nDemo logins (password for all: {DEMO_PASSWORD})")
        self.stdout.write(f"  platform super admin: {SUPER_ADMIN_EMAIL}")
        for index in range(shown):
            _, slug = demo_company_identity(index)
            self.stdout.write(f"  {slug}: owner@{slug}.example, admin@{slug}.example, sales1@{slug}.example")
