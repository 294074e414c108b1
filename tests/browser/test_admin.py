"""The admin in Chromium: company staff find, filter and add records of their own company only; the
platform super admin sees every company and filters by company.

Relations are chosen by the admin's autocomplete (select2), which asks the server for the company's
rows as the user types.
"""

import re
from urllib.parse import parse_qs, urlsplit

import pytest
from playwright.sync_api import expect

from crm.models import Deal
from tenancy.context import company_context
from tenancy.models import User

from ..factories import TEST_PASSWORD, AccountFactory, ContactFactory, DealFactory, UserFactory

pytestmark = [pytest.mark.browser, pytest.mark.postgres]

CONTACTS = {"a": ["Ada Lovelace", "Alan Turing"], "b": ["Bob Builder", "Barbara Liskov"]}
DEALS = {
    "a": {"Alpha engine": Deal.Stage.WON, "Alpha looms": Deal.Stage.LEAD},
    "b": {"Bravo bricks": Deal.Stage.WON},
}


@pytest.fixture
def crm_rows(company_a, company_b, user_a, user_b):
    """Each company's account, contacts and deals, every name telling its company.

    The second contact of each company belongs to a second salesperson of that company.
    """
    for side, company, owner in [("a", company_a, user_a), ("b", company_b, user_b)]:
        colleague = UserFactory(company=company, full_name=f"Colleague {side.upper()}")
        account = AccountFactory(company=company, owner=owner, name=f"Account {side.upper()}")
        contacts = [
            ContactFactory(
                company=company,
                account=account,
                owner=owner if index == 0 else colleague,
                first_name=first,
                last_name=last,
            )
            for index, (first, last) in enumerate(name.split() for name in CONTACTS[side])
        ]
        for name, stage in DEALS[side].items():
            DealFactory(account=account, contact=contacts[0], owner=owner, name=name, stage=stage)


def colleague(company):
    """The second salesperson crm_rows gave a company."""
    with company_context(company):
        return User.objects.get(full_name=f"Colleague {company.name[-1]}")


def sign_in(page, user):
    """The admin's own sign-in form, as staff use it."""
    page.goto("/admin/login/?next=/admin/")
    page.get_by_label("Email").fill(user.email)
    page.get_by_label("Password").fill(TEST_PASSWORD)
    page.get_by_role("button", name="Log in").click()
    expect(page.locator("#site-name")).to_be_visible()
    expect(page).to_have_url(re.compile(r"/admin/$"))


def open_autocomplete(page, field: str, typed: str = ""):
    """Open the autocomplete box of a relation on an admin form, type into it, and await the answer."""

    def answer_to_typed(response) -> bool:
        query = parse_qs(urlsplit(response.url).query)
        return urlsplit(response.url).path == "/admin/autocomplete/" and query.get("term", [""]) == [typed]

    with page.expect_response(answer_to_typed):
        # The visible box is the select2 widget placed right after the hidden <select>.
        page.locator(f"#id_{field} + .select2 .select2-selection").click()
        if typed:
            page.locator(".select2-container--open .select2-search__field").press_sequentially(typed)
    results = page.locator(f"#select2-id_{field}-results")
    expect(results.locator(".loading-results")).to_have_count(0)
    return results


def choose_related(page, field: str, label: str):
    """Choose a record in a relation's autocomplete by typing part of its name and picking it."""
    results = open_autocomplete(page, field, label.split()[-1])
    results.get_by_role("option", name=label, exact=True).click()
    expect(page.locator(f"#select2-id_{field}-container")).to_have_text(re.compile(re.escape(label)))


def related_choices(page, field: str, typed: str = "") -> list[str]:
    """What the relation's autocomplete offers for the text typed (its first page of results)."""
    results = open_autocomplete(page, field, typed)
    choices = [text.strip() for text in results.get_by_role("option").all_inner_texts()]
    page.locator(".select2-container--open .select2-search__field").press("Escape")
    expect(page.locator(".select2-container--open")).to_have_count(0)
    return choices


def expect_listed(page, names: list[str]):
    """The changelist, once loaded, lists exactly these rows (by their first column), in any order."""
    expect(page.locator(".paginator")).to_contain_text(re.compile(rf"^\s*{len(names)} "))
    rows = page.locator("#result_list tbody tr th")
    expect(rows).to_have_count(len(names))
    assert sorted(text.strip() for text in rows.all_inner_texts()) == sorted(names)


def search(page, text: str):
    page.locator("#searchbar").fill(text)
    page.get_by_role("button", name="Search").click()
    expect(page).to_have_url(re.compile(rf"[?&]q={text}"))


def test_staff_find_their_contacts_by_search_and_never_see_the_other_companys(
    page, crm_rows, user_a, broken_requests
):
    """Company A's owner lists A's contacts, searches one by name, and B's contacts never show."""
    sign_in(page, user_a)

    page.get_by_role("link", name="Contacts").first.click()
    expect_listed(page, CONTACTS["a"])
    search(page, "Lovelace")

    expect_listed(page, ["Ada Lovelace"])
    search(page, "Builder")
    expect_listed(page, [])
    for name in CONTACTS["b"]:
        expect(page.get_by_text(name)).to_have_count(0)
    # The admin's own scripts and styles were served (the live server serves static files).
    assert broken_requests == []
    expect(page.locator("#header")).to_have_css("display", "flex")


def test_staff_filter_deals_by_stage_within_their_company(page, crm_rows, user_a):
    """The stage filter of the deal list shows A's won deal only, never B's won deal."""
    sign_in(page, user_a)
    page.goto("/admin/crm/deal/")
    expect_listed(page, list(DEALS["a"]))

    page.locator("#changelist-filter").get_by_role("link", name="Won", exact=True).click()

    expect(page).to_have_url(re.compile(r"[?&]stage__exact=won"))
    expect_listed(page, ["Alpha engine"])
    expect(page.get_by_text("Bravo bricks")).to_have_count(0)


def test_staff_add_a_deal_choosing_its_contact_among_their_companys(page, crm_rows, user_a, company_a):
    """The deal form offers A's contacts only; the deal saved points at the contact chosen."""
    sign_in(page, user_a)
    page.goto("/admin/crm/deal/add/")

    choices = related_choices(page, "contact")
    assert set(CONTACTS["a"]) <= set(choices)
    assert not set(CONTACTS["b"]) & set(choices)
    # Typing another company's contact's name finds nothing.
    assert related_choices(page, "contact", "Builder") == []
    page.get_by_label("Name").fill("Alpha difference engine")
    choose_related(page, "contact", "Alan Turing")
    page.get_by_role("button", name="Save", exact=True).click()

    expect(page.locator(".messagelist")).to_contain_text("was added successfully")
    with company_context(company_a):
        deal = Deal.objects.select_related("contact").get(name="Alpha difference engine")
    assert str(deal.contact) == "Alan Turing"


def test_staff_filter_contacts_by_owner_among_their_companys_users(
    page, crm_rows, user_a, company_a, company_b
):
    """The owner filter lists A's users only; choosing the colleague lists the colleague's contact."""
    colleague_a, colleague_b = (colleague(company) for company in (company_a, company_b))
    sign_in(page, user_a)
    page.goto("/admin/crm/contact/")
    filters = page.locator("#changelist-filter")
    expect(filters.get_by_role("link", name=str(colleague_b))).to_have_count(0)

    filters.get_by_role("link", name=str(colleague_a), exact=True).click()

    expect(page).to_have_url(re.compile(r"[?&]owner__id__exact="))
    expect_listed(page, ["Alan Turing"])


def test_the_super_admin_filters_contacts_by_company(page, crm_rows, super_admin, company_b):
    """Across all companies the super admin sees everyone's contacts; the company filter narrows to one."""
    sign_in(page, super_admin)
    page.goto("/admin/crm/contact/")
    expect_listed(page, CONTACTS["a"] + CONTACTS["b"])

    page.locator("#changelist-filter").get_by_role("link", name=company_b.name, exact=True).click()

    expect(page).to_have_url(re.compile(rf"[?&]company__id__exact={company_b.pk}"))
    expect_listed(page, CONTACTS["b"])


def test_the_deals_list_fits_a_1366_pixel_screen(page, company_a, user_a):
    """Every column of the deals list shows on a common laptop screen, with no sideways scrolling."""
    account = AccountFactory(company=company_a, owner=user_a, name="Northwind Traders International")
    contact = ContactFactory(
        company=company_a, account=account, first_name="Maximiliane", last_name="Oberhauser"
    )
    DealFactory(
        account=account,
        contact=contact,
        owner=user_a,
        name="Annual platform renewal, 250 seats",
        amount=1_250_000,
        stage=Deal.Stage.NEGOTIATION,
        expected_close_date="2027-03-31",
    )
    page.set_viewport_size({"width": 1366, "height": 768})
    sign_in(page, user_a)
    page.goto("/admin/crm/deal/")
    expect_listed(page, ["Annual platform renewal, 250 seats"])

    assert page.evaluate("document.documentElement.scrollWidth") <= 1366
    # The admin scrolls a table too wide for its column inside .results rather than the page.
    assert page.locator("#changelist .results").evaluate("box => box.scrollWidth <= box.clientWidth")
