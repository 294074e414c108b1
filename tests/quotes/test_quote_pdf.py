"""The quote PDF at /api/quotes/{id}/pdf: a real PDF with the quote's number, lines and total."""

import io

import pytest
from pypdf import PdfReader

from quotes import services
from quotes.pdf import render_quote_pdf
from tenancy.context import company_context

from ..factories import DealFactory

pytestmark = pytest.mark.django_db

LINES = [
    {"description": "R&D <prototype> hours", "quantity": "12", "unit_price": "1250.00", "tax_rate": "20"},
    {"description": "Hardware kit", "quantity": "2", "unit_price": "99.95", "discount_percent": "10"},
]


def pdf_text(content: bytes) -> str:
    return "\n".join(page.extract_text() for page in PdfReader(io.BytesIO(content)).pages)


def quote_of(company, **fields):
    deal = DealFactory(account__company=company, account__name="Initech", currency="EUR")
    with company_context(company):
        return services.create_quote(deal=deal, title="Lab fit-out", line_items=LINES, **fields)


def test_pdf_contains_number_lines_and_total(client_a, company_a):
    """The PDF is application/pdf, named quote-<number>.pdf, and shows number, customer, lines and total."""
    quote_of(company_a)
    quote = quote_of(company_a, notes="Delivery within 4 weeks.")

    response = client_a.get(f"/api/quotes/{quote.pk}/pdf")

    assert response.status_code == 200
    assert response["Content-Type"] == "application/pdf"
    assert response["Content-Disposition"] == 'attachment; filename="quote-2.pdf"'
    text = pdf_text(response.content)
    assert "Quote 2" in text
    assert "Company A" in text and "Initech" in text
    assert "R&D <prototype> hours" in text
    # 15,000.00 + 3,000.00 tax + 199.90 - 19.99 discount.
    assert str(quote.total) == "18179.91"
    assert "18,179.91 EUR" in text
    assert "Subtotal" in text and "15,199.90 EUR" in text
    assert "Delivery within 4 weeks." in text
    assert f"{quote.valid_until:%Y-%m-%d}" in text


def test_pdf_is_served_when_the_client_asks_for_pdf(client_a, company_a):
    """An Accept: application/pdf request gets the PDF, not a 406."""
    quote = quote_of(company_a)

    response = client_a.get(f"/api/quotes/{quote.pk}/pdf", HTTP_ACCEPT="application/pdf")

    assert response.status_code == 200
    assert response.content.startswith(b"%PDF")


def test_other_company_gets_404_for_the_pdf(client_a, client_b, company_a, company_b):
    """Company B cannot download A's quote PDF; each company downloads its own."""
    quote_a, quote_b = quote_of(company_a), quote_of(company_b)

    foreign = client_b.get(f"/api/quotes/{quote_a.pk}/pdf")
    foreign_as_pdf = client_b.get(f"/api/quotes/{quote_a.pk}/pdf", HTTP_ACCEPT="application/pdf")
    own = client_b.get(f"/api/quotes/{quote_b.pk}/pdf")

    for refused in (foreign, foreign_as_pdf):
        assert refused.status_code == 404
        assert refused["Content-Type"] == "application/json"
        assert b"%PDF" not in refused.content
    assert own.status_code == 200 and "Company B" in pdf_text(own.content)


def test_pdf_of_an_empty_quote_without_customer_renders(company_a):
    """A draft with no lines and no customer still renders, with zero totals."""
    with company_context(company_a):
        quote = services.create_quote(currency="USD")
        text = pdf_text(render_quote_pdf(quote))

    assert "Quote 1" in text and "0.00 USD" in text


def test_pdf_spans_pages_for_many_lines(company_a):
    """A long quote flows onto further pages and still ends with its total."""
    lines = [{"description": f"Line {n}", "quantity": "1", "unit_price": "10.00"} for n in range(120)]
    with company_context(company_a):
        quote = services.create_quote(line_items=lines)
        reader = PdfReader(io.BytesIO(render_quote_pdf(quote)))

    assert len(reader.pages) > 1
    assert "1,200.00 USD" in reader.pages[-1].extract_text()


def test_pdf_names_the_customer_it_was_made_out_to_after_the_account_is_deleted(client_a, company_a):
    """A quote is a document sent to a customer: deleting the account later leaves its PDF as it was.

    The quote's JSON says the account and contact are deleted; the PDF, the customer's copy, does not.
    """
    quote = quote_of(company_a)
    before = pdf_text(client_a.get(f"/api/quotes/{quote.pk}/pdf").content)
    assert client_a.delete(f"/api/accounts/{quote.account_id}").status_code == 204
    assert client_a.delete(f"/api/contacts/{quote.contact_id}").status_code == 204

    body = client_a.get(f"/api/quotes/{quote.pk}").json()
    assert (body["account_deleted"], body["contact_deleted"], body["deal_deleted"]) == (True, True, False)
    response = client_a.get(f"/api/quotes/{quote.pk}/pdf")
    assert response.status_code == 200
    text = pdf_text(response.content)
    assert "Initech" in text and quote.contact.full_name in text
    assert "deleted" not in text.lower()
    assert text.replace(f"{quote.valid_until:%Y-%m-%d}", "") == before.replace(
        f"{quote.valid_until:%Y-%m-%d}", ""
    )
