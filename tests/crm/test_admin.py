"""The tenant-aware Django admin: each company's staff see and change only their company's records."""

import re
from dataclasses import dataclass

import pytest
from django.test import Client

from crm.models import Account, Contact, Deal
from tenancy.context import company_context
from tenancy.models import AuditLog, Company, User

from ..factories import (
    TEST_PASSWORD,
    AccountFactory,
    ContactFactory,
    DealFactory,
    UserFactory,
)
from ..unscoped import as_stored, audit_entries, reload, stored, unscoped

NEW_USER_PASSWORD = "a-long-and-unusual-passphrase-42"


@dataclass
class Tenant:
    """One company with its owner, a member and a small graph of sales records."""

    company: Company
    owner: User
    member: User
    account: Account
    contact: Contact
    deal: Deal


def build_tenant(company, owner, label) -> Tenant:
    member = UserFactory(company=company, role=User.Role.MEMBER, email=f"member-{label}@example.com")
    account = AccountFactory(company=company, owner=owner, name=f"Account of {label}")
    contact = ContactFactory(
        company=company, account=account, owner=owner, first_name="Contact", last_name=f"Of{label}"
    )
    deal = DealFactory(account=account, contact=contact, owner=owner, name=f"Deal of {label}")
    return Tenant(company, owner, member, account, contact, deal)


@pytest.fixture
def tenants(company_a, company_b, user_a, user_b) -> dict[str, Tenant]:
    return {"a": build_tenant(company_a, user_a, "Alpha"), "b": build_tenant(company_b, user_b, "Bravo")}


def other(side: str) -> str:
    return "b" if side == "a" else "a"


def browser(user) -> Client:
    """A browser signed in to the admin as `user`."""
    client = Client()
    client.force_login(user)
    return client


def page(response) -> str:
    return response.content.decode()


def select_options(response, name: str) -> set[str]:
    """The non-empty option values of the rendered <select name=...>."""
    match = re.search(rf'<select name="{name}"[^>]*>(.*?)</select>', page(response), re.S)
    assert match, f"no <select name={name!r}> in the page"
    return set(re.findall(r'<option value="([^"]+)"', match.group(1)))


def offered(response, name: str, company) -> set[str]:
    """The ids the form's relation field accepts (its autocomplete renders only the chosen one)."""
    with company_context(company):
        rows = response.context["adminform"].form.fields[name].queryset
        return {str(pk) for pk in rows.values_list("pk", flat=True)}


def contact_form(**values) -> dict:
    return {
        "first_name": "",
        "last_name": "",
        "email": "",
        "phone": "",
        "title": "",
        "account": "",
        "owner": "",
        "notes": "",
        "_save": "Save",
        **values,
    }


def new_user_form(**values) -> dict:
    return {
        "email": "new.hire@example.com",
        "full_name": "New Hire",
        "role": User.Role.MEMBER,
        "password1": NEW_USER_PASSWORD,
        "password2": NEW_USER_PASSWORD,
        "_save": "Save",
        **values,
    }


def contact_counts() -> tuple[int, int]:
    """Contacts stored in the table, and how many of them are live."""
    with unscoped():
        rows = Contact._base_manager.all()
    return rows.count(), rows.filter(is_deleted=False).count()


@pytest.mark.parametrize("side", ["a", "b"])
def test_company_user_changelist_lists_only_own_contacts(tenants, side):
    """A company user's contact list shows their company's contacts, without a company column or filter."""
    mine, theirs = tenants[side], tenants[other(side)]

    response = browser(mine.owner).get("/admin/crm/contact/")

    assert response.status_code == 200
    assert str(mine.contact) in page(response)
    assert str(theirs.contact) not in page(response)
    assert "company" not in response.context["cl"].list_display
    assert "column-company" not in page(response)
    assert "company__id__exact" not in page(response)


@pytest.mark.parametrize("side", ["a", "b"])
def test_company_user_cannot_open_other_company_contact(tenants, side):
    """Another company's contact answers like a missing one: back to the index with a message."""
    mine, theirs = tenants[side], tenants[other(side)]

    response = browser(mine.owner).get(f"/admin/crm/contact/{theirs.contact.pk}/change/", follow=True)

    assert response.redirect_chain == [("/admin/", 302)]
    assert response.status_code == 200
    assert "doesn\u2019t exist" in page(response)
    assert str(theirs.contact) not in page(response)
    assert theirs.contact.email not in page(response)


@pytest.mark.parametrize("side", ["a", "b"])
def test_company_user_cannot_change_other_company_contact(tenants, side):
    """Posting a change to another company's contact changes nothing."""
    mine, theirs = tenants[side], tenants[other(side)]

    response = browser(mine.owner).post(
        f"/admin/crm/contact/{theirs.contact.pk}/change/", contact_form(first_name="Hijacked")
    )

    assert response.status_code == 302
    assert response["Location"] == "/admin/"
    assert stored(Contact, theirs.contact.pk).first_name == "Contact"


@pytest.mark.parametrize("side", ["a", "b"])
def test_add_contact_form_offers_only_own_accounts_and_users(tenants, side):
    """The contact form's account and owner choices are the user's company's rows only."""
    mine = tenants[side]

    response = browser(mine.owner).get("/admin/crm/contact/add/")

    assert response.status_code == 200
    assert "company" not in response.context["adminform"].form.fields
    assert offered(response, "account", mine.company) == {str(mine.account.pk)}
    assert offered(response, "owner", mine.company) == {str(mine.owner.pk), str(mine.member.pk)}


@pytest.mark.parametrize("side", ["a", "b"])
def test_add_deal_form_offers_only_own_accounts_contacts_and_users(tenants, side):
    """The deal form's account, contact and owner choices are the user's company's rows only."""
    mine = tenants[side]

    response = browser(mine.owner).get("/admin/crm/deal/add/")

    assert response.status_code == 200
    assert "company" not in response.context["adminform"].form.fields
    assert offered(response, "account", mine.company) == {str(mine.account.pk)}
    assert offered(response, "contact", mine.company) == {str(mine.contact.pk)}
    assert offered(response, "owner", mine.company) == {str(mine.owner.pk), str(mine.member.pk)}


@pytest.mark.parametrize("side", ["a", "b"])
def test_company_user_creates_contact_in_own_company(tenants, side):
    """A contact added by a company user belongs to their company, whatever company the post names."""
    mine, theirs = tenants[side], tenants[other(side)]

    response = browser(mine.owner).post(
        "/admin/crm/contact/add/",
        contact_form(
            first_name="Newly",
            last_name="Added",
            account=mine.account.pk,
            owner=mine.member.pk,
            company=theirs.company.pk,
        ),
    )

    assert response.status_code == 302
    with unscoped():
        created = Contact._base_manager.get(first_name="Newly", last_name="Added")
    assert created.company_id == mine.company.pk
    assert created.account_id == mine.account.pk
    with company_context(mine.company):
        assert Contact.objects.filter(pk=created.pk).exists()


@pytest.mark.parametrize("side", ["a", "b"])
def test_company_user_cannot_point_contact_at_other_company_account(tenants, side):
    """Another company's account id in the contact form is a form error and creates nothing."""
    mine, theirs = tenants[side], tenants[other(side)]
    before = contact_counts()

    response = browser(mine.owner).post(
        "/admin/crm/contact/add/", contact_form(first_name="Sneaky", account=theirs.account.pk)
    )

    assert response.status_code == 200
    assert "account" in response.context["adminform"].form.errors
    assert contact_counts() == before
    with unscoped():
        assert not Contact._base_manager.filter(first_name="Sneaky").exists()


@pytest.mark.parametrize("side", ["a", "b"])
def test_company_user_creates_deal_in_own_company(tenants, side):
    """A deal added by a company user belongs to their company."""
    mine = tenants[side]

    response = browser(mine.owner).post(
        "/admin/crm/deal/add/",
        {
            "name": "Admin deal",
            "stage": Deal.Stage.WON,
            "amount": "250.00",
            "currency": "EUR",
            "account": mine.account.pk,
            "contact": mine.contact.pk,
            "owner": mine.owner.pk,
            "_save": "Save",
        },
    )

    assert response.status_code == 302
    with unscoped():
        created = Deal._base_manager.get(name="Admin deal")
    assert created.company_id == mine.company.pk
    assert created.closed_at is not None


@pytest.mark.parametrize("side", ["a", "b"])
def test_owner_delete_soft_deletes_contact(tenants, side):
    """Deleting a contact in the admin hides it but keeps the row."""
    mine = tenants[side]
    client = browser(mine.owner)

    response = client.post(f"/admin/crm/contact/{mine.contact.pk}/delete/", {"post": "yes"})

    assert response.status_code == 302
    assert stored(Contact, mine.contact.pk).is_deleted is True
    assert mine.contact not in client.get("/admin/crm/contact/").context["cl"].result_list
    with company_context(mine.company):
        assert not Contact.objects.filter(pk=mine.contact.pk).exists()


@pytest.mark.parametrize("side", ["a", "b"])
def test_member_cannot_delete_contact(tenants, side):
    """A member gets 403 on the delete page, and the contact stays."""
    mine = tenants[side]
    client = browser(mine.member)
    url = f"/admin/crm/contact/{mine.contact.pk}/delete/"

    assert client.get(url).status_code == 403
    assert client.post(url, {"post": "yes"}).status_code == 403
    assert stored(Contact, mine.contact.pk).is_deleted is False


@pytest.mark.parametrize("side", ["a", "b"])
def test_owner_cannot_delete_other_company_contact(tenants, side):
    """Deleting another company's contact answers like a missing one and deletes nothing."""
    mine, theirs = tenants[side], tenants[other(side)]

    response = browser(mine.owner).post(f"/admin/crm/contact/{theirs.contact.pk}/delete/", {"post": "yes"})

    assert response.status_code == 302
    assert response["Location"] == "/admin/"
    assert stored(Contact, theirs.contact.pk).is_deleted is False


@pytest.mark.parametrize("side", ["a", "b"])
def test_bulk_delete_soft_deletes_own_contacts_and_skips_other_company(tenants, side):
    """The delete-selected action soft-deletes the user's own contacts and ignores another company's ids."""
    mine, theirs = tenants[side], tenants[other(side)]

    response = browser(mine.owner).post(
        "/admin/crm/contact/",
        {
            "action": "delete_selected",
            "_selected_action": [str(mine.contact.pk), str(theirs.contact.pk)],
            "post": "yes",
        },
    )

    assert response.status_code == 302
    assert stored(Contact, mine.contact.pk).is_deleted is True
    assert stored(Contact, theirs.contact.pk).is_deleted is False


def test_super_admin_changelist_spans_companies_with_company_column_and_filter(tenants, super_admin):
    """A super admin sees every company's contacts, with a company column and a company filter."""
    response = browser(super_admin).get("/admin/crm/contact/")

    assert response.status_code == 200
    assert str(tenants["a"].contact) in page(response)
    assert str(tenants["b"].contact) in page(response)
    assert "company" in response.context["cl"].list_display
    assert "column-company" in page(response)
    assert f"company__id__exact={tenants['a'].company.pk}" in page(response)
    assert f"company__id__exact={tenants['b'].company.pk}" in page(response)


@pytest.mark.parametrize("side", ["a", "b"])
def test_super_admin_opens_any_company_contact(tenants, super_admin, side):
    """A super admin opens a contact of either company and sees its company."""
    tenant = tenants[side]

    response = browser(super_admin).get(f"/admin/crm/contact/{tenant.contact.pk}/change/")

    assert response.status_code == 200
    assert tenant.contact.email in page(response)
    assert tenant.company.name in page(response)


def test_super_admin_add_form_has_company_field(tenants, super_admin):
    """A super admin names the company of a new contact."""
    response = browser(super_admin).get("/admin/crm/contact/add/")

    assert response.status_code == 200
    assert "company" in response.context["adminform"].form.fields
    assert select_options(response, "company") == {str(t.company.pk) for t in tenants.values()}


@pytest.mark.parametrize("side", ["a", "b"])
def test_super_admin_creates_contact_for_chosen_company(tenants, super_admin, side):
    """A contact a super admin adds belongs to the company chosen in the form."""
    tenant = tenants[side]

    response = browser(super_admin).post(
        "/admin/crm/contact/add/",
        contact_form(
            company=tenant.company.pk, first_name="Support", last_name="Made", account=tenant.account.pk
        ),
    )

    assert response.status_code == 302
    with unscoped():
        created = Contact._base_manager.get(first_name="Support", last_name="Made")
    assert created.company_id == tenant.company.pk
    assert created.account_id == tenant.account.pk


@pytest.mark.parametrize("side", ["a", "b"])
def test_super_admin_cannot_mix_company_and_other_company_account(tenants, super_admin, side):
    """A company with another company's account is a form error, not a 500, and creates nothing."""
    tenant, foreign = tenants[side], tenants[other(side)]
    before = contact_counts()

    response = browser(super_admin).post(
        "/admin/crm/contact/add/",
        contact_form(company=tenant.company.pk, first_name="Mixed", account=foreign.account.pk),
    )

    assert response.status_code == 200
    assert response.context["adminform"].form.errors
    assert "another company" in page(response)
    assert contact_counts() == before


def test_super_admin_admin_requests_are_audited(tenants, super_admin):
    """Every admin request of a super admin writes an audit entry naming them and the page."""
    browser(super_admin).get("/admin/crm/contact/")

    (entry,) = audit_entries(path="/admin/crm/contact/")
    assert entry.actor == super_admin
    assert entry.action == AuditLog.Action.ALL_COMPANIES
    assert entry.method == "GET"


def test_company_user_admin_requests_are_not_audited(tenants):
    """A company user's admin requests stay in their company and write no audit entry."""
    browser(tenants["a"].owner).get("/admin/crm/contact/")

    assert not audit_entries()


@pytest.mark.parametrize("side", ["a", "b"])
def test_owner_sees_only_own_company_users(tenants, super_admin, side):
    """A company owner's user list holds their company's users only."""
    mine, theirs = tenants[side], tenants[other(side)]

    response = browser(mine.owner).get("/admin/tenancy/user/")

    assert response.status_code == 200
    assert mine.member.email in page(response)
    assert mine.owner.email in page(response)
    assert theirs.member.email not in page(response)
    assert theirs.owner.email not in page(response)
    assert super_admin.email not in page(response)


@pytest.mark.parametrize("side", ["a", "b"])
def test_owner_cannot_change_other_company_user(tenants, side):
    """Another company's user answers like a missing one, and posting to it changes nothing."""
    mine, theirs = tenants[side], tenants[other(side)]
    url = f"/admin/tenancy/user/{theirs.member.pk}/change/"
    client = browser(mine.owner)

    response = client.post(url, {"email": theirs.member.email, "full_name": "Renamed", "role": "owner"})

    assert response.status_code == 302
    assert response["Location"] == "/admin/"
    reload(theirs.member)
    assert theirs.member.full_name != "Renamed"
    assert theirs.member.role == User.Role.MEMBER


@pytest.mark.parametrize("side", ["a", "b"])
def test_owner_cannot_set_other_company_user_password(tenants, side):
    """The password page of another company's user is not found, and the password stays."""
    mine, theirs = tenants[side], tenants[other(side)]

    response = browser(mine.owner).post(
        f"/admin/tenancy/user/{theirs.member.pk}/password/",
        {"password1": NEW_USER_PASSWORD, "password2": NEW_USER_PASSWORD},
    )

    assert response.status_code == 404
    reload(theirs.member)
    assert theirs.member.check_password(TEST_PASSWORD)


@pytest.mark.parametrize("side", ["a", "b"])
def test_an_address_of_another_companys_user_is_a_form_error_not_a_500(tenants, side):
    """The owner cannot see the other company's users, yet their addresses stay taken: a form error."""
    mine, theirs = tenants[side], tenants[other(side)]
    before = as_stored(lambda: User.objects.count())

    response = browser(mine.owner).post("/admin/tenancy/user/add/", new_user_form(email=theirs.member.email))

    assert response.status_code == 200
    assert "already exists" in str(response.context["adminform"].form.errors["email"])
    assert as_stored(lambda: User.objects.count()) == before


@pytest.mark.parametrize("side", ["a", "b"])
def test_owner_adds_user_to_own_company_never_as_superuser(tenants, side):
    """A user added by a company owner joins the owner's company and is never a superuser."""
    mine, theirs = tenants[side], tenants[other(side)]

    response = browser(mine.owner).post(
        "/admin/tenancy/user/add/", new_user_form(company=theirs.company.pk, is_superuser="on")
    )

    assert response.status_code == 302
    created = as_stored(lambda: User.objects.get(email="new.hire@example.com"))
    assert created.company_id == mine.company.pk
    assert created.is_superuser is False
    assert created.check_password(NEW_USER_PASSWORD)


def test_owner_add_user_form_has_no_company_field(tenants):
    """A company owner's add-user form does not offer a company."""
    response = browser(tenants["a"].owner).get("/admin/tenancy/user/add/")

    assert response.status_code == 200
    assert "company" not in response.context["adminform"].form.fields
    assert "is_superuser" not in response.context["adminform"].form.fields


@pytest.mark.parametrize("side", ["a", "b"])
def test_super_admin_adds_user_to_chosen_company(tenants, super_admin, side):
    """A user a super admin adds belongs to the company chosen in the form."""
    tenant = tenants[side]

    response = browser(super_admin).post("/admin/tenancy/user/add/", new_user_form(company=tenant.company.pk))

    assert response.status_code == 302
    created = as_stored(lambda: User.objects.get(email="new.hire@example.com"))
    assert created.company_id == tenant.company.pk
    assert created.is_superuser is False


def test_super_admin_adding_user_without_company_is_a_form_error(tenants, super_admin):
    """A new user without a company is a form error, not a 500, and creates nothing."""
    before = as_stored(lambda: User.objects.count())

    response = browser(super_admin).post("/admin/tenancy/user/add/", new_user_form(company=""))

    assert response.status_code == 200
    assert "company" in response.context["adminform"].form.errors
    assert as_stored(lambda: User.objects.count()) == before


@pytest.mark.parametrize("side", ["a", "b"])
def test_member_cannot_add_users(tenants, side):
    """A member gets 403 on the add-user page, and no user is created."""
    client = browser(tenants[side].member)
    before = as_stored(lambda: User.objects.count())

    assert client.get("/admin/tenancy/user/add/").status_code == 403
    response = client.post(
        "/admin/tenancy/user/add/",
        {
            "email": "uninvited@example.com",
            "role": User.Role.OWNER,
            "password1": NEW_USER_PASSWORD,
            "password2": NEW_USER_PASSWORD,
        },
    )

    assert response.status_code == 403
    assert as_stored(lambda: User.objects.count()) == before
    assert not as_stored(lambda: User.objects.filter(email="uninvited@example.com").exists())


@pytest.mark.parametrize("side", ["a", "b"])
def test_company_user_sees_only_own_company(tenants, side):
    """A company user's company list shows their own company only."""
    mine, theirs = tenants[side], tenants[other(side)]

    response = browser(mine.member).get("/admin/tenancy/company/")

    assert response.status_code == 200
    assert list(response.context["cl"].result_list) == [mine.company]
    assert mine.company.slug in page(response)
    assert theirs.company.slug not in page(response)


@pytest.mark.parametrize("side", ["a", "b"])
def test_company_user_cannot_open_other_company(tenants, side):
    """Another company's page answers like a missing one."""
    mine, theirs = tenants[side], tenants[other(side)]

    response = browser(mine.owner).get(f"/admin/tenancy/company/{theirs.company.pk}/change/")

    assert response.status_code == 302
    assert response["Location"] == "/admin/"


def test_super_admin_sees_all_companies(tenants, super_admin):
    """A super admin's company list shows every company."""
    response = browser(super_admin).get("/admin/tenancy/company/")

    assert response.status_code == 200
    assert set(response.context["cl"].result_list) == {t.company for t in tenants.values()}


@pytest.mark.parametrize("side", ["a", "b"])
def test_company_user_cannot_add_company(tenants, side):
    """Even a company owner gets 403 on the add-company page, and no company is created."""
    client = browser(tenants[side].owner)
    before = as_stored(lambda: Company.objects.count())

    assert client.get("/admin/tenancy/company/add/").status_code == 403
    response = client.post(
        "/admin/tenancy/company/add/", {"name": "Rogue", "slug": "rogue", "is_active": "on"}
    )

    assert response.status_code == 403
    assert as_stored(lambda: Company.objects.count()) == before
    assert not as_stored(lambda: Company.objects.filter(slug="rogue").exists())


@pytest.mark.parametrize("side", ["a", "b"])
def test_company_owner_sees_no_platform_wide_audit_entries(tenants, super_admin, side):
    """An owner reads their company's audit log, never a super admin's all-companies visits."""
    browser(super_admin).get("/admin/crm/contact/")
    assert audit_entries(path="/admin/crm/contact/")

    response = browser(tenants[side].owner).get("/admin/tenancy/auditlog/")

    assert response.status_code == 200
    assert super_admin.email not in page(response)
    assert list(response.context["cl"].result_list) == []


def test_super_admin_sees_audit_log(tenants, super_admin):
    """A super admin reads the audit log, including their own earlier requests."""
    client = browser(super_admin)
    client.get("/admin/crm/contact/")

    response = client.get("/admin/tenancy/auditlog/")

    assert response.status_code == 200
    assert "/admin/crm/contact/" in page(response)


def test_non_staff_company_user_is_sent_to_admin_login(company_a):
    """A company user who is not staff is redirected to the admin login."""
    user = UserFactory(company=company_a, role=User.Role.OWNER, is_staff=False)

    response = browser(user).get("/admin/crm/contact/")

    assert response.status_code == 302
    assert response["Location"].startswith("/admin/login/?next=/admin/crm/contact/")


def test_company_user_signs_in_through_admin_login(tenants):
    """Signing in through the admin login form lands a company user on their own contacts."""
    client = Client()
    client.post(
        "/admin/login/?next=/admin/crm/contact/",
        {"username": tenants["b"].owner.email, "password": TEST_PASSWORD},
    )

    response = client.get("/admin/crm/contact/")

    assert response.status_code == 200
    assert str(tenants["b"].contact) in page(response)
    assert str(tenants["a"].contact) not in page(response)


@pytest.mark.parametrize("side", ["a", "b"])
def test_super_admin_edit_form_offers_only_the_records_company(tenants, super_admin, side):
    """Editing a contact across companies, the choices are that contact's company's rows only."""
    tenant, foreign = tenants[side], tenants[other(side)]

    response = browser(super_admin).get(f"/admin/crm/contact/{tenant.contact.pk}/change/")

    accounts, owners = (
        offered(response, "account", tenant.company),
        offered(response, "owner", tenant.company),
    )
    assert str(tenant.account.pk) in accounts and str(foreign.account.pk) not in accounts
    assert str(tenant.owner.pk) in owners and str(foreign.owner.pk) not in owners


@pytest.mark.parametrize("side", ["a", "b"])
def test_company_admin_cannot_grant_or_change_the_owner_role(tenants, side):
    """An admin adds members and admins but no owners, and cannot edit an owner's account."""
    tenant = tenants[side]
    company_admin = UserFactory(
        company=tenant.company, role=User.Role.ADMIN, email=f"boss-{side}@example.com"
    )
    client = browser(company_admin)

    form = client.get("/admin/tenancy/user/add/")
    refused = client.post("/admin/tenancy/user/add/", new_user_form(role=User.Role.OWNER))
    owner_page = client.post(f"/admin/tenancy/user/{tenant.owner.pk}/change/", {"role": "member"})

    assert User.Role.OWNER.value not in select_options(form, "role")
    assert refused.status_code == 200 and "role" in refused.context["adminform"].form.errors
    assert not as_stored(lambda: User.objects.filter(email="new.hire@example.com").exists())
    assert owner_page.status_code == 403
    assert as_stored(lambda: User.objects.get(pk=tenant.owner.pk)).role == User.Role.OWNER


@pytest.mark.parametrize("side", ["a", "b"])
def test_every_admin_page_names_the_crm_and_the_staff_members_company(tenants, side, settings):
    """Staff see the product and their own company on every page; "View site" leads to the CRM's app."""
    settings.ADMIN_VIEW_SITE_URL = "https://app.crm.example/"
    mine, theirs = tenants[side], tenants[other(side)]

    for path in ("/admin/", "/admin/crm/deal/"):
        html = page(browser(mine.owner).get(path))
        assert f"Sales CRM · {mine.company.name}" in html
        assert theirs.company.name not in html
        assert "Django administration" not in html
        assert 'href="https://app.crm.example/"' in html


def test_the_super_admin_sees_the_platform_in_the_header(super_admin):
    html = page(browser(super_admin).get("/admin/"))
    assert "Sales CRM · platform support" in html
    assert 'href="/api/docs/"' in html
