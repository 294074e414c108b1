"""Quotes over REST and in the admin: numbering, inline line items, totals, status actions, signature."""

import io
import random
import re
import threading
from datetime import timedelta
from decimal import Decimal

import pytest
from django.core import mail
from django.db import connection
from django.test import Client
from django.utils import timezone
from pypdf import PdfReader

from crm.demo import seed_sales
from crm.models import Deal
from documents.models import Document
from files.services import read_bytes
from quotes import services
from quotes.demo import seed_quotes
from quotes.models import Quote, QuoteLineItem
from tenancy.context import company_context, no_company
from tenancy.exceptions import NoTenantContext

from ..factories import ContactFactory, DealFactory, DocumentFactory, QuoteFactory, QuoteLineItemFactory
from ..unscoped import stored

pytestmark = pytest.mark.django_db

LINES = [
    {
        "description": "Licence",
        "quantity": "3",
        "unit_price": "99.99",
        "discount_percent": "10",
        "tax_rate": "20",
    },
    {"description": "Workshop", "quantity": "1.5", "unit_price": "800.00"},
]


def deal_of(company, **fields):
    return DealFactory(account__company=company, **fields)


def live_lines(quote) -> list[QuoteLineItem]:
    with company_context(quote.company_id):
        return list(QuoteLineItem.objects.filter(quote_id=quote.pk).order_by("position"))


def new_quote(company, *, line_items=LINES, **fields) -> Quote:
    """A draft quote made through the services, as the API makes it."""
    with company_context(company):
        return services.create_quote(line_items=line_items, **fields)


def sent_quote(company, **fields) -> Quote:
    quote = new_quote(company, **fields)
    with company_context(company):
        return services.send_quote(quote)


def quote_count(company) -> int:
    with company_context(company):
        return Quote.objects.count()


# Creating, numbering and totals


def test_create_with_inline_lines_stores_computed_totals(client_a, company_a, company_b, client_b):
    """A POST with line items stores the lines and the totals by the documented rule; B sees none of it."""
    deal = deal_of(company_a, currency="EUR")

    response = client_a.post(
        "/api/quotes", {"title": "Rollout", "deal": str(deal.id), "line_items": LINES}, format="json"
    )

    assert response.status_code == 201, response.content
    body = response.json()
    # Licence: 299.97, discount 30.00 (29.997), tax 53.99 (53.994); workshop 1200.00.
    assert [line["total"] for line in body["line_items"]] == ["323.96", "1200.00"]
    assert (body["subtotal"], body["discount_total"], body["tax_total"], body["total"]) == (
        "1499.97",
        "30.00",
        "53.99",
        "1523.96",
    )
    assert (body["status"], body["number"], body["currency"]) == ("draft", 1, "EUR")
    assert (body["contact"], body["account"]) == (str(deal.contact_id), str(deal.account_id))
    with company_context(company_a):
        quote = Quote.objects.get(pk=body["id"])
    assert quote.total == Decimal("1523.96")
    assert [line.discount_amount for line in live_lines(quote)] == [Decimal("30.00"), Decimal("0.00")]
    assert client_b.get(f"/api/quotes/{quote.pk}").status_code == 404
    assert client_b.get("/api/quotes").json()["count"] == 0


def test_numbers_are_sequential_per_company_not_global(client_a, client_b, company_a, company_b):
    """Each company numbers its quotes 1, 2, 3 on its own, whatever the other company does."""
    numbers_a = [
        client_a.post("/api/quotes", {"title": f"A{n}"}, format="json").json()["number"] for n in range(3)
    ]
    numbers_b = [
        client_b.post("/api/quotes", {"title": f"B{n}"}, format="json").json()["number"] for n in range(2)
    ]

    assert numbers_a == [1, 2, 3]
    assert numbers_b == [1, 2]


def test_a_deleted_quote_number_is_never_reused(client_a, company_a):
    """After quote 2 is deleted, the next quote is 3, so a number always names one quote."""
    first = new_quote(company_a)
    second = new_quote(company_a)

    assert client_a.delete(f"/api/quotes/{second.pk}").status_code == 204
    response = client_a.post("/api/quotes", {"title": "Next"}, format="json")

    assert (first.number, second.number, response.json()["number"]) == (1, 2, 3)


def test_defaults_come_from_the_deal_and_validity_is_thirty_days(client_a, company_a):
    """Without contact, account, currency or validity, the deal's values and 30 days are used."""
    deal = deal_of(company_a, currency="GBP")

    body = client_a.post("/api/quotes", {"deal": str(deal.id)}, format="json").json()

    assert (body["contact"], body["account"], body["currency"]) == (
        str(deal.contact_id),
        str(deal.account_id),
        "GBP",
    )
    assert body["valid_until"] == str(timezone.localdate() + timedelta(days=30))


def test_totals_and_status_are_read_only(client_a, company_a):
    """Totals, number and status in a request body are ignored; the server computes them."""
    body = {
        "title": "Cheeky",
        "total": "1.00",
        "subtotal": "1.00",
        "number": 999,
        "status": "accepted",
        "line_items": [{"description": "Box", "quantity": "2", "unit_price": "10.00", "total": "0.01"}],
    }

    created = client_a.post("/api/quotes", body, format="json").json()

    assert (created["total"], created["number"], created["status"]) == ("20.00", 1, "draft")
    assert created["line_items"][0]["total"] == "20.00"


def test_currency_is_upper_cased_and_must_be_iso(client_a, company_a):
    """A lower-case code is stored upper-case; anything but three letters is a 400 on currency."""
    good = client_a.post("/api/quotes", {"currency": "chf"}, format="json")
    bad = client_a.post("/api/quotes", {"currency": "EURO"}, format="json")

    assert good.json()["currency"] == "CHF"
    assert bad.status_code == 400 and "currency" in bad.json()
    assert quote_count(company_a) == 1


@pytest.mark.parametrize(
    ("line", "field"),
    [
        ({"quantity": "-1"}, "quantity"),
        ({"unit_price": "-0.01"}, "unit_price"),
        ({"discount_percent": "100.01"}, "discount_percent"),
        ({"discount_percent": "-5"}, "discount_percent"),
        ({"tax_rate": "101"}, "tax_rate"),
        ({"tax_rate": "-1"}, "tax_rate"),
        ({"unit_price": "1.001"}, "unit_price"),
        ({"quantity": "1.0001"}, "quantity"),
        ({"tax_rate": "7.125"}, "tax_rate"),
        ({"quantity": "abc"}, "quantity"),
        ({"description": ""}, "description"),
    ],
)
def test_invalid_line_is_a_400_on_its_field_and_stores_nothing(line, field, client_a, company_a):
    """A bad value in the second line is reported on that line's field, and no quote is stored."""
    body = {"title": "Bad", "line_items": [LINES[0], {**LINES[1], **line}]}

    response = client_a.post("/api/quotes", body, format="json")

    assert response.status_code == 400, response.content
    errors = response.json()["line_items"]
    # Errors are keyed by the failing line's index; the valid first line has none.
    assert list(errors) == ["1"] and field in errors["1"], errors
    assert quote_count(company_a) == 0


def test_the_largest_lines_the_api_takes_are_stored_exactly(client_a, company_a):
    """500 lines of the largest quantity and price, taxed 100%, fit the money columns to the cent."""
    line = {
        "description": "Planet",
        "quantity": "999999999.999",
        "unit_price": "999999999999.99",
        "tax_rate": "100",
    }

    response = client_a.post("/api/quotes", {"line_items": [line] * services.MAX_LINE_ITEMS}, format="json")

    assert response.status_code == 201, response.content
    line_total = 2 * services.to_cents(Decimal("999999999.999") * Decimal("999999999999.99"))
    assert Decimal(response.json()["total"]) == services.MAX_LINE_ITEMS * line_total
    with company_context(company_a):
        assert Quote.objects.get(pk=response.json()["id"]).total == services.MAX_LINE_ITEMS * line_total


def test_missing_line_field_is_reported(client_a, company_a):
    """A line without quantity or unit price is a 400 naming those fields."""
    response = client_a.post("/api/quotes", {"line_items": [{"description": "Thing"}]}, format="json")

    assert response.status_code == 400
    assert {"quantity", "unit_price"} <= set(response.json()["line_items"]["0"])


# Changing a draft


def test_put_with_line_items_replaces_the_set_and_recomputes(client_a, company_a):
    """A PUT with line_items replaces every line; the totals follow."""
    quote = new_quote(company_a)
    body = {
        "title": "Revised",
        "line_items": [{"description": "Only line", "quantity": "4", "unit_price": "2.50"}],
    }

    response = client_a.put(f"/api/quotes/{quote.pk}", body, format="json")

    assert response.status_code == 200, response.content
    assert [line["description"] for line in response.json()["line_items"]] == ["Only line"]
    assert [line.description for line in live_lines(quote)] == ["Only line"]
    assert (stored(Quote, quote.pk).title, stored(Quote, quote.pk).total) == ("Revised", Decimal("10.00"))


def test_patch_without_line_items_keeps_them(client_a, company_a):
    """A PATCH of the title leaves the lines and totals as they were."""
    quote = new_quote(company_a)

    response = client_a.patch(f"/api/quotes/{quote.pk}", {"title": "Renamed"}, format="json")

    assert response.status_code == 200
    assert len(response.json()["line_items"]) == 2
    assert stored(Quote, quote.pk).total == quote.total == Decimal("1523.96")


def test_patch_with_positions_orders_lines(client_a, company_a):
    """Given positions order the lines; an empty list removes them all and zeroes the totals."""
    quote = new_quote(company_a)
    reordered = [{**LINES[0], "position": 5}, {**LINES[1], "position": 1}]

    ordered = client_a.patch(f"/api/quotes/{quote.pk}", {"line_items": reordered}, format="json").json()
    emptied = client_a.patch(f"/api/quotes/{quote.pk}", {"line_items": []}, format="json").json()

    assert [line["description"] for line in ordered["line_items"]] == ["Workshop", "Licence"]
    assert ordered["total"] == "1523.96"
    assert (emptied["line_items"], emptied["total"]) == ([], "0.00")


def test_changing_a_discount_recomputes_the_stored_totals(client_a, company_a):
    """Every change recomputes: a new discount on the same lines changes the line and quote totals."""
    quote = new_quote(company_a, line_items=[{"description": "Box", "quantity": "1", "unit_price": "200.00"}])
    lines = [{"description": "Box", "quantity": "1", "unit_price": "200.00", "discount_percent": "12.5"}]

    client_a.patch(f"/api/quotes/{quote.pk}", {"line_items": lines}, format="json")

    assert (stored(Quote, quote.pk).discount_total, stored(Quote, quote.pk).total) == (
        Decimal("25.00"),
        Decimal("175.00"),
    )
    assert live_lines(quote)[0].total == Decimal("175.00")


def test_line_item_services_recompute_totals(company_a):
    """Adding, changing and removing one line through the services keeps the quote's totals right."""
    quote = new_quote(company_a, line_items=[{"description": "Box", "quantity": "1", "unit_price": "10.00"}])
    with company_context(company_a):
        extra = services.save_line_item(
            QuoteLineItem(quote=quote, description="Tape", quantity=Decimal("2"), unit_price=Decimal("0.50"))
        )
        assert Quote.objects.get(pk=quote.pk).total == Decimal("11.00")
        services.save_line_item(extra, tax_rate=Decimal("10"))
        assert Quote.objects.get(pk=quote.pk).total == Decimal("11.10")
        services.delete_line_item(extra)
        assert Quote.objects.get(pk=quote.pk).total == Decimal("10.00")


def test_a_sent_quote_refuses_line_changes_and_stays_unchanged(client_a, company_a):
    """Lines (and fields) of a quote that is no longer a draft cannot change: 409, nothing stored."""
    quote = sent_quote(company_a)
    before = (stored(Quote, quote.pk).total, [line.pk for line in live_lines(quote)])

    lines = client_a.patch(f"/api/quotes/{quote.pk}", {"line_items": []}, format="json")
    title = client_a.patch(f"/api/quotes/{quote.pk}", {"title": "Changed after sending"}, format="json")

    assert lines.status_code == 409 and "Only draft quotes" in lines.json()["detail"]
    assert title.status_code == 409
    assert (stored(Quote, quote.pk).total, [line.pk for line in live_lines(quote)]) == before
    assert stored(Quote, quote.pk).title == ""


def test_other_company_cannot_change_lines(client_b, company_a, company_b):
    """Company B's PATCH of A's quote lines is a 404 and A's lines stay."""
    quote = new_quote(company_a)

    response = client_b.patch(f"/api/quotes/{quote.pk}", {"line_items": []}, format="json")

    assert response.status_code == 404
    assert len(live_lines(quote)) == 2 and stored(Quote, quote.pk).total == Decimal("1523.96")


# Status actions


def test_send_marks_a_draft_sent(client_a, client_b, company_a):
    """POST /send moves a draft to sent with a time; B's attempt is a 404 and changes nothing."""
    quote = new_quote(company_a)

    foreign = client_b.post(f"/api/quotes/{quote.pk}/send")
    assert foreign.status_code == 404 and stored(Quote, quote.pk).status == "draft"

    response = client_a.post(f"/api/quotes/{quote.pk}/send")
    assert response.status_code == 200
    assert response.json()["status"] == "sent" and response.json()["sent_at"]
    assert stored(Quote, quote.pk).sent_at is not None


def test_an_empty_or_outdated_quote_cannot_be_sent(client_a, company_a):
    """A quote without lines, or valid until yesterday, is a 409 and stays a draft."""
    empty = new_quote(company_a, line_items=[])
    outdated = new_quote(company_a, valid_until=timezone.localdate() - timedelta(days=1))

    for quote, reason in ((empty, "no line items"), (outdated, "move the validity date")):
        response = client_a.post(f"/api/quotes/{quote.pk}/send")
        assert response.status_code == 409 and reason in response.json()["detail"]
        assert stored(Quote, quote.pk).status == "draft"


def test_accepting_marks_the_deal_won_and_leaves_other_deals(client_a, client_b, company_a, company_b):
    """Accepting A's quote closes A's deal as won; B's deal with its own sent quote is untouched."""
    deal_a, deal_b = deal_of(company_a), deal_of(company_b)
    quote_a, quote_b = sent_quote(company_a, deal=deal_a), sent_quote(company_b, deal=deal_b)

    foreign = client_b.post(f"/api/quotes/{quote_a.pk}/accept")
    assert foreign.status_code == 404 and stored(Quote, quote_a.pk).status == "sent"

    response = client_a.post(f"/api/quotes/{quote_a.pk}/accept")

    assert response.status_code == 200
    assert response.json()["status"] == "accepted" and response.json()["accepted_at"]
    with company_context(company_a):
        won = Deal.objects.get(pk=deal_a.pk)
    assert won.stage == Deal.Stage.WON and won.closed_at is not None
    with company_context(company_b):
        untouched = Deal.objects.get(pk=deal_b.pk)
    assert (untouched.stage, untouched.closed_at) == (Deal.Stage.QUALIFIED, None)
    assert stored(Quote, quote_b.pk).status == "sent"


def test_only_sent_quotes_can_be_accepted_or_declined(client_a, company_a):
    """A draft cannot be accepted or declined, and an accepted quote cannot be declined."""
    draft = new_quote(company_a, deal=deal_of(company_a))
    accepted = sent_quote(company_a)
    client_a.post(f"/api/quotes/{accepted.pk}/accept")

    refused = [
        client_a.post(f"/api/quotes/{draft.pk}/accept"),
        client_a.post(f"/api/quotes/{draft.pk}/decline"),
        client_a.post(f"/api/quotes/{accepted.pk}/decline"),
        client_a.post(f"/api/quotes/{accepted.pk}/send"),
    ]

    assert [response.status_code for response in refused] == [409, 409, 409, 409]
    assert (stored(Quote, draft.pk).status, stored(Quote, accepted.pk).status) == ("draft", "accepted")
    with company_context(company_a):
        assert Deal.objects.get(pk=draft.deal_id).stage == Deal.Stage.QUALIFIED


def test_decline_records_the_refusal_and_leaves_the_deal(client_a, client_b, company_a):
    """POST /decline moves a sent quote to declined; the deal keeps its stage; B gets a 404."""
    quote = sent_quote(company_a, deal=deal_of(company_a))

    assert client_b.post(f"/api/quotes/{quote.pk}/decline").status_code == 404
    response = client_a.post(f"/api/quotes/{quote.pk}/decline")

    assert response.status_code == 200 and response.json()["status"] == "declined"
    with company_context(company_a):
        assert Deal.objects.get(pk=quote.deal_id).stage == Deal.Stage.QUALIFIED


def _make_overdue(quote) -> None:
    with company_context(quote.company_id):
        Quote.objects.filter(pk=quote.pk).update(valid_until=timezone.localdate() - timedelta(days=1))


def test_a_sent_quote_past_its_validity_reads_as_expired(client_a, company_a, company_b):
    """Reading quotes expires A's overdue sent quotes only: B's overdue quote is left as it is."""
    overdue_a, overdue_b = sent_quote(company_a), sent_quote(company_b)
    fresh = sent_quote(company_a)
    _make_overdue(overdue_a)
    _make_overdue(overdue_b)

    listed = {row["id"]: row["status"] for row in client_a.get("/api/quotes").json()["results"]}

    assert listed == {str(overdue_a.pk): "expired", str(fresh.pk): "sent"}
    assert stored(Quote, overdue_a.pk).status == "expired"
    assert stored(Quote, overdue_b.pk).status == "sent"


def test_an_expired_quote_cannot_be_accepted(client_a, company_a):
    """Accepting a quote past its validity is a 409 and the deal stays open."""
    quote = sent_quote(company_a, deal=deal_of(company_a))
    _make_overdue(quote)

    response = client_a.post(f"/api/quotes/{quote.pk}/accept")

    assert response.status_code == 409
    assert stored(Quote, quote.pk).status == "expired"
    with company_context(company_a):
        assert Deal.objects.get(pk=quote.deal_id).stage == Deal.Stage.QUALIFIED


def test_expiry_service_outside_the_api(company_a):
    """The service expires sent quotes past validity, and neither drafts nor quotes still valid."""
    overdue, fresh = sent_quote(company_a), sent_quote(company_a)
    draft = new_quote(company_a, valid_until=timezone.localdate() - timedelta(days=3))
    _make_overdue(overdue)

    with company_context(company_a):
        assert services.expire_overdue_quotes() == 1

    assert [stored(Quote, q.pk).status for q in (overdue, fresh, draft)] == ["expired", "sent", "draft"]


def test_filters_and_search(client_a, company_a, company_b):
    """?status= and ?search= find A's quotes only."""
    sent = sent_quote(company_a, title="Boiler replacement")
    new_quote(company_a, title="Roof")
    sent_quote(company_b, title="Boiler replacement")

    by_status = client_a.get("/api/quotes", {"status": "sent"}).json()["results"]
    by_search = client_a.get("/api/quotes", {"search": "boiler"}).json()["results"]

    assert [row["id"] for row in by_status] == [str(sent.pk)]
    assert [row["id"] for row in by_search] == [str(sent.pk)]


# Numbering under concurrency


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_parallel_creates_get_distinct_consecutive_numbers(company_a, company_b):
    """Quotes created at once by many threads get 1..n in each company, with no gaps or duplicates."""
    per_company = 8
    barrier = threading.Barrier(per_company * 2)
    errors: list[BaseException] = []

    def create(company):
        try:
            with company_context(company):
                barrier.wait(timeout=30)
                services.create_quote(title="Parallel", line_items=LINES[:1])
        except BaseException as error:
            errors.append(error)
        finally:
            connection.close()

    threads = [
        threading.Thread(target=create, args=(company,))
        for company in (company_a, company_b)
        for _ in range(per_company)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)

    assert errors == []
    for company in (company_a, company_b):
        with company_context(company):
            numbers = sorted(Quote.objects.values_list("number", flat=True))
        assert numbers == list(range(1, per_company + 1))


# Admin


def browser(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def admin_form(**fields) -> dict:
    """A quote change form with line item rows, as the admin posts it."""
    lines = fields.pop("lines", [])
    initial = fields.pop("initial_lines", 0)
    form = {
        "title": "Admin quote",
        "currency": "USD",
        "valid_until": str(timezone.localdate() + timedelta(days=10)),
        "notes": "",
        "line_items-TOTAL_FORMS": str(len(lines)),
        "line_items-INITIAL_FORMS": str(initial),
        "line_items-MIN_NUM_FORMS": "0",
        "line_items-MAX_NUM_FORMS": "1000",
    }
    for index, line in enumerate(lines):
        form.update({f"line_items-{index}-{key}": value for key, value in line.items()})
    form.update(fields)
    return form


ADMIN_LINE = {
    "position": "0",
    "description": "Setup",
    "quantity": "2",
    "unit_price": "50.00",
    "discount_percent": "0",
    "tax_rate": "10",
}


def test_admin_adds_a_quote_with_lines_and_computes_totals(user_a, company_a, company_b):
    """Staff add a quote with an inline line: it gets the next number and computed, stored totals."""
    new_quote(company_b)
    new_quote(company_a)

    response = browser(user_a).post("/admin/quotes/quote/add/", admin_form(lines=[ADMIN_LINE]))

    assert response.status_code == 302, response.content.decode()[:3000]
    with company_context(company_a):
        quote = Quote.objects.get(title="Admin quote")
        line = QuoteLineItem.objects.get(quote=quote)
    assert (quote.number, quote.status, quote.user_id) == (2, "draft", user_a.pk)
    assert (quote.subtotal, quote.tax_total, quote.total) == (
        Decimal("100.00"),
        Decimal("10.00"),
        Decimal("110.00"),
    )
    assert line.total == Decimal("110.00")
    assert quote_count(company_b) == 1


def test_admin_line_change_recomputes_and_totals_are_not_editable(user_a, company_a):
    """Changing a line in the admin recomputes the totals; a posted total is ignored."""
    quote = new_quote(
        company_a, line_items=[{"description": "Setup", "quantity": "1", "unit_price": "50.00"}]
    )
    line = live_lines(quote)[0]
    form = admin_form(
        title="Renamed",
        lines=[{**ADMIN_LINE, "id": str(line.pk), "quote": str(quote.pk), "quantity": "3"}],
        initial_lines=1,
        total="1.00",
    )

    response = browser(user_a).post(f"/admin/quotes/quote/{quote.pk}/change/", form)

    assert response.status_code == 302, response.content.decode()[:3000]
    assert (stored(Quote, quote.pk).title, stored(Quote, quote.pk).total) == ("Renamed", Decimal("165.00"))
    assert live_lines(quote)[0].total == Decimal("165.00")


def test_admin_deleting_a_line_soft_deletes_it_and_recomputes(user_a, company_a):
    """Removing a line in the admin hides it, keeps the row, and zeroes the totals."""
    quote = new_quote(
        company_a, line_items=[{"description": "Setup", "quantity": "1", "unit_price": "50.00"}]
    )
    line = live_lines(quote)[0]
    form = admin_form(
        lines=[{**ADMIN_LINE, "id": str(line.pk), "quote": str(quote.pk), "DELETE": "on"}], initial_lines=1
    )

    response = browser(user_a).post(f"/admin/quotes/quote/{quote.pk}/change/", form)

    assert response.status_code == 302
    assert live_lines(quote) == [] and stored(Quote, quote.pk).total == Decimal("0.00")
    with company_context(company_a):
        assert QuoteLineItem.objects.including_deleted().get(pk=line.pk).is_deleted


def test_admin_shows_a_sent_quote_read_only(user_a, company_a):
    """A sent quote's change page offers no editable fields or lines, and a POST changes nothing."""
    quote = sent_quote(company_a, title="Sent one")
    client = browser(user_a)

    page = client.get(f"/admin/quotes/quote/{quote.pk}/change/").content.decode()
    client.post(f"/admin/quotes/quote/{quote.pk}/change/", admin_form(title="Hacked"))

    assert 'name="title"' not in page and 'name="line_items-0-quantity"' not in page
    assert stored(Quote, quote.pk).title == "Sent one"


def test_admin_pages_open_and_list_only_own_quotes(user_a, super_admin, company_a, company_b):
    """Staff see their company's quotes only; the super admin sees both; every page answers 200."""
    mine, theirs = new_quote(company_a, title="Mine"), new_quote(company_b, title="Theirs")

    for user in (user_a, super_admin):
        client = browser(user)
        for url in (
            "/admin/quotes/quote/",
            "/admin/quotes/quote/add/",
            f"/admin/quotes/quote/{mine.pk}/change/",
        ):
            assert client.get(url).status_code == 200, (user, url)
    listing = browser(user_a).get("/admin/quotes/quote/").content.decode()
    assert "Mine" in listing and "Theirs" not in listing
    assert browser(user_a).get(f"/admin/quotes/quote/{theirs.pk}/change/").status_code == 302


def test_super_admin_adds_a_quote_in_a_chosen_company(super_admin, company_a, company_b):
    """Across all companies the super admin picks the company; the quote and lines land there only."""
    new_quote(company_b)

    response = browser(super_admin).post(
        "/admin/quotes/quote/add/", admin_form(company=str(company_b.pk), lines=[ADMIN_LINE])
    )

    assert response.status_code == 302, response.content.decode()[:3000]
    with company_context(company_b):
        quote = Quote.objects.get(title="Admin quote")
        assert QuoteLineItem.objects.get(quote=quote).company_id == company_b.pk
    assert (quote.number, quote.total) == (2, Decimal("110.00"))
    assert quote_count(company_a) == 0


def test_admin_action_accepts_and_wins_the_deal(user_a, company_a, company_b):
    """The admin's accept action goes through the services: the deal is won, a draft is refused."""
    quote = sent_quote(company_a, deal=deal_of(company_a))
    draft = new_quote(company_a)

    browser(user_a).post(
        "/admin/quotes/quote/",
        {"action": "accept_quotes", "_selected_action": [str(quote.pk), str(draft.pk)]},
    )

    assert (stored(Quote, quote.pk).status, stored(Quote, draft.pk).status) == ("accepted", "draft")
    with company_context(company_a):
        assert Deal.objects.get(pk=quote.deal_id).stage == Deal.Stage.WON


def test_factory_quotes_work_with_service_numbering(company_a):
    """Quotes from the test factory and from the services share one sequence per company."""
    QuoteLineItemFactory(quote=QuoteFactory(deal=deal_of(company_a), number=7))

    assert new_quote(company_a).number == 8


def test_a_contact_given_without_a_deal_is_kept(client_a, company_a):
    """A quote may name a contact directly; it is kept as given."""
    contact = ContactFactory(company=company_a)

    body = client_a.post("/api/quotes", {"contact": str(contact.id)}, format="json").json()

    assert (body["contact"], body["account"], body["deal"]) == (str(contact.id), None, None)


# Sending for signature through documents


SIGNING_LINK = re.compile(r"/sign/([A-Za-z0-9_-]+)")


def signing_token(to: str) -> str:
    """The token of the signing link e-mailed to one address."""
    (message,) = [message for message in mail.outbox if to in message.to]
    return SIGNING_LINK.search(message.body).group(1)


def documents_of(company) -> list[Document]:
    with company_context(company):
        return list(Document.objects.all())


def test_send_for_signature_sends_the_quote_pdf_to_its_contact(
    client_a, user_a, company_a, company_b, django_capture_on_commit_callbacks
):
    """The quote's PDF is stored, a document sent to the contact, and the quote linked and sent."""
    quote = new_quote(company_a, title="Fit-out", deal=deal_of(company_a))

    with django_capture_on_commit_callbacks(execute=True):
        response = client_a.post(f"/api/quotes/{quote.pk}/send-for-signature", {}, format="json")

    assert response.status_code == 200, response.content
    body = response.json()
    assert body["status"] == "sent" and body["sent_at"]
    (document,) = documents_of(company_a)
    assert body["document"] == str(document.pk)
    assert (document.name, document.status, document.user_id) == ("Quote 1: Fit-out", "sent", user_a.pk)
    assert (document.contact_id, document.deal_id) == (quote.contact_id, quote.deal_id)
    with company_context(company_a):
        pdf = read_bytes(document.file)
        (signature,) = document.signatures.all()
    assert document.file.name == "quote-1.pdf"
    assert "Quote 1" in "".join(page.extract_text() for page in PdfReader(io.BytesIO(pdf)).pages)
    assert signature.signer_email == quote.contact.email
    assert signing_token(quote.contact.email)
    assert documents_of(company_b) == []


def test_signing_accepts_the_quote_and_wins_only_its_deal(
    client_a, client_b, company_a, company_b, django_capture_on_commit_callbacks
):
    """When every signer signed, the quote is accepted and its deal won; B's deal is never touched."""
    deal_a, deal_b = deal_of(company_a), deal_of(company_b)
    quote = new_quote(company_a, deal=deal_a)
    quote_b = sent_quote(company_b, deal=deal_b)
    signers = [
        {"name": "Ann Buyer", "email": "ann@buyer.example"},
        {"name": "Cy Fo", "email": "cfo@buyer.example"},
    ]

    with django_capture_on_commit_callbacks(execute=True):
        sent = client_a.post(
            f"/api/quotes/{quote.pk}/send-for-signature", {"signers": signers}, format="json"
        )
    assert sent.status_code == 200, sent.content
    for signer in signers:
        with django_capture_on_commit_callbacks(execute=True):
            signed = Client().post(
                f"/api/public/signatures/{signing_token(signer['email'])}/sign",
                {"typed_name": signer["name"]},
                content_type="application/json",
            )
        assert signed.status_code == 200, signed.content

    assert stored(Quote, quote.pk).status == "accepted" and stored(Quote, quote.pk).accepted_at is not None
    with company_context(company_a):
        assert Deal.objects.get(pk=deal_a.pk).stage == Deal.Stage.WON
    with company_context(company_b):
        assert Deal.objects.get(pk=deal_b.pk).stage == Deal.Stage.QUALIFIED
    assert stored(Quote, quote_b.pk).status == "sent"


def test_other_company_cannot_send_a_quote_for_signature(client_b, company_a, company_b):
    """B's request for A's quote is a 404: no file, no document, the quote stays a draft."""
    quote = new_quote(company_a)

    response = client_b.post(f"/api/quotes/{quote.pk}/send-for-signature", {}, format="json")

    assert response.status_code == 404
    assert stored(Quote, quote.pk).status == "draft" and stored(Quote, quote.pk).document_id is None
    assert documents_of(company_a) == [] and documents_of(company_b) == []


def test_a_signer_listed_twice_signs_once(client_a, company_a):
    """The same address twice (any case) is one signer at the first place, not a 400."""
    quote = new_quote(company_a)
    signers = [
        {"name": "Ann Buyer", "email": "ann@buyer.example"},
        {"name": "Cy Fo", "email": "cfo@buyer.example"},
        {"name": "Ann B.", "email": "ANN@buyer.example"},
    ]

    response = client_a.post(
        f"/api/quotes/{quote.pk}/send-for-signature", {"signers": signers}, format="json"
    )

    assert response.status_code == 200, response.content
    with company_context(company_a):
        document = Document.objects.get(pk=stored(Quote, quote.pk).document_id)
        assert [s.signer_email for s in document.signatures.order_by("order")] == [
            "ann@buyer.example",
            "cfo@buyer.example",
        ]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"signers": [{"name": "Ann", "email": "not-an-address"}]}, "signers"),
        ({"signers": []}, "signers"),
        ({"expires_in_days": 0}, "expires_in_days"),
    ],
)
def test_bad_signature_request_is_a_400_and_stores_nothing(body, field, client_a, company_a):
    """A bad signer or deadline is a 400 on that field; the quote stays a draft without a document."""
    quote = new_quote(company_a)

    response = client_a.post(f"/api/quotes/{quote.pk}/send-for-signature", body, format="json")

    assert response.status_code == 400 and field in response.json(), response.content
    assert stored(Quote, quote.pk).status == "draft" and documents_of(company_a) == []


def test_without_signers_a_contact_with_an_email_is_needed(client_a, company_a):
    """A quote with no contact and no named signers is a 400 saying to name the signers."""
    quote = new_quote(company_a)

    response = client_a.post(f"/api/quotes/{quote.pk}/send-for-signature", {}, format="json")

    assert response.status_code == 400 and "signers" in response.json()
    assert stored(Quote, quote.pk).status == "draft" and documents_of(company_a) == []


def test_a_quote_out_for_signature_or_accepted_is_not_sent_again(client_a, company_a):
    """Sending again while the signature is pending, or after acceptance, is a 409 with no new document."""
    pending = new_quote(company_a, deal=deal_of(company_a))
    accepted = sent_quote(company_a)
    client_a.post(f"/api/quotes/{accepted.pk}/accept")
    client_a.post(f"/api/quotes/{pending.pk}/send-for-signature", {}, format="json")

    again = client_a.post(f"/api/quotes/{pending.pk}/send-for-signature", {}, format="json")
    after = client_a.post(f"/api/quotes/{accepted.pk}/send-for-signature", {}, format="json")

    assert again.status_code == 409 and "already out for signature" in again.json()["detail"]
    assert after.status_code == 409
    assert len(documents_of(company_a)) == 1


def test_a_declined_signature_declines_the_quote_and_leaves_the_deal_open(
    client_a, company_a, company_b, django_capture_on_commit_callbacks
):
    """A customer declining the signature declines the quote; its deal stays open, B's quotes stay sent."""
    deal_a = deal_of(company_a)
    quote = new_quote(company_a, deal=deal_a)
    quote_b = sent_quote(company_b, deal=deal_of(company_b))
    with django_capture_on_commit_callbacks(execute=True):
        client_a.post(f"/api/quotes/{quote.pk}/send-for-signature", {}, format="json")

    with django_capture_on_commit_callbacks(execute=True):
        declined = Client().post(
            f"/api/public/signatures/{signing_token(quote.contact.email)}/decline",
            {"reason": "Too expensive"},
            content_type="application/json",
        )

    assert declined.status_code == 200, declined.content
    assert stored(Quote, quote.pk).status == "declined"
    with company_context(company_a):
        assert Deal.objects.get(pk=deal_a.pk).stage == Deal.Stage.QUALIFIED
    assert stored(Quote, quote_b.pk).status == "sent"


def test_accept_quotes_signed_through_only_touches_that_document(company_a):
    """The hook documents call accepts the quotes linked to that document and no other."""
    linked, other = sent_quote(company_a), sent_quote(company_a)
    document = DocumentFactory(company=company_a, file__company=company_a)
    with company_context(company_a):
        Quote.objects.filter(pk=linked.pk).update(document=document)
        accepted = services.accept_quotes_signed_through(document)

    assert [quote.pk for quote in accepted] == [linked.pk]
    assert (stored(Quote, linked.pk).status, stored(Quote, other.pk).status) == ("accepted", "sent")


def test_demo_seeder_numbers_quotes_and_stores_rule_totals(company_a, company_b, user_a):
    """The demo quotes are numbered 1..n, agree with their deals, and carry the totals the rule gives."""
    with company_context(company_a):
        seed_sales(company_a, [user_a], random.Random(1), 25)
        seed_quotes(company_a, [user_a], random.Random(1), 25)
        quotes = list(Quote.objects.select_related("deal").order_by("number"))
        seeded = {
            quote.pk: (quote.subtotal, quote.discount_total, quote.tax_total, quote.total) for quote in quotes
        }
        recomputed = {
            quote.pk: (quote.subtotal, quote.discount_total, quote.tax_total, quote.total)
            for quote in map(services.recompute_totals, quotes)
        }

    assert [quote.number for quote in quotes] == list(range(1, len(quotes) + 1))
    assert seeded == recomputed and any(total > 0 for *_, total in seeded.values())
    assert all(quote.status == "accepted" for quote in quotes if quote.deal and quote.deal.stage == "won")
    assert quote_count(company_b) == 0


def test_a_put_of_a_sent_quote_as_stored_is_accepted_and_changes_nothing(client_a, company_a):
    """A client writing back a sent quote unchanged gets a 200; the stored row is untouched."""
    quote = sent_quote(company_a, title="As sent")
    body = client_a.get(f"/api/quotes/{quote.pk}").json()
    before = stored(Quote, quote.pk).updated_at

    response = client_a.put(f"/api/quotes/{quote.pk}", body, format="json")

    assert response.status_code == 200, response.content
    assert stored(Quote, quote.pk).updated_at == before


def test_admin_list_shows_overdue_quotes_expired(user_a, company_a, company_b):
    """The admin's quote list expires the company's overdue sent quotes, and not another company's."""
    overdue_a, overdue_b = sent_quote(company_a), sent_quote(company_b)
    _make_overdue(overdue_a)
    _make_overdue(overdue_b)

    assert browser(user_a).get("/admin/quotes/quote/").status_code == 200

    assert (stored(Quote, overdue_a.pk).status, stored(Quote, overdue_b.pk).status) == ("expired", "sent")


def test_including_deleted_stays_inside_the_company_and_fails_closed(company_a, company_b):
    """The manager's including_deleted() adds deleted rows of the current company only, never without one."""
    deleted_a = new_quote(company_a)
    new_quote(company_b)
    with company_context(company_a):
        Quote.objects.get(pk=deleted_a.pk).soft_delete()
        assert not Quote.objects.filter(pk=deleted_a.pk).exists()
        assert list(Quote.objects.including_deleted().values_list("pk", flat=True)) == [deleted_a.pk]
    with no_company(), pytest.raises(NoTenantContext):
        Quote.objects.including_deleted().count()
