"""Admin pages of documents: documents with their signers, and each signature's trail (read-only)."""

from django.contrib import admin

from tenancy.admin import TenantModelAdmin

from .models import Document, DocumentSignature

SIGNATURE_RECORD = [
    "document",
    "order",
    "signer_name",
    "signer_email",
    "status",
    "token_expires_at",
    "token_used_at",
    "sent_at",
    "viewed_at",
    "signed_at",
    "declined_at",
    "decline_reason",
    "typed_name",
    "document_sha256",
    "events",
]


class DocumentSignatureInline(admin.TabularInline):
    """A document's signers; signatures change only through the signing link and the API."""

    model = DocumentSignature
    fields = ["order", "signer_name", "signer_email", "status", "sent_at", "viewed_at", "signed_at"]
    readonly_fields = fields
    extra = 0
    show_change_link = True

    def has_view_permission(self, request, obj=None):
        user = request.user
        return user.is_active and user.is_staff and (user.is_platform_admin or user.company_id is not None)

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(Document)
class DocumentAdmin(TenantModelAdmin):
    list_display = ["name", "status", "contact", "deal", "user", "sent_at", "completed_at"]
    list_filter = ["status"]
    search_fields = ["name", "contact__last_name", "deal__name"]
    date_hierarchy = "created_at"
    list_select_related = ["contact", "deal", "user"]
    readonly_fields = ["status", "sha256_at_send", "sent_at", "completed_at", "expires_at"]
    inlines = [DocumentSignatureInline]

    def get_readonly_fields(self, request, obj=None):
        readonly = list(super().get_readonly_fields(request, obj))
        if obj is not None and obj.status != Document.Status.DRAFT:
            # The file signers were asked to sign stays the one whose SHA-256 was fixed.
            readonly.append("file")
        return readonly


@admin.register(DocumentSignature)
class DocumentSignatureAdmin(TenantModelAdmin):
    """The audit trail of each signature; read-only, since a signature is given by its signer."""

    list_display = ["signer_name", "signer_email", "document", "order", "status", "signed_at"]
    list_filter = ["status"]
    search_fields = ["signer_name", "signer_email", "document__name"]
    list_select_related = ["document"]
    fields = SIGNATURE_RECORD
    readonly_fields = SIGNATURE_RECORD

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False  # the audit trail of a signature outlives whoever would tidy it
