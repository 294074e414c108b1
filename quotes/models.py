"""Quotes with line items; totals are Decimal, rounded half-up to cents, and stored."""

from decimal import Decimal

from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models

from core.validators import currency_code
from tenancy.models import TenantModel
from tenancy.roles import RECORDS

USER = settings.AUTH_USER_MODEL
ZERO = Decimal("0.00")
# Money columns wide enough for any quote the API accepts: a line of at most 999999999.999 times
# 999999999999.99, doubled by a 100% tax, stays below 2 * 10**21, and 500 such lines below 10**24.
AMOUNT_DIGITS = 26


class Quote(TenantModel):
    """A priced offer to a customer, numbered per company."""

    role_rule = RECORDS

    class Status(models.TextChoices):
        DRAFT = "draft", "Draft"
        SENT = "sent", "Sent"
        ACCEPTED = "accepted", "Accepted"
        DECLINED = "declined", "Declined"
        EXPIRED = "expired", "Expired"

    user = models.ForeignKey(USER, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    number = models.PositiveIntegerField(help_text="Sequential within the company: 1, 2, 3, ...")
    title = models.CharField(max_length=200, blank=True)
    contact = models.ForeignKey(
        "crm.Contact", null=True, blank=True, on_delete=models.SET_NULL, related_name="quotes"
    )
    account = models.ForeignKey(
        "crm.Account", null=True, blank=True, on_delete=models.SET_NULL, related_name="quotes"
    )
    deal = models.ForeignKey(
        "crm.Deal", null=True, blank=True, on_delete=models.SET_NULL, related_name="quotes"
    )
    currency = models.CharField(max_length=3, default="USD", validators=[currency_code])
    valid_until = models.DateField(null=True, blank=True)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.DRAFT)
    notes = models.TextField(blank=True)
    subtotal = models.DecimalField(max_digits=AMOUNT_DIGITS, decimal_places=2, default=ZERO)
    discount_total = models.DecimalField(max_digits=AMOUNT_DIGITS, decimal_places=2, default=ZERO)
    tax_total = models.DecimalField(max_digits=AMOUNT_DIGITS, decimal_places=2, default=ZERO)
    total = models.DecimalField(max_digits=AMOUNT_DIGITS, decimal_places=2, default=ZERO)
    document = models.ForeignKey(
        "documents.Document",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="quotes",
        help_text="The signature document this quote was sent as.",
    )
    sent_at = models.DateTimeField(null=True, blank=True)
    accepted_at = models.DateTimeField(null=True, blank=True)

    class Meta(TenantModel.Meta):
        db_table = "quotes"
        ordering = ["-number"]
        constraints = [
            models.UniqueConstraint(fields=["company", "number"], name="quote_number_unique_in_company"),
        ]
        indexes = [models.Index(fields=["company", "status"], name="quotes_company_status")]

    def __str__(self) -> str:
        return f"Quote {self.number}"


class QuoteLineItem(TenantModel):
    """One priced line: quantity times unit price, less a discount, plus tax."""

    role_rule = RECORDS

    quote = models.ForeignKey(Quote, on_delete=models.CASCADE, related_name="line_items")
    position = models.PositiveSmallIntegerField(default=0)
    description = models.CharField(max_length=500)
    quantity = models.DecimalField(max_digits=12, decimal_places=3, validators=[MinValueValidator(0)])
    unit_price = models.DecimalField(max_digits=14, decimal_places=2, validators=[MinValueValidator(0)])
    discount_percent = models.DecimalField(
        max_digits=5,
        decimal_places=2,
        default=ZERO,
        validators=[MinValueValidator(0), MaxValueValidator(100)],
    )
    tax_rate = models.DecimalField(
        max_digits=5,
        decimal_places=2,
        default=ZERO,
        validators=[MinValueValidator(0), MaxValueValidator(100)],
        help_text="Percent, e.g. 20.00 for 20%.",
    )
    subtotal = models.DecimalField(max_digits=AMOUNT_DIGITS, decimal_places=2, default=ZERO)
    discount_amount = models.DecimalField(max_digits=AMOUNT_DIGITS, decimal_places=2, default=ZERO)
    tax_amount = models.DecimalField(max_digits=AMOUNT_DIGITS, decimal_places=2, default=ZERO)
    total = models.DecimalField(max_digits=AMOUNT_DIGITS, decimal_places=2, default=ZERO)

    class Meta(TenantModel.Meta):
        db_table = "quote_line_items"
        ordering = ["quote", "position"]
        indexes = [models.Index(fields=["company", "quote", "position"], name="quote_items_company_quote")]

    def __str__(self) -> str:
        return self.description
