"""Writes and rules of quotes: numbering, line items and their totals, status changes, signature.

Totals. Every amount is a Decimal rounded to cents with ROUND_HALF_UP (0.125 -> 0.13), and each
rounding happens at exactly one place:

    per line:
        subtotal = round(quantity * unit_price)
        discount = round(subtotal * discount_percent / 100)
        tax      = round((subtotal - discount) * tax_rate / 100)
        total    = subtotal - discount + tax
    per quote:
        subtotal, discount_total, tax_total and total are the sums of the lines' values,
        so quote.total == quote.subtotal - quote.discount_total + quote.tax_total exactly.

The values are stored on the lines and on the quote and recomputed on every change (create,
update, a line added, changed or removed); clients never write them.

Numbers. A quote's number is sequential within its company (1, 2, 3, ... in each company on its
own) and never reused, not even after a quote is deleted. Two quotes created at the same moment
both compute max + 1; the database's (company, number) unique constraint lets one win, and the
other retries inside a savepoint with the next number.

Lifecycle. draft -> sent (send, or send for signature) -> accepted (which marks the quote's deal
won) or declined; a sent quote whose validity date has passed becomes expired when quotes are
next read (expire_overdue_quotes). Only a draft may change, lines included.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import ROUND_HALF_UP, Decimal

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.db.models import Max
from django.utils import timezone

from core.exceptions import StateConflict
from crm import services as crm_services
from documents import services as documents_services
from documents.models import Document
from files import services as files_services

from .models import Quote, QuoteLineItem
from .pdf import render_quote_pdf

CENT = Decimal("0.01")
HUNDRED = Decimal(100)
ZERO = Decimal("0.00")
MAX_LINE_ITEMS = 500
DEFAULT_VALIDITY_DAYS = 30
NUMBERING_ATTEMPTS = 50

LINE_INPUT_FIELDS = ("position", "description", "quantity", "unit_price", "discount_percent", "tax_rate")
QUOTE_FIELDS = ("title", "contact", "account", "deal", "currency", "valid_until", "notes")


class QuoteRuleError(StateConflict):
    """A change the quote's state does not allow (sending an empty quote, editing a sent one)."""


def to_cents(value: Decimal) -> Decimal:
    """Round to cents, half away from zero (0.125 -> 0.13, 0.135 -> 0.14)."""
    return Decimal(value).quantize(CENT, rounding=ROUND_HALF_UP)


@dataclass(frozen=True)
class Amounts:
    """Subtotal, discount, tax and total of a line or a whole quote, in cents."""

    subtotal: Decimal = ZERO
    discount: Decimal = ZERO
    tax: Decimal = ZERO
    total: Decimal = ZERO

    def __add__(self, other: Amounts) -> Amounts:
        return Amounts(
            self.subtotal + other.subtotal,
            self.discount + other.discount,
            self.tax + other.tax,
            self.total + other.total,
        )


def line_amounts(quantity, unit_price, discount_percent=ZERO, tax_rate=ZERO) -> Amounts:
    """The amounts of one line, by the rule in this module's docstring."""
    subtotal = to_cents(Decimal(quantity) * Decimal(unit_price))
    discount = to_cents(subtotal * Decimal(discount_percent) / HUNDRED)
    tax = to_cents((subtotal - discount) * Decimal(tax_rate) / HUNDRED)
    return Amounts(subtotal, discount, tax, subtotal - discount + tax)


def quote_amounts(lines: Iterable[Amounts]) -> Amounts:
    """The amounts of a quote: the sums of its lines' amounts."""
    return sum(lines, Amounts())


def _apply_line_amounts(item: QuoteLineItem) -> Amounts:
    amounts = line_amounts(item.quantity, item.unit_price, item.discount_percent, item.tax_rate)
    item.subtotal, item.discount_amount = amounts.subtotal, amounts.discount
    item.tax_amount, item.total = amounts.tax, amounts.total
    return amounts


@transaction.atomic
def recompute_totals(quote: Quote) -> Quote:
    """Compute and store every line's amounts and the quote's totals from the lines as stored."""
    items = list(QuoteLineItem.objects.filter(quote=quote))
    now, changed = timezone.now(), []
    for item in items:
        before = (item.subtotal, item.discount_amount, item.tax_amount, item.total)
        _apply_line_amounts(item)
        if before != (item.subtotal, item.discount_amount, item.tax_amount, item.total):
            item.updated_at = now
            changed.append(item)
    if changed:
        QuoteLineItem.objects.bulk_update(
            changed, ["subtotal", "discount_amount", "tax_amount", "total", "updated_at"]
        )
    totals = quote_amounts(
        Amounts(item.subtotal, item.discount_amount, item.tax_amount, item.total) for item in items
    )
    quote.subtotal, quote.discount_total = totals.subtotal, totals.discount
    quote.tax_total, quote.total = totals.tax, totals.total
    quote.save(update_fields=["subtotal", "discount_total", "tax_total", "total", "updated_at"])
    return quote


def next_quote_number() -> int:
    """The number after the highest the current company ever used, deleted quotes included."""
    highest = Quote.objects.including_deleted().aggregate(highest=Max("number"))["highest"]
    return (highest or 0) + 1


def _number_taken(number: int) -> bool:
    return Quote.objects.including_deleted().filter(number=number).exists()


def _insert_numbered(quote: Quote) -> Quote:
    """Insert a new quote with the next free number of its company, retrying when a racer took it."""
    for _ in range(NUMBERING_ATTEMPTS):
        quote.number = next_quote_number()
        try:
            with transaction.atomic():
                quote.save(force_insert=True)
            return quote
        except IntegrityError:
            # Another quote got this number between our read and our insert; anything else is real.
            if not _number_taken(quote.number):
                raise
    raise ValidationError("Too many quotes are being created at once; try again.")


def _build_line(quote: Quote, data: Mapping, position: int) -> QuoteLineItem:
    unknown = set(data) - set(LINE_INPUT_FIELDS)
    if unknown:
        raise ValidationError({"line_items": [f"Unknown line item fields: {', '.join(sorted(unknown))}."]})
    values = {"position": position, "discount_percent": ZERO, "tax_rate": ZERO, **data}
    item = QuoteLineItem(quote=quote, company_id=quote.company_id, **values)
    try:
        item.clean_fields(exclude=["quote", "company", "subtotal", "discount_amount", "tax_amount", "total"])
    except ValidationError as error:
        raise ValidationError({"line_items": [f"Line {position + 1}: {error.messages[0]}"]}) from error
    return item


def _build_lines(quote: Quote, line_items: Iterable[Mapping]) -> list[QuoteLineItem]:
    """Unsaved, validated lines for a quote, with their amounts computed."""
    line_items = list(line_items)
    if len(line_items) > MAX_LINE_ITEMS:
        raise ValidationError({"line_items": [f"A quote has at most {MAX_LINE_ITEMS} line items."]})
    items = [_build_line(quote, data, index) for index, data in enumerate(line_items)]
    for item in items:
        _apply_line_amounts(item)
    return items


def _line_key(item: QuoteLineItem) -> tuple:
    return (
        item.position,
        item.description,
        item.quantity,
        item.unit_price,
        item.discount_percent,
        item.tax_rate,
    )


def _same_as_stored(quote: Quote, items: list[QuoteLineItem]) -> bool:
    stored = QuoteLineItem.objects.filter(quote=quote).order_by("position", "created_at")
    return sorted(map(_line_key, items)) == sorted(map(_line_key, stored))


def _store_lines(quote: Quote, items: list[QuoteLineItem]) -> None:
    """Soft-delete the quote's lines and store the given ones in their place."""
    QuoteLineItem.objects.filter(quote=quote).soft_delete()
    QuoteLineItem.objects.bulk_create(items)


def _status_word(quote: Quote) -> str:
    return quote.get_status_display().lower()


def _require_draft(quote: Quote, action: str) -> None:
    if quote.status != Quote.Status.DRAFT:
        raise QuoteRuleError(
            f"Only draft quotes can be {action}; quote {quote.number} is {_status_word(quote)}."
        )


def _fill_from_deal(fields: dict) -> None:
    """A new quote for a deal takes its contact, account and currency unless they are given."""
    deal = fields.get("deal")
    if deal is None:
        return
    for name in ("contact", "account"):
        if fields.get(name) is None and getattr(deal, f"{name}_id"):
            fields[name] = getattr(deal, name)
    fields.setdefault("currency", deal.currency)


@transaction.atomic
def create_quote(*, user=None, line_items: Iterable[Mapping] = (), **fields) -> Quote:
    """Create a draft quote with the next number of the company, its lines and their totals."""
    unknown = set(fields) - set(QUOTE_FIELDS)
    if unknown:
        raise TypeError(f"create_quote() got unexpected fields: {', '.join(sorted(unknown))}")
    _fill_from_deal(fields)
    quote = save_new_quote(Quote(user=user, **fields))
    _store_lines(quote, _build_lines(quote, line_items))
    return recompute_totals(quote)


@transaction.atomic
def save_new_quote(quote: Quote) -> Quote:
    """Store a new quote (built here or by the admin form) as a draft with the company's next number."""
    quote.status = Quote.Status.DRAFT
    if quote.valid_until is None:
        quote.valid_until = timezone.localdate() + timedelta(days=DEFAULT_VALIDITY_DAYS)
    return _insert_numbered(quote)


@transaction.atomic
def update_quote(quote: Quote, *, line_items: Iterable[Mapping] | None = None, **fields) -> Quote:
    """Change a draft quote; given line items replace its lines, and totals are recomputed."""
    unknown = set(fields) - set(QUOTE_FIELDS)
    if unknown:
        raise TypeError(f"update_quote() got unexpected fields: {', '.join(sorted(unknown))}")
    quote = Quote.objects.select_for_update().get(pk=quote.pk)
    changed = {name: value for name, value in fields.items() if getattr(quote, name) != value}
    items = None if line_items is None else _build_lines(quote, line_items)
    if not changed and (items is None or _same_as_stored(quote, items)):
        # Sending back what is stored (a full PUT of a sent quote) changes nothing and is no error.
        return quote
    _require_draft(quote, "changed")
    for name, value in changed.items():
        setattr(quote, name, value)
    quote.save()
    if items is not None:
        _store_lines(quote, items)
    return recompute_totals(quote)


@transaction.atomic
def save_line_item(item: QuoteLineItem, **changes) -> QuoteLineItem:
    """Add or change one line of a draft quote, and recompute the quote's totals."""
    for name, value in changes.items():
        setattr(item, name, value)
    quote = Quote.objects.select_for_update().get(pk=item.quote_id)
    _require_draft(quote, "changed")
    item.full_clean(exclude=["company", "subtotal", "discount_amount", "tax_amount", "total"])
    _apply_line_amounts(item)
    item.save()
    recompute_totals(quote)
    return item


@transaction.atomic
def delete_line_item(item: QuoteLineItem) -> None:
    """Remove one line of a draft quote, and recompute the quote's totals."""
    quote = Quote.objects.select_for_update().get(pk=item.quote_id)
    _require_draft(quote, "changed")
    item.soft_delete()
    recompute_totals(quote)


def is_past_validity(quote: Quote, *, today: date | None = None) -> bool:
    """Whether the quote's last valid day is behind us."""
    today = today or timezone.localdate()
    return quote.valid_until is not None and quote.valid_until < today


def expire_overdue_quotes() -> int:
    """Mark the current company's sent quotes past their validity date expired; returns how many."""
    return Quote.objects.filter(status=Quote.Status.SENT, valid_until__lt=timezone.localdate()).update(
        status=Quote.Status.EXPIRED, updated_at=timezone.now()
    )


def _locked(quote: Quote) -> Quote:
    return Quote.objects.select_for_update().get(pk=quote.pk)


@transaction.atomic
def send_quote(quote: Quote) -> Quote:
    """Mark a draft quote sent to its customer; it must have lines and a validity date ahead."""
    quote = _locked(quote)
    _require_draft(quote, "sent")
    _check_sendable(quote)
    quote.status, quote.sent_at = Quote.Status.SENT, timezone.now()
    quote.save(update_fields=["status", "sent_at", "updated_at"])
    return quote


def _check_sendable(quote: Quote) -> None:
    if not QuoteLineItem.objects.filter(quote=quote).exists():
        raise QuoteRuleError(f"Quote {quote.number} has no line items; add at least one before sending it.")
    if is_past_validity(quote):
        raise QuoteRuleError(
            f"Quote {quote.number} was valid until {quote.valid_until:%Y-%m-%d}; "
            "move the validity date before sending it."
        )


def _require_sent(quote: Quote, action: str) -> None:
    if quote.status == Quote.Status.SENT and is_past_validity(quote):
        raise QuoteRuleError(
            f"Quote {quote.number} expired on {quote.valid_until:%Y-%m-%d} and can no longer be {action}."
        )
    if quote.status != Quote.Status.SENT:
        raise QuoteRuleError(
            f"Only sent quotes can be {action}; quote {quote.number} is {_status_word(quote)}."
        )


def _accept(quote: Quote) -> Quote:
    quote.status, quote.accepted_at = Quote.Status.ACCEPTED, timezone.now()
    quote.save(update_fields=["status", "accepted_at", "updated_at"])
    if quote.deal_id is not None and not quote.deal.is_deleted:
        crm_services.mark_deal_won(quote.deal)
    return quote


@transaction.atomic
def accept_quote(quote: Quote) -> Quote:
    """Record the customer's acceptance of a sent quote, and mark its deal won."""
    quote = _locked(quote)
    _require_sent(quote, "accepted")
    return _accept(quote)


@transaction.atomic
def decline_quote(quote: Quote) -> Quote:
    """Record that the customer declined a sent quote."""
    quote = _locked(quote)
    _require_sent(quote, "declined")
    quote.status = Quote.Status.DECLINED
    quote.save(update_fields=["status", "updated_at"])
    return quote


def decline_quotes_signed_through(document) -> list[Quote]:
    """Decline the quotes sent as this document when a signer declined it."""
    quotes = list(Quote.objects.select_for_update().filter(document=document, status=Quote.Status.SENT))
    for quote in quotes:
        quote.status = Quote.Status.DECLINED
        quote.save(update_fields=["status", "updated_at"])
    return quotes


def default_signers(quote: Quote) -> list[dict]:
    """The quote's contact as the one signer, when the contact has an e-mail address."""
    contact = quote.contact
    if contact is None or not contact.email:
        raise ValidationError(
            {"signers": ["Name the signers: the quote has no contact with an e-mail address to default to."]}
        )
    return [{"name": contact.full_name or contact.email, "email": contact.email}]


@transaction.atomic
def send_for_signature(
    quote: Quote, *, signers: list[dict] | None = None, message: str = "", expires_in_days=None, user=None
) -> Quote:
    """Render the quote as a PDF, send it for signature through documents, and mark the quote sent."""
    quote = _locked(quote)
    if quote.status not in (Quote.Status.DRAFT, Quote.Status.SENT):
        raise QuoteRuleError(
            f"Only draft or sent quotes can be sent for signature; quote {quote.number} is "
            f"{_status_word(quote)}."
        )
    if quote.document_id is not None and quote.document.status == quote.document.Status.SENT:
        raise QuoteRuleError(
            f"Quote {quote.number} is already out for signature; void that document to send it again."
        )
    _check_sendable(quote)
    # Signers are checked before anything is stored, so a refusal leaves no file behind.
    signers = documents_services.clean_signers(signers or default_signers(quote))
    if quote.status == Quote.Status.DRAFT:
        # The PDF the customer signs says what they sign: a sent quote, dated today.
        quote.status, quote.sent_at = Quote.Status.SENT, timezone.now()
    stored = files_services.store_bytes(render_quote_pdf(quote), name=f"quote-{quote.number}.pdf", user=user)
    name = f"Quote {quote.number}" + (f": {quote.title}" if quote.title else "")
    document = documents_services.create_document(
        name=name[:255], file=stored, contact=quote.contact, deal=quote.deal, user=user, message=message
    )
    quote.document = documents_services.send_for_signature(
        document, signers=signers, expires_in_days=expires_in_days, user=user
    )
    quote.save(update_fields=["document", "status", "sent_at", "updated_at"])
    return quote


@transaction.atomic
def accept_quotes_signed_through(document) -> list[Quote]:
    """Accept the quotes sent as this document once every signer signed."""
    # A signature is the customer's acceptance, even when it lands after the validity date.
    quotes = list(
        Quote.objects.select_for_update().filter(
            document=document, status__in=[Quote.Status.SENT, Quote.Status.EXPIRED]
        )
    )
    return [_accept(quote) for quote in quotes]


def settle_quotes_signed_through(document, *, outcome: str) -> list[Quote]:
    """Accept or decline the quotes sent as this document as its signing finished (documents announces it)."""
    if outcome == Document.Status.COMPLETED:
        return accept_quotes_signed_through(document)
    if outcome == Document.Status.DECLINED:
        return decline_quotes_signed_through(document)
    return []
