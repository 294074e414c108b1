"""Documents sent to customers, and their e-signatures."""

from django.conf import settings
from django.db import models

from tenancy.models import TenantModel
from tenancy.roles import RECORDS

USER = settings.AUTH_USER_MODEL


class Document(TenantModel):
    """A file sent to a contact or deal, optionally for signature by one or more signers in order."""

    role_rule = RECORDS

    class Status(models.TextChoices):
        DRAFT = "draft", "Draft"
        SENT = "sent", "Sent for signature"
        COMPLETED = "completed", "Completed"
        DECLINED = "declined", "Declined"
        EXPIRED = "expired", "Expired"
        VOIDED = "voided", "Voided"

    user = models.ForeignKey(USER, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    name = models.CharField(max_length=255)
    file = models.ForeignKey("files.File", on_delete=models.PROTECT, related_name="documents")
    contact = models.ForeignKey(
        "crm.Contact", null=True, blank=True, on_delete=models.SET_NULL, related_name="documents"
    )
    deal = models.ForeignKey(
        "crm.Deal", null=True, blank=True, on_delete=models.SET_NULL, related_name="documents"
    )
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.DRAFT)
    message = models.TextField(
        blank=True, help_text="Shown to signers in the e-mail and on the signing page."
    )
    sha256_at_send = models.CharField(max_length=64, blank=True, help_text="The file's SHA-256 when sent.")
    sent_at = models.DateTimeField(null=True, blank=True)
    completed_at = models.DateTimeField(null=True, blank=True)
    expires_at = models.DateTimeField(null=True, blank=True)

    class Meta(TenantModel.Meta):
        db_table = "documents"
        indexes = [
            models.Index(fields=["company", "status"], name="documents_company_status"),
            models.Index(fields=["company", "-created_at"], name="documents_company_created"),
        ]

    def __str__(self) -> str:
        return self.name


class DocumentSignature(TenantModel):
    """One signer's request: an unguessable, expiring, single-use link that grants this one signature."""

    role_rule = RECORDS

    class Status(models.TextChoices):
        PENDING = "pending", "Waiting for earlier signers"
        SENT = "sent", "Sent"
        VIEWED = "viewed", "Viewed"
        SIGNED = "signed", "Signed"
        DECLINED = "declined", "Declined"
        EXPIRED = "expired", "Expired"
        VOIDED = "voided", "Voided"

    document = models.ForeignKey(Document, on_delete=models.CASCADE, related_name="signatures")
    order = models.PositiveSmallIntegerField(help_text="Signers sign in this order, 1 first.")
    signer_name = models.CharField(max_length=200)
    signer_email = models.EmailField()
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING)
    # Only a hash of the link's token is stored: a database reader cannot sign on anyone's behalf.
    token_hash = models.CharField(max_length=64, unique=True, null=True, blank=True)
    token_expires_at = models.DateTimeField(null=True, blank=True)
    token_used_at = models.DateTimeField(null=True, blank=True)
    sent_at = models.DateTimeField(null=True, blank=True)
    viewed_at = models.DateTimeField(null=True, blank=True)
    signed_at = models.DateTimeField(null=True, blank=True)
    declined_at = models.DateTimeField(null=True, blank=True)
    decline_reason = models.TextField(blank=True)
    typed_name = models.CharField(max_length=200, blank=True)
    signature_image = models.TextField(blank=True, help_text="A drawn signature as a PNG data URL.")
    document_sha256 = models.CharField(max_length=64, blank=True, help_text="The SHA-256 the signer signed.")
    events = models.JSONField(
        default=list, blank=True, help_text="Every event: {event, at, ip, user_agent}, in order."
    )

    class Meta(TenantModel.Meta):
        db_table = "document_signatures"
        ordering = ["document", "order"]
        constraints = [
            models.UniqueConstraint(
                fields=["document", "order"],
                condition=models.Q(is_deleted=False),
                name="signature_order_unique",
            )
        ]

    def __str__(self) -> str:
        return f"{self.signer_name} <{self.signer_email}>"
