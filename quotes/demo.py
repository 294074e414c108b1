"""Deterministic demo quotes with line items, their totals computed by the quotes services."""

import random
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from crm.demo import BATCH_SIZE, seeded_uuid
from crm.models import Deal

from .models import Quote, QuoteLineItem
from .services import line_amounts, quote_amounts

NOW = datetime(2026, 1, 1, 9, 0, tzinfo=UTC)
CATALOG = [
    ("CRM licence, per seat and year", Decimal("480.00")),
    ("Onboarding workshop (1 day)", Decimal("1200.00")),
    ("Data migration", Decimal("2500.00")),
    ("Premium support, per month", Decimal("199.00")),
    ("Custom integration, per hour", Decimal("135.50")),
    ("Training videos", Decimal("49.99")),
]
TAX_RATES = [Decimal("0.00"), Decimal("7.50"), Decimal("20.00")]
DISCOUNTS = [Decimal("0.00"), Decimal("0.00"), Decimal("5.00"), Decimal("12.50")]
OPEN_STATUSES = [Quote.Status.DRAFT, Quote.Status.SENT, Quote.Status.SENT, Quote.Status.EXPIRED]


def _status_for(deal: Deal | None, n: int) -> str:
    """Quotes agree with their deals: a won deal's quote was accepted, a lost deal's declined."""
    if deal is not None and deal.stage == Deal.Stage.WON:
        return Quote.Status.ACCEPTED
    if deal is not None and deal.stage == Deal.Stage.LOST:
        return Quote.Status.DECLINED
    return OPEN_STATUSES[n % len(OPEN_STATUSES)]


def seed_quotes(company, users, rng: random.Random, per_company: int) -> dict[str, int]:
    """Quotes numbered 1, 2, 3, ... for some of the company's deals, each with a few priced lines."""
    deals = list(
        Deal.objects.select_related("contact", "account").order_by("name")[: max(5, per_company // 5)]
    )
    quotes, items = [], []
    for n in range(max(5, len(deals))):
        deal = deals[n] if n < len(deals) else None
        status = _status_for(deal, n)
        issued = NOW - timedelta(days=rng.randrange(5, 60))
        valid_days = 10 if status == Quote.Status.EXPIRED else 30
        quote = Quote(
            id=seeded_uuid(rng),
            company=company,
            user=deal.owner if deal is not None and deal.owner_id else rng.choice(users),
            number=n + 1,
            title=f"Proposal for {deal.name}" if deal is not None else f"Standard offer {n + 1}",
            contact=deal.contact if deal is not None else None,
            account=deal.account if deal is not None else None,
            deal=deal,
            currency=deal.currency if deal is not None else "USD",
            valid_until=(issued + timedelta(days=valid_days)).date(),
            status=status,
            notes="Prices exclude shipping. Payment within 30 days of invoice.",
            sent_at=None if status == Quote.Status.DRAFT else issued,
            accepted_at=issued + timedelta(days=3) if status == Quote.Status.ACCEPTED else None,
        )
        lines = []
        for position, (description, price) in enumerate(rng.sample(CATALOG, rng.randrange(1, 5))):
            line = QuoteLineItem(
                id=seeded_uuid(rng),
                company=company,
                quote=quote,
                position=position,
                description=description,
                quantity=Decimal(rng.randrange(1, 25)),
                unit_price=price,
                discount_percent=rng.choice(DISCOUNTS),
                tax_rate=rng.choice(TAX_RATES),
            )
            amounts = line_amounts(line.quantity, line.unit_price, line.discount_percent, line.tax_rate)
            line.subtotal, line.discount_amount = amounts.subtotal, amounts.discount
            line.tax_amount, line.total = amounts.tax, amounts.total
            lines.append(amounts)
            items.append(line)
        totals = quote_amounts(lines)
        quote.subtotal, quote.discount_total = totals.subtotal, totals.discount
        quote.tax_total, quote.total = totals.tax, totals.total
        quotes.append(quote)
    Quote.objects.bulk_create(quotes, batch_size=BATCH_SIZE)
    QuoteLineItem.objects.bulk_create(items, batch_size=BATCH_SIZE)
    return {"quotes": len(quotes), "quote_line_items": len(items)}
