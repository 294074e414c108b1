"""The sales core: accounts (customer organisations), contacts and deals."""

from decimal import Decimal

from django.conf import settings
from django.core.validators import MinValueValidator
from django.db import models

from core.phones import PhoneNumberField
from core.validators import currency_code
from tenancy.models import TenantModel
from tenancy.roles import RECORDS


class Account(TenantModel):
    """A customer organisation that the company sells to."""

    role_rule = RECORDS

    name = models.CharField(max_length=200)
    domain = models.CharField(max_length=200, blank=True)
    industry = models.CharField(max_length=100, blank=True)
    phone = PhoneNumberField(blank=True)
    website = models.URLField(blank=True)
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta(TenantModel.Meta):
        db_table = "accounts"
        ordering = ["name"]
        indexes = [models.Index(fields=["company", "name"], name="accounts_company_name")]

    def __str__(self) -> str:
        return self.name


class Contact(TenantModel):
    """A person at a customer organisation."""

    role_rule = RECORDS

    first_name = models.CharField(max_length=100)
    last_name = models.CharField(max_length=100, blank=True)
    email = models.EmailField(blank=True)
    phone = PhoneNumberField(blank=True)
    title = models.CharField(max_length=100, blank=True)
    account = models.ForeignKey(
        Account, null=True, blank=True, on_delete=models.SET_NULL, related_name="contacts"
    )
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    notes = models.TextField(blank=True)
    sms_opted_out = models.BooleanField(default=False, help_text="Replied STOP: no SMS may be sent.")
    sms_opted_out_at = models.DateTimeField(null=True, blank=True)

    class Meta(TenantModel.Meta):
        db_table = "contacts"
        ordering = ["last_name", "first_name"]
        indexes = [
            models.Index(fields=["company", "last_name", "first_name"], name="contacts_company_name"),
            models.Index(fields=["company", "email"], name="contacts_company_email"),
            models.Index(fields=["company", "phone"], name="contacts_company_phone"),
        ]

    def __str__(self) -> str:
        return f"{self.first_name} {self.last_name}".strip()

    @property
    def full_name(self) -> str:
        return str(self)


class Deal(TenantModel):
    """A sales opportunity moving through the pipeline."""

    role_rule = RECORDS

    class Stage(models.TextChoices):
        LEAD = "lead", "Lead"
        QUALIFIED = "qualified", "Qualified"
        PROPOSAL = "proposal", "Proposal"
        NEGOTIATION = "negotiation", "Negotiation"
        WON = "won", "Won"
        LOST = "lost", "Lost"

    # Likelihood of closing at each stage, used to weight the open pipeline.
    STAGE_PROBABILITY = {
        Stage.LEAD: Decimal("0.10"),
        Stage.QUALIFIED: Decimal("0.25"),
        Stage.PROPOSAL: Decimal("0.50"),
        Stage.NEGOTIATION: Decimal("0.75"),
        Stage.WON: Decimal("1.00"),
        Stage.LOST: Decimal("0.00"),
    }
    CLOSED_STAGES = (Stage.WON, Stage.LOST)

    name = models.CharField(max_length=200)
    stage = models.CharField(max_length=20, choices=Stage.choices, default=Stage.LEAD)
    amount = models.DecimalField(
        max_digits=14, decimal_places=2, default=Decimal("0.00"), validators=[MinValueValidator(0)]
    )
    currency = models.CharField(max_length=3, default="USD", validators=[currency_code])
    expected_close_date = models.DateField(null=True, blank=True)
    closed_at = models.DateTimeField(null=True, blank=True)
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    contact = models.ForeignKey(
        Contact, null=True, blank=True, on_delete=models.SET_NULL, related_name="deals"
    )
    account = models.ForeignKey(
        Account, null=True, blank=True, on_delete=models.SET_NULL, related_name="deals"
    )

    class Meta(TenantModel.Meta):
        db_table = "deals"
        ordering = ["-created_at"]
        indexes = [
            models.Index(fields=["company", "stage"], name="deals_company_stage"),
            models.Index(fields=["company", "-created_at"], name="deals_company_created"),
        ]
        constraints = [
            models.CheckConstraint(condition=models.Q(amount__gte=0), name="deal_amount_not_negative")
        ]

    def __str__(self) -> str:
        return self.name

    @property
    def probability(self) -> Decimal:
        return self.STAGE_PROBABILITY[self.stage]

    @property
    def is_closed(self) -> bool:
        return self.stage in self.CLOSED_STAGES


class DealStageChange(TenantModel):
    """A deal moved from one stage to another: the pipeline's history, written by the sales services."""

    role_rule = RECORDS

    deal = models.ForeignKey(Deal, on_delete=models.CASCADE, related_name="stage_changes")
    from_stage = models.CharField(max_length=20, choices=Deal.Stage.choices)
    to_stage = models.CharField(max_length=20, choices=Deal.Stage.choices)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta(TenantModel.Meta):
        db_table = "deal_stage_changes"
        indexes = [models.Index(fields=["company", "deal", "-created_at"], name="deal_stage_changes_deal")]

    def __str__(self) -> str:
        return f"{self.deal_id}: {self.from_stage} → {self.to_stage}"


class Note(TenantModel):
    """A note a user writes about a contact, an account or a deal (exactly one of them)."""

    role_rule = RECORDS

    body = models.TextField(max_length=10000)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    contact = models.ForeignKey(Contact, null=True, blank=True, on_delete=models.CASCADE, related_name="+")
    account = models.ForeignKey(Account, null=True, blank=True, on_delete=models.CASCADE, related_name="+")
    deal = models.ForeignKey(Deal, null=True, blank=True, on_delete=models.CASCADE, related_name="+")

    class Meta(TenantModel.Meta):
        db_table = "notes"
        indexes = [
            models.Index(fields=["company", "-created_at"], name="notes_company_created"),
            models.Index(fields=["company", "contact", "-created_at"], name="notes_company_contact"),
            models.Index(fields=["company", "account", "-created_at"], name="notes_company_account"),
            models.Index(fields=["company", "deal", "-created_at"], name="notes_company_deal"),
        ]
        constraints = [
            models.CheckConstraint(
                condition=(
                    models.Q(contact__isnull=False, account__isnull=True, deal__isnull=True)
                    | models.Q(contact__isnull=True, account__isnull=False, deal__isnull=True)
                    | models.Q(contact__isnull=True, account__isnull=True, deal__isnull=False)
                ),
                name="note_about_exactly_one_record",
                violation_error_message="A note is about exactly one contact, account or deal.",
            )
        ]

    def __str__(self) -> str:
        return self.body[:60]
