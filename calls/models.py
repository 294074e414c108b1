"""Voice calls through Twilio: the call log, recordings and voicemail."""

from django.conf import settings
from django.db import models

from messaging.models import Direction, PhoneNumber
from tenancy.models import TenantModel
from tenancy.roles import RECORDS


class Call(TenantModel):
    """One inbound or outbound call of a company number."""

    role_rule = RECORDS

    class Status(models.TextChoices):
        QUEUED = "queued", "Queued"
        INITIATED = "initiated", "Initiated"
        RINGING = "ringing", "Ringing"
        IN_PROGRESS = "in-progress", "In progress"
        COMPLETED = "completed", "Completed"
        BUSY = "busy", "Busy"
        NO_ANSWER = "no-answer", "No answer"
        FAILED = "failed", "Failed"
        CANCELED = "canceled", "Canceled"

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    contact = models.ForeignKey(
        "crm.Contact", null=True, blank=True, on_delete=models.SET_NULL, related_name="calls"
    )
    phone_number = models.ForeignKey(
        PhoneNumber, null=True, blank=True, on_delete=models.SET_NULL, related_name="calls"
    )
    direction = models.CharField(max_length=8, choices=Direction.choices)
    from_number = models.CharField(max_length=16)
    to_number = models.CharField(max_length=16)
    status = models.CharField(max_length=12, choices=Status.choices, default=Status.QUEUED)
    twilio_sid = models.CharField(max_length=34, null=True, blank=True, unique=True)
    started_at = models.DateTimeField(null=True, blank=True)
    answered_at = models.DateTimeField(null=True, blank=True)
    ended_at = models.DateTimeField(null=True, blank=True)
    duration_seconds = models.PositiveIntegerField(null=True, blank=True)
    recording_sid = models.CharField(max_length=34, blank=True)
    recording_url = models.URLField(max_length=500, blank=True)
    recording_duration_seconds = models.PositiveIntegerField(null=True, blank=True)
    is_voicemail = models.BooleanField(default=False)
    error_message = models.CharField(max_length=500, blank=True)
    notes = models.TextField(blank=True)
    attempts = models.PositiveSmallIntegerField(default=0)

    class Meta(TenantModel.Meta):
        db_table = "calls"
        indexes = [
            models.Index(fields=["company", "-created_at"], name="calls_company_created"),
            models.Index(fields=["company", "user", "-created_at"], name="calls_company_user_created"),
            models.Index(fields=["company", "contact"], name="calls_company_contact"),
        ]

    def __str__(self) -> str:
        return f"{self.direction} call {self.from_number} → {self.to_number}"
