"""Twilio settings, phone numbers, SMS, e-mail, templates, campaigns and notifications."""

from datetime import timedelta

from django.conf import settings
from django.core.validators import RegexValidator
from django.db import models
from django.utils import timezone

from core.encryption import EncryptedTextField
from core.validators import e164
from tenancy.managers import TenantManager
from tenancy.models import TenantModel
from tenancy.roles import COMPANY_SETTINGS, PERSONAL, RECORDS

account_sid = RegexValidator(r"^AC[0-9a-fA-F]{32}$", "A Twilio account SID is AC followed by 32 hex digits.")

USER = settings.AUTH_USER_MODEL


class TwilioSettings(TenantModel):
    """A company's own Twilio account; the auth token is encrypted at rest and never returned."""

    role_rule = COMPANY_SETTINGS

    account_sid = models.CharField(max_length=34, validators=[account_sid])
    auth_token = EncryptedTextField()
    last_tested_at = models.DateTimeField(null=True, blank=True)
    last_test_ok = models.BooleanField(null=True, blank=True)
    last_test_error = models.CharField(max_length=500, blank=True)

    class Meta(TenantModel.Meta):
        db_table = "twilio_settings"
        verbose_name_plural = "Twilio settings"
        constraints = [
            models.UniqueConstraint(
                fields=["company"],
                condition=models.Q(is_deleted=False),
                name="twilio_settings_one_per_company",
            )
        ]

    def __str__(self) -> str:
        return f"Twilio {self.account_sid}"

    @property
    def auth_token_hint(self) -> str:
        """The last four characters, enough to recognise a token without revealing it."""
        return f"••••{self.auth_token[-4:]}" if self.auth_token else ""


class PhoneNumber(TenantModel):
    """A number the company owns at Twilio; calls and texts to it belong to the company."""

    role_rule = COMPANY_SETTINGS

    number = models.CharField(max_length=16, validators=[e164])
    friendly_name = models.CharField(max_length=100, blank=True)
    sms_enabled = models.BooleanField(default=True)
    voice_enabled = models.BooleanField(default=True)
    user = models.ForeignKey(
        USER,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        help_text="Default owner: inbound calls ring this user, inbound texts notify them.",
    )
    twilio_sid = models.CharField(max_length=34, blank=True)

    class Meta(TenantModel.Meta):
        db_table = "phone_numbers"
        ordering = ["number"]
        constraints = [
            # A number belongs to one company only, across the whole platform.
            models.UniqueConstraint(
                fields=["number"], condition=models.Q(is_deleted=False), name="phone_number_registered_once"
            )
        ]
        indexes = [
            models.Index(fields=["company", "number"], name="phone_numbers_company_number"),
            # Deleted numbers by number, for the reservation check across companies; lists, which
            # read live rows only, can never use it.
            models.Index(
                fields=["number"], condition=models.Q(is_deleted=True), name="phone_numbers_released_number"
            ),
        ]

    def __str__(self) -> str:
        return self.number


class HeldNumberManager(TenantManager):
    """Rows that hold their number: live ones, and deleted ones still in PHONE_NUMBER_RESERVATION_DAYS."""

    def get_queryset(self):
        # A deleted row's `updated_at` is when it was deleted: every soft delete (of a row or a
        # queryset) sets it, and no scoped query reaches a deleted row to change it afterwards.
        # Distinct, so a company holding a number twice (live, and deleted before) is one holder.
        released_since = timezone.now() - timedelta(days=settings.PHONE_NUMBER_RESERVATION_DAYS)
        holding = models.Q(is_deleted=False) | models.Q(is_deleted=True, updated_at__gt=released_since)
        return self.including_deleted().filter(holding).distinct()


class HeldPhoneNumber(PhoneNumber):
    """Phone numbers as the registration check sees them: whichever company holds one, if any."""

    objects = HeldNumberManager()

    class Meta:
        proxy = True
        # Unordered: the check reads distinct company ids, which an ORDER BY column would multiply.
        ordering = []


class Direction(models.TextChoices):
    INBOUND = "inbound", "Inbound"
    OUTBOUND = "outbound", "Outbound"


class SmsMessage(TenantModel):
    """One text message to or from a company number."""

    role_rule = RECORDS

    class Status(models.TextChoices):
        QUEUED = "queued", "Queued"
        SENDING = "sending", "Sending"
        SENT = "sent", "Sent"
        DELIVERED = "delivered", "Delivered"
        UNDELIVERED = "undelivered", "Undelivered"
        FAILED = "failed", "Failed"
        RECEIVED = "received", "Received"

    user = models.ForeignKey(USER, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    contact = models.ForeignKey(
        "crm.Contact", null=True, blank=True, on_delete=models.SET_NULL, related_name="sms_messages"
    )
    phone_number = models.ForeignKey(
        PhoneNumber, null=True, blank=True, on_delete=models.SET_NULL, related_name="sms_messages"
    )
    direction = models.CharField(max_length=8, choices=Direction.choices)
    from_number = models.CharField(max_length=16)
    to_number = models.CharField(max_length=16)
    body = models.TextField(max_length=1600)
    status = models.CharField(max_length=12, choices=Status.choices, default=Status.QUEUED)
    twilio_sid = models.CharField(max_length=34, null=True, blank=True, unique=True)
    error_code = models.CharField(max_length=10, blank=True)
    error_message = models.CharField(max_length=500, blank=True)
    sent_at = models.DateTimeField(null=True, blank=True)
    delivered_at = models.DateTimeField(null=True, blank=True)
    read_at = models.DateTimeField(null=True, blank=True)
    attempts = models.PositiveSmallIntegerField(default=0)

    class Meta(TenantModel.Meta):
        db_table = "sms_messages"
        indexes = [
            models.Index(fields=["company", "-created_at"], name="sms_company_created"),
            models.Index(fields=["company", "contact", "-created_at"], name="sms_company_contact_created"),
            models.Index(fields=["company", "status", "created_at"], name="sms_company_status_created"),
        ]

    def __str__(self) -> str:
        return f"{self.direction} SMS {self.from_number} → {self.to_number}"


class EmailTemplate(TenantModel):
    """A reusable e-mail with merge fields such as {{ contact.first_name }}."""

    role_rule = RECORDS

    user = models.ForeignKey(USER, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    name = models.CharField(max_length=200)
    subject = models.CharField(max_length=300)
    body_text = models.TextField()
    body_html = models.TextField(blank=True)

    class Meta(TenantModel.Meta):
        db_table = "email_templates"
        ordering = ["name"]
        constraints = [
            models.UniqueConstraint(
                fields=["company", "name"],
                condition=models.Q(is_deleted=False),
                name="email_template_name_unique",
            )
        ]

    def __str__(self) -> str:
        return self.name


class EmailCampaign(TenantModel):
    """A template sent to the contacts a filter selects, now or at a scheduled time."""

    role_rule = COMPANY_SETTINGS

    class Status(models.TextChoices):
        DRAFT = "draft", "Draft"
        SCHEDULED = "scheduled", "Scheduled"
        SENDING = "sending", "Sending"
        SENT = "sent", "Sent"
        CANCELLED = "cancelled", "Cancelled"

    # A campaign that may still send: it can be cancelled, and its template cannot be deleted.
    UNFINISHED = (Status.DRAFT, Status.SCHEDULED, Status.SENDING)

    user = models.ForeignKey(USER, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    name = models.CharField(max_length=200)
    template = models.ForeignKey(EmailTemplate, on_delete=models.PROTECT, related_name="campaigns")
    recipient_filter = models.JSONField(
        default=dict, blank=True, help_text="Contact filter, as the /api/contacts query parameters."
    )
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.DRAFT)
    scheduled_at = models.DateTimeField(null=True, blank=True)
    started_at = models.DateTimeField(null=True, blank=True)
    completed_at = models.DateTimeField(null=True, blank=True)

    class Meta(TenantModel.Meta):
        db_table = "email_campaigns"
        indexes = [models.Index(fields=["status", "scheduled_at"], name="email_campaigns_due")]

    def __str__(self) -> str:
        return self.name


class Email(TenantModel):
    """One e-mail to one recipient: composed by a user, or one recipient of a campaign."""

    role_rule = RECORDS

    class Status(models.TextChoices):
        QUEUED = "queued", "Queued"
        SENDING = "sending", "Sending"
        SENT = "sent", "Sent"
        FAILED = "failed", "Failed"

    user = models.ForeignKey(USER, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    contact = models.ForeignKey(
        "crm.Contact", null=True, blank=True, on_delete=models.SET_NULL, related_name="emails"
    )
    deal = models.ForeignKey(
        "crm.Deal", null=True, blank=True, on_delete=models.SET_NULL, related_name="emails"
    )
    template = models.ForeignKey(
        EmailTemplate, null=True, blank=True, on_delete=models.SET_NULL, related_name="emails"
    )
    campaign = models.ForeignKey(
        EmailCampaign, null=True, blank=True, on_delete=models.CASCADE, related_name="emails"
    )
    to_email = models.EmailField()
    subject = models.CharField(max_length=300)
    body_text = models.TextField()
    body_html = models.TextField(blank=True)
    status = models.CharField(max_length=8, choices=Status.choices, default=Status.QUEUED)
    error_message = models.CharField(max_length=500, blank=True)
    message_id = models.CharField(max_length=255, blank=True)
    sent_at = models.DateTimeField(null=True, blank=True)
    attempts = models.PositiveSmallIntegerField(default=0)

    class Meta(TenantModel.Meta):
        db_table = "emails"
        indexes = [
            models.Index(fields=["company", "-created_at"], name="emails_company_created"),
            models.Index(fields=["company", "campaign", "status"], name="emails_company_campaign"),
            models.Index(fields=["company", "status", "created_at"], name="emails_company_status"),
        ]
        constraints = [
            # A campaign reaches each address once, however often it is dispatched.
            # Led by company like every index; it also reads a campaign's recipients in address order.
            models.UniqueConstraint(
                fields=["company", "campaign", "to_email"],
                condition=models.Q(campaign__isnull=False),
                name="email_campaign_recipient_once",
            )
        ]

    def __str__(self) -> str:
        return f"{self.subject} → {self.to_email}"


class Notification(TenantModel):
    """Something a user should look at: an inbound text, a missed call, a failed send."""

    role_rule = PERSONAL

    class Kind(models.TextChoices):
        SMS_RECEIVED = "sms_received", "SMS received"
        MISSED_CALL = "missed_call", "Missed call"
        VOICEMAIL = "voicemail", "Voicemail"
        SEND_FAILED = "send_failed", "Send failed"
        INFO = "info", "Information"

    user = models.ForeignKey(USER, on_delete=models.CASCADE, related_name="notifications")
    kind = models.CharField(max_length=20, choices=Kind.choices)
    title = models.CharField(max_length=200)
    body = models.TextField(blank=True)
    target_type = models.CharField(max_length=50, blank=True, help_text="e.g. sms_message, call, email")
    target_id = models.UUIDField(null=True, blank=True)
    read_at = models.DateTimeField(null=True, blank=True)

    class Meta(TenantModel.Meta):
        db_table = "notifications"
        indexes = [
            models.Index(fields=["company", "user", "read_at"], name="notifications_company_user"),
            models.Index(fields=["company", "user", "-created_at"], name="notifications_user_created"),
        ]

    def __str__(self) -> str:
        return self.title
