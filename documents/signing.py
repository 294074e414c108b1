"""The public signing link: a signer opens, reads, signs or declines a document through their token.

A link is found by the SHA-256 of its token, inside the company that owns it. What a link may not
do is a SigningRefused carrying its HTTP status (409 or 410); bad input is a ValidationError (400).
When the last signer signs, or one declines, the outcome is announced (documents.announcements).
"""

import base64
import binascii
import logging

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from files import services as file_services
from tenancy.resolution import company_for_key

from .announcements import announce_signing_finished
from .models import Document, DocumentSignature
from .services import (
    SYSTEM,
    Requester,
    SignatureStatus,
    append_event,
    expire_document,
    hash_token,
    locked_document,
    request_signature,
    tell_owner,
    void_outstanding,
)

logger = logging.getLogger("documents")

# A token_urlsafe(32) is 43 characters; anything much longer is not one of ours.
MAX_TOKEN_LENGTH = 100
PNG_DATA_URL_PREFIX = "data:image/png;base64,"
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
SIGNATURE_IMAGE_MAX_BYTES = 200 * 1024
MAX_DECLINE_REASON = 2000
CHANGED_SINCE_SENT = (
    "The document changed after it was sent, so it cannot be signed; ask the sender for a new one."
)


class SigningRefused(Exception):
    """A signing link may not do what was asked; `status` is the HTTP answer (409 or 410)."""

    def __init__(self, message: str, *, status: int):
        super().__init__(message)
        self.message = message
        self.status = status


def company_for_signing_token(token: str):
    """The company owning a signing token, or None: found by its hash alone, unaudited."""
    if not token or len(token) > MAX_TOKEN_LENGTH:
        return None
    return company_for_key(DocumentSignature, "token_hash", hash_token(token))


def signature_for_token(token: str) -> DocumentSignature | None:
    """Inside the token's company: its signature; None when unknown, deleted or the company deactivated."""
    if not token or len(token) > MAX_TOKEN_LENGTH:
        return None
    signature = (
        DocumentSignature.objects.select_related("document", "document__file", "company")
        .filter(token_hash=hash_token(token))
        .first()
    )
    if signature is None or signature.document.is_deleted or not signature.company.is_active:
        return None
    return signature


def _overdue(signature: DocumentSignature) -> bool:
    deadline = signature.token_expires_at or signature.document.expires_at
    return deadline is not None and deadline <= timezone.now()


def check_link(signature: DocumentSignature, *, to_act: bool) -> None:
    """Raise SigningRefused unless the link may be read (to_act=False) or used to act or download.

    A signed or declined link stays readable (its final state) and does nothing more; an expired
    link marks its signature and document expired.
    """
    status = signature.status
    if status == SignatureStatus.VOIDED or signature.document.status == Document.Status.VOIDED:
        raise SigningRefused("This signing request was withdrawn by the sender.", status=410)
    if status == SignatureStatus.EXPIRED:
        raise SigningRefused("This signing link has expired.", status=410)
    if status == SignatureStatus.PENDING:
        raise SigningRefused(
            "This document is waiting for earlier signers; you will get an e-mail when it is your turn.",
            status=409,
        )
    if status in (SignatureStatus.SIGNED, SignatureStatus.DECLINED):
        if to_act:
            raise SigningRefused("This signing link has already been used.", status=410)
        return
    if _overdue(signature):
        expire_document(signature.document)
        raise SigningRefused("This signing link has expired.", status=410)
    if signature.document.status != Document.Status.SENT:
        raise SigningRefused("This document is no longer out for signature.", status=410)


def _reload(signature: DocumentSignature) -> DocumentSignature:
    return DocumentSignature.objects.select_related("document", "document__file", "company").get(
        pk=signature.pk
    )


def open_signature(signature: DocumentSignature, *, requester: Requester = SYSTEM) -> DocumentSignature:
    """What the signer's link shows; the first look is recorded as `viewed`."""
    check_link(signature, to_act=False)
    if signature.status == SignatureStatus.SENT:
        _record_first_view(signature, requester)
        signature = _reload(signature)
    return signature


@transaction.atomic
def _record_first_view(signature: DocumentSignature, requester: Requester) -> None:
    locked = DocumentSignature.objects.select_for_update().get(pk=signature.pk)
    if locked.status != SignatureStatus.SENT:
        return
    locked.status = SignatureStatus.VIEWED
    locked.viewed_at = timezone.now()
    append_event(locked, "viewed", requester)
    locked.save(update_fields=["status", "viewed_at", "events", "updated_at"])


def open_document_for_signer(signature: DocumentSignature, *, requester: Requester = SYSTEM):
    """The document's file and its bytes opened for a signer whose turn it is; refused once used."""
    check_link(signature, to_act=True)
    if signature.status == SignatureStatus.SENT:
        _record_first_view(signature, requester)
    document = signature.document
    if file_services.current_sha256(document.file) != document.sha256_at_send:
        raise SigningRefused(CHANGED_SINCE_SENT, status=409)
    return document.file, file_services.open_file(document.file)


def clean_signature_input(*, typed_name: str = "", signature_image: str = "") -> tuple[str, str]:
    """A typed name and/or a drawn PNG signature, checked; a ValidationError naming the problem."""
    typed_name = " ".join((typed_name or "").split())
    signature_image = (signature_image or "").strip()
    errors = {}
    if len(typed_name) > DocumentSignature._meta.get_field("typed_name").max_length:
        errors["typed_name"] = ["A typed name has at most 200 characters."]
    if signature_image:
        problem = _png_data_url_problem(signature_image)
        if problem:
            errors["signature_image"] = [problem]
    if not errors and not typed_name and not signature_image:
        errors["typed_name"] = ["Type your name or draw your signature to sign."]
    if errors:
        raise ValidationError(errors)
    return typed_name, signature_image


def _png_data_url_problem(value: str) -> str | None:
    if not value.startswith(PNG_DATA_URL_PREFIX):
        return "A drawn signature is a PNG data URL (data:image/png;base64,...)."
    encoded = value[len(PNG_DATA_URL_PREFIX) :]
    if len(encoded) > SIGNATURE_IMAGE_MAX_BYTES * 4 // 3 + 4:
        return f"A drawn signature is at most {SIGNATURE_IMAGE_MAX_BYTES // 1024} KB."
    try:
        raw = base64.b64decode(encoded, validate=True)
    except (binascii.Error, ValueError):
        return "The drawn signature is not valid base64."
    if len(raw) > SIGNATURE_IMAGE_MAX_BYTES:
        return f"A drawn signature is at most {SIGNATURE_IMAGE_MAX_BYTES // 1024} KB."
    if not raw.startswith(PNG_MAGIC):
        return "The drawn signature is not a PNG image."
    return None


def _locked_for_action(signature: DocumentSignature) -> tuple[Document, DocumentSignature]:
    """The document, then the signature, locked (always in this order) and checked to act."""
    document = locked_document(signature.document)
    locked = DocumentSignature.objects.select_for_update().get(pk=signature.pk)
    locked.document = document
    check_link(locked, to_act=True)
    return document, locked


def sign(
    signature: DocumentSignature,
    *,
    typed_name: str = "",
    signature_image: str = "",
    requester: Requester = SYSTEM,
) -> DocumentSignature:
    """Sign with a typed name or a drawn image, if the file is unchanged since sending; next signer's turn."""
    check_link(signature, to_act=True)
    typed_name, signature_image = clean_signature_input(
        typed_name=typed_name, signature_image=signature_image
    )
    with transaction.atomic():
        document, locked = _locked_for_action(signature)
        digest = file_services.current_sha256(document.file)
        if digest != document.sha256_at_send:
            logger.warning("document %s changed after sending; signature %s refused", document.pk, locked.pk)
            raise SigningRefused(
                CHANGED_SINCE_SENT,
                status=409,
            )
        now = timezone.now()
        locked.status = SignatureStatus.SIGNED
        locked.signed_at = now
        locked.token_used_at = now
        locked.typed_name = typed_name
        locked.signature_image = signature_image
        locked.document_sha256 = digest
        append_event(
            locked, "signed", requester, method="drawn" if signature_image else "typed", sha256=digest
        )
        locked.save(
            update_fields=[
                "status",
                "signed_at",
                "token_used_at",
                "typed_name",
                "signature_image",
                "document_sha256",
                "events",
                "updated_at",
            ]
        )
        following = (
            document.signatures.select_for_update()
            .filter(status=SignatureStatus.PENDING)
            .order_by("order")
            .first()
        )
        if following is not None:
            request_signature(following, document, requester=SYSTEM, after=locked.signer_email)
        else:
            _complete(document)
    return _reload(locked)


def _complete(document: Document) -> None:
    document.status = Document.Status.COMPLETED
    document.completed_at = timezone.now()
    document.save(update_fields=["status", "completed_at", "updated_at"])
    announce_signing_finished(document, outcome=Document.Status.COMPLETED)
    signers = ", ".join(signature.signer_name for signature in document.signatures.order_by("order"))
    tell_owner(document, title=f"{document.name} is signed", body=f"Signed by everyone: {signers}.")


def decline(
    signature: DocumentSignature, *, reason: str = "", requester: Requester = SYSTEM
) -> DocumentSignature:
    """Decline to sign: the document is declined and every other outstanding signature voided."""
    check_link(signature, to_act=True)
    reason = (reason or "").strip()
    if len(reason) > MAX_DECLINE_REASON:
        raise ValidationError({"reason": [f"A reason has at most {MAX_DECLINE_REASON} characters."]})
    with transaction.atomic():
        document, locked = _locked_for_action(signature)
        now = timezone.now()
        locked.status = SignatureStatus.DECLINED
        locked.declined_at = now
        locked.token_used_at = now
        locked.decline_reason = reason
        append_event(locked, "declined", requester, reason=reason)
        locked.save(
            update_fields=["status", "declined_at", "token_used_at", "decline_reason", "events", "updated_at"]
        )
        void_outstanding(document, requester=SYSTEM, reason=f"{locked.signer_name} declined to sign.")
        document.status = Document.Status.DECLINED
        document.save(update_fields=["status", "updated_at"])
        announce_signing_finished(document, outcome=Document.Status.DECLINED)
        tell_owner(
            document,
            title=f"{locked.signer_name} declined to sign {document.name}",
            body=f"Reason: {reason}" if reason else "No reason was given.",
        )
    return _reload(locked)
