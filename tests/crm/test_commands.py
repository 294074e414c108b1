"""Operator commands: create_company and seed_demo."""

import re
from collections import Counter
from io import StringIO

import pytest
from django.apps import apps
from django.core.management import CommandError, call_command
from django.utils import timezone
from rest_framework.test import APIClient

from calls.models import Call
from crm.demo import demo_company_identity, demo_company_index
from crm.models import Account, Contact, Deal, DealStageChange, Note
from messaging.demo import demo_phone_number
from messaging.models import Notification, PhoneNumber, SmsMessage, TwilioSettings
from tenancy.context import all_companies, company_context
from tenancy.models import Company, TenantModel, User

from ..factories import TEST_PASSWORD, ContactFactory
from ..unscoped import as_stored, audit_entries, reload

STRONG_PASSWORD = "violet-harbour-lantern-42"


def run(*args) -> str:
    out = StringIO()
    call_command(*args, stdout=out)
    return out.getvalue()


def printed_value(output: str, key: str) -> str:
    match = re.search(rf"^{key}=(\S+)$", output, re.MULTILINE)
    assert match, f"{key}= not printed in:\n{output}"
    return match.group(1)


# create_company


def test_create_company_prints_ids_and_owner_can_sign_in(company_a, user_a):
    """The new company and its owner exist, the ids are printed, and the owner signs in as owner and staff."""
    output = run(
        "create_company",
        "--name",
        "Initech",
        "--admin-email",
        "Bill@Initech.example",
        "--password",
        STRONG_PASSWORD,
    )

    company = as_stored(lambda: Company.objects.get(pk=printed_value(output, "company_id")))
    owner = as_stored(lambda: User.objects.get(pk=printed_value(output, "admin_user_id")))
    assert company.name == "Initech"
    assert owner.company_id == company.id
    assert owner.email == "bill@initech.example"
    assert owner.role == User.Role.OWNER
    assert owner.is_staff is True
    assert owner.is_superuser is False

    login = APIClient().post(
        "/api/auth/login", {"email": "bill@initech.example", "password": STRONG_PASSWORD}, format="json"
    )
    assert login.status_code == 200, login.content
    assert login.json()["user"]["company"]["id"] == str(company.id)
    assert login.json()["user"]["role"] == "owner"
    reload(user_a)
    assert user_a.company_id == company_a.id


def test_create_company_refuses_an_email_already_in_use(user_a):
    """An email that another user already has is refused, and no company or user is created."""
    companies, users = as_stored(lambda: Company.objects.count()), as_stored(lambda: User.objects.count())

    with pytest.raises(CommandError, match="already exists"):
        run(
            "create_company",
            "--name",
            "Copycat",
            "--admin-email",
            user_a.email.upper(),
            "--password",
            STRONG_PASSWORD,
        )

    assert as_stored(lambda: Company.objects.count()) == companies
    assert as_stored(lambda: User.objects.count()) == users
    assert not as_stored(lambda: Company.objects.filter(name="Copycat").exists())
    reload(user_a)
    assert user_a.check_password(TEST_PASSWORD)


@pytest.mark.parametrize("password", ["123", "password", "12345678901"])
def test_create_company_refuses_a_weak_password(password, db):
    """A password that the password validators reject is refused, and nothing is created."""
    with pytest.raises(CommandError, match="Password refused"):
        run("create_company", "--name", "Weak", "--admin-email", "weak@weak.example", "--password", password)

    assert not as_stored(lambda: Company.objects.filter(name="Weak").exists())
    assert not as_stored(lambda: User.objects.filter(email="weak@weak.example").exists())


# seed_demo


def seed(*extra) -> str:
    return run("seed_demo", "--companies", "3", "--per-company", "20", "--seed", "7", *extra)


def demo_companies() -> list[Company]:
    return list(
        as_stored(lambda: Company.objects.filter(slug__in=["acme", "globex", "demo-00003"]).order_by("slug"))
    )


def counts(company) -> dict[str, int]:
    with company_context(company):
        return {
            "accounts": Account.objects.count(),
            "contacts": Contact.objects.count(),
            "deals": Deal.objects.count(),
            "users": User.objects.filter(company=company).count(),
        }


def test_seed_demo_creates_companies_whose_records_stay_inside_them(company_a):
    """Three companies get users, 2 accounts, 20 contacts and 20 deals each, every reference in-company."""
    existing = ContactFactory(company=company_a)

    seed()

    companies = demo_companies()
    assert len(companies) == 3
    for company in companies:
        assert counts(company) == {"accounts": 2, "contacts": 20, "deals": 20, "users": 4}
        with company_context(company):
            user_ids = set(User.objects.filter(company=company).values_list("pk", flat=True))
            account_ids = set(Account.objects.values_list("pk", flat=True))
            contact_ids = set(Contact.objects.values_list("pk", flat=True))
            for account in Account.objects.all():
                assert account.owner_id in user_ids
            for contact in Contact.objects.all():
                assert contact.account_id in account_ids
                assert contact.owner_id in user_ids
            for deal in Deal.objects.all():
                assert deal.account_id in account_ids
                assert deal.contact_id in contact_ids
                assert deal.owner_id in user_ids
    with all_companies(reason="test: every seeded row has its company"):
        seeded = {company.id for company in companies}
        for model in (Account, Contact, Deal):
            owners = set(model.objects.exclude(company=company_a).values_list("company_id", flat=True))
            assert owners == seeded
    with company_context(company_a):
        assert list(Contact.objects.values_list("pk", flat=True)) == [existing.pk]


def test_seed_demo_is_idempotent(db):
    """Running seed_demo again creates no company, user or record."""
    seed()
    before = {company.slug: counts(company) for company in demo_companies()}
    total_users = as_stored(lambda: User.objects.count())

    output = seed()

    assert {company.slug: counts(company) for company in demo_companies()} == before
    assert as_stored(lambda: Company.objects.count()) == 3
    assert as_stored(lambda: User.objects.count()) == total_users
    assert "Seeded 0 new companies" in output


def test_seed_demo_large_company_records_make_the_first_company_large(db):
    """--large-company-records sizes the first company; the others get --per-company contacts and deals."""
    seed("--large-company-records", "60")

    sizes = {company.slug: counts(company) for company in demo_companies()}

    assert sizes == {
        "acme": {"accounts": 6, "contacts": 60, "deals": 60, "users": 4},
        "demo-00003": {"accounts": 2, "contacts": 20, "deals": 20, "users": 4},
        "globex": {"accounts": 2, "contacts": 20, "deals": 20, "users": 4},
    }


def test_seed_demo_refuses_a_negative_large_company_size(db):
    """A negative --large-company-records is refused before any company is created."""
    with pytest.raises(CommandError, match="--large-company-records"):
        seed("--large-company-records", "-1")

    assert not as_stored(lambda: Company.objects.exists())


def seeded_contacts() -> dict[str, list[tuple[str, str, str]]]:
    result = {}
    for company in demo_companies():
        with company_context(company):
            result[company.slug] = sorted(
                (str(pk), first, last)
                for pk, first, last in Contact.objects.values_list("pk", "first_name", "last_name")
            )
    return result


def test_seed_demo_with_the_same_seed_gives_the_same_contacts(database_owner):
    """The same seed on a fresh database gives the same contact ids and names."""
    seed()
    first = seeded_contacts()

    call_command("flush", "--no-input")
    assert not as_stored(lambda: Company.objects.exists())
    seed()
    second = seeded_contacts()

    assert first == second
    assert all(len(contacts) == 20 for contacts in first.values())
    call_command("flush", "--no-input")
    run("seed_demo", "--companies", "3", "--per-company", "20", "--seed", "8")
    assert seeded_contacts() != first


def test_seed_demo_prints_logins_and_creates_the_platform_admin(db):
    """seed_demo prints the demo logins, and the support super admin belongs to no company."""
    output = seed()

    assert "support@platform.example" in output
    assert "owner@acme.example" in output
    assert "owner@globex.example" in output
    support = as_stored(lambda: User.objects.get(email="support@platform.example"))
    assert support.is_platform_admin is True
    assert support.company_id is None
    owner = as_stored(lambda: User.objects.select_related("company").get(email="owner@acme.example"))
    assert owner.company.slug == "acme"
    assert owner.role == User.Role.OWNER
    assert owner.is_platform_admin is False


def test_seed_demo_logins_work_with_the_printed_password(db):
    """A printed demo login signs in to its own company only."""
    output = seed()
    password = re.search(r"password for all: (\S+?)\)", output).group(1)

    login = APIClient().post(
        "/api/auth/login", {"email": "owner@acme.example", "password": password}, format="json"
    )
    other = APIClient().post(
        "/api/auth/login", {"email": "owner@globex.example", "password": password}, format="json"
    )

    assert login.status_code == other.status_code == 200
    assert login.json()["user"]["company"]["slug"] == "acme"
    assert other.json()["user"]["company"]["slug"] == "globex"


def test_seed_demo_leaves_an_existing_user_alone(user_b):
    """Seeding does not touch users of companies that already exist."""
    seed()

    reload(user_b)
    assert user_b.check_password(TEST_PASSWORD)
    assert as_stored(lambda: User.objects.filter(company=user_b.company_id).count()) == 1


def test_seed_demo_fills_every_tenant_model_in_every_company(db):
    """Every tenant model of every installed app has rows in each seeded company: no seeder is forgotten."""
    tenant_models = [model for model in apps.get_models() if issubclass(model, TenantModel)]
    assert {Account, Contact, Deal, TwilioSettings, PhoneNumber, SmsMessage, Call, Notification} <= set(
        tenant_models
    )

    seed()

    for company in demo_companies():
        with company_context(company):
            empty = [model._meta.label for model in tenant_models if not model.objects.exists()]
        assert empty == [], (
            f"seed_demo leaves {empty} empty in {company.slug}: add the app's seeder to SEEDERS."
        )


def test_seed_demo_gives_each_company_its_own_phone_numbers(db):
    """Each seeded company gets two numbers, and no number is registered to two companies."""
    seed()

    with all_companies(reason="test: demo numbers across companies"):
        owners = list(PhoneNumber.objects.values_list("number", "company_id"))
    assert len(owners) == 6
    assert len({number for number, _ in owners}) == 6
    assert sorted(Counter(company_id for _, company_id in owners).values()) == [2, 2, 2]


def test_demo_phone_numbers_never_collide_across_a_thousand_companies():
    """The numbers derived from a demo company's position are distinct E.164 numbers for 1,000 companies."""
    positions = [demo_company_index(demo_company_identity(index)[1]) for index in range(1000)]
    numbers = {demo_phone_number(position, line) for position in positions for line in range(2)}

    assert positions == list(range(1000))
    assert len(numbers) == 2000
    assert all(re.fullmatch(r"\+[1-9]\d{1,14}", number) for number in numbers)
    with pytest.raises(ValueError, match="not the slug of a demo company"):
        demo_company_index("initech")


def test_createsuperuser_makes_a_platform_admin_who_signs_in(monkeypatch, company_a):
    """createsuperuser writes the one kind of user a company's scope may never write, audited."""
    monkeypatch.setenv("DJANGO_SUPERUSER_PASSWORD", TEST_PASSWORD)
    call_command("createsuperuser", "--noinput", "--email", "ops@platform.example", stdout=StringIO())

    with all_companies(reason="test: read the new super admin"):
        admin = User.objects.get(email="ops@platform.example")
    assert (admin.is_superuser, admin.is_staff, admin.company_id) == (True, True, None)
    response = APIClient().post(
        "/api/auth/login", {"email": admin.email, "password": TEST_PASSWORD}, format="json"
    )
    assert response.status_code == 200
    assert response.json()["user"]["is_platform_admin"] is True
    assert audit_entries(reason="createsuperuser: a new platform super admin")


def test_seeded_deals_make_the_default_reports_show_won_and_lost_deals(db):
    """Won and lost deals closed in the past after they were opened: the last 30 days' report is not empty."""
    output = run("seed_demo")  # as `make run` seeds
    password = re.search(r"password for all: (\S+?)\)", output).group(1)
    client = APIClient()
    token = client.post(
        "/api/auth/login", {"email": "owner@acme.example", "password": password}, format="json"
    ).json()["access_token"]

    report = client.get("/api/analytics/pipeline", HTTP_AUTHORIZATION=f"Bearer {token}").json()["pipeline"]

    assert report["won"] and report["lost"]
    assert float(report["average_days_to_close"]) >= 3
    acme = as_stored(lambda: Company.objects.get(slug="acme"))
    with company_context(acme):
        for deal in Deal.objects.all():
            assert (deal.closed_at is not None) == deal.is_closed
            if deal.closed_at:
                assert deal.created_at < deal.closed_at <= timezone.now()
        # A deal's history happened while it was open: a closed deal moved on the day it closed.
        changes = list(DealStageChange.objects.select_related("deal"))
        assert changes
        for change in changes:
            deal = change.deal
            assert deal.created_at <= change.created_at <= (deal.closed_at or timezone.now())
            if deal.closed_at:
                assert change.created_at == deal.closed_at
        assert len({note.created_at.date() for note in Note.objects.all()}) > 1
