"""Isolation-matrix registration of /api/quotes (line items are written inline with their quote)."""

from quotes.models import Quote

from ..factories import DealFactory, QuoteFactory
from ..isolation import Registration


def quote_payload(company) -> dict:
    """A quote for a deal of the company, with one line item."""
    deal = DealFactory(company=company, account__company=company)
    return {
        "title": "Matrix proposal",
        "deal": str(deal.id),
        "contact": str(deal.contact_id),
        "account": str(deal.account_id),
        "currency": "EUR",
        "valid_until": "2099-12-31",
        "line_items": [{"description": "Licence", "quantity": "2", "unit_price": "100.00", "tax_rate": "20"}],
    }


REGISTRATIONS = {
    Quote: Registration(
        QuoteFactory, quote_payload, owned_by=lambda company: {"deal__account__company": company}
    )
}
