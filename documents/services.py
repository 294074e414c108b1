"""Writes and rules of documents and e-signatures, staff side: drafts, sending in order, voiding, expiry.

A signer's link carries a random token; only its SHA-256 is stored. The token is drawn by the task
that e-mails it, when it is that signer's turn, so it exists nowhere but in that e-mail. Every
signer of a document shares the document's deadline (`expires_at`, fixed when it is sent). What a
signer does through their link (open, sign, decline) lives in documents.signing.

Rule violations of the staff API are django.core.exceptions.ValidationError (answered with a 400).
"""

import hashlib
import logging
import secrets
from dataclasses import dataclass
from datetime import timedelta
from email.utils import formataddr, parseaddr

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.mail import EmailMessage
from django.core.validators import validate_email
from django.db import transaction
from django.urls import reverse
from django.utils import timezone

from core.exceptions import StateConflict
from files import services as file_services
from messaging.models import Notification
from messaging.services import email as email_service
from messaging.services.notifications import notify
from tenancy.tasks import enqueue_after_commit

from .models import Document, DocumentSignature

logger = logging.getLogger("documents")

SignatureStatus = DocumentSignature.Status
MAX_SIGNERS = 20
MAX_LINK_DAYS = 365
# Signatures whose link is (or may be) out with the signer.
OUTSTANDING = (SignatureStatus.PENDING, SignatureStatus.SENT, SignatureStatus.VIEWED)
AWAITING_SIGNER = (SignatureStatus.SENT, SignatureStatus.VIEWED)


@dataclass(frozen=True)
class Requester:
    """Where an event came from: the request's address (REMOTE_ADDR) and browser."""

    ip: str | None = None
    user_agent: str = ""

    @classmethod
    def of(cls, request) -> "Requester":
        if request is None:
            return cls()
        return cls(
            ip=request.META.get("REMOTE_ADDR") or None,
            user_agent=request.META.get("HTTP_USER_AGENT", "")[:500],
        )


SYSTEM = Requester()


def hash_token(token: str) -> str:
    """What is stored of a signing token: its SHA-256, so a database reader cannot sign."""
    return hashlib.sha256(token.encode()).hexdigest()


def signing_url(token: str) -> str:
    """The public address of a signing link."""
    return f"{settings.PUBLIC_BASE_URL}{reverse('documents:sign', args=[token])}"


def append_event(signature: DocumentSignature, name: str, requester: Requester, **detail) -> None:
    """Add an event to a signature's trail; the caller saves the signature."""
    event = {
        "event": name,
        "at": timezone.now().isoformat(),
        "ip": requester.ip,
        "user_agent": requester.user_agent,
        **detail,
    }
    signature.events = [*signature.events, event]


def _state_of(document: Document) -> str:
    return document.get_status_display().lower()


def locked_document(document: Document) -> Document:
    """The document locked for the transaction (the row alone), with its file and owner."""
    return Document.objects.select_for_update(of=("self",)).select_related("file", "user").get(pk=document.pk)


# Drafts


def create_document(*, name: str, file, contact=None, deal=None, user=None, message: str = "") -> Document:
    """A draft document of the current company for a file, linked to a contact and/or a deal."""
    name = (name or "").strip()
    if not name:
        raise ValidationError({"name": ["A document needs a name."]})
    if file is None:
        raise ValidationError({"file": ["A document needs a file."]})
    return Document.objects.create(
        name=name, file=file, contact=contact, deal=deal, user=user, message=message or ""
    )


@transaction.atomic
def update_document(document: Document, **changes) -> Document:
    """Change a document's details; its file is fixed once it has been sent for signature."""
    stored = locked_document(document)
    new_file = changes.get("file")
    if new_file is not None and new_file.pk != stored.file_id and stored.status != Document.Status.DRAFT:
        raise ValidationError(
            {
                "file": [
                    f"The file of a {_state_of(stored)} document cannot change; "
                    "void it and send a new document instead."
                ]
            }
        )
    if "name" in changes and not (changes["name"] or "").strip():
        raise ValidationError({"name": ["A document needs a name."]})
    for field, value in changes.items():
        setattr(document, field, value)
    # Only the fields given are written, so a signer finishing meanwhile keeps the status they set.
    document.save(update_fields=[*changes, "updated_at"])
    document.status = stored.status
    return document


@transaction.atomic
def delete_document(document: Document, *, user=None) -> None:
    """Soft-delete a document; one out for signature is voided first, so its links stop working."""
    stored = locked_document(document)
    if stored.status == Document.Status.SENT:
        void_outstanding(stored, requester=SYSTEM, reason="The document was deleted.", user=user)
        stored.status = Document.Status.VOIDED
        stored.save(update_fields=["status", "updated_at"])
    stored.soft_delete()
    document.is_deleted = True


def may_manage(user, document: Document) -> bool:
    """Whether a user may void or resend a document: its owner, or the company's owners and admins."""
    return user is not None and (document.user_id == user.pk or bool(user.can_manage_company))


# Sending


def clean_signers(signers) -> list[dict]:
    """Signers as [{"name", "email"}] in signing order, each once; a ValidationError naming what is wrong.

    A person listed again (same address, any case) keeps their first place: one signature each.
    """
    if not isinstance(signers, list | tuple) or not signers:
        raise ValidationError({"signers": ["Give at least one signer with a name and an e-mail address."]})
    if len(signers) > MAX_SIGNERS:
        raise ValidationError({"signers": [f"A document has at most {MAX_SIGNERS} signers."]})
    cleaned, seen = [], set()
    for position, signer in enumerate(signers, start=1):
        if not isinstance(signer, dict):
            raise ValidationError({"signers": [f"Signer {position} is not an object with a name and email."]})
        name = str(signer.get("name") or "").strip()
        email = str(signer.get("email") or "").strip()
        if not name or len(name) > DocumentSignature._meta.get_field("signer_name").max_length:
            raise ValidationError({"signers": [f"Signer {position} needs a name of at most 200 characters."]})
        try:
            validate_email(email)
        except ValidationError:
            raise ValidationError(
                {"signers": [f"Signer {position} needs a valid e-mail address, not {email!r}."]}
            ) from None
        if email.lower() in seen:
            continue
        seen.add(email.lower())
        cleaned.append({"name": name, "email": email})
    return cleaned


def default_signers(document: Document) -> list[dict]:
    """The signer when none is named: the document's contact (or its deal's contact)."""
    contact = document.contact or (document.deal.contact if document.deal_id else None)
    if contact is None or not contact.email:
        raise ValidationError(
            {"signers": ["Name the signers: the document has no contact with an e-mail address."]}
        )
    return [{"name": contact.full_name or contact.email, "email": contact.email}]


@transaction.atomic
def send_for_signature(
    document: Document,
    *,
    signers: list[dict],
    expires_in_days: int | None = None,
    user=None,
    message: str | None = None,
    requester: Requester = SYSTEM,
) -> Document:
    """Send a draft to its signers in order: the file's SHA-256 is fixed, the first signer is e-mailed."""
    stored = locked_document(document)
    if stored.status != Document.Status.DRAFT:
        raise StateConflict(f"Only a draft can be sent for signature; this document is {_state_of(stored)}.")
    cleaned = clean_signers(signers)
    days = settings.SIGNING_LINK_DAYS if expires_in_days is None else expires_in_days
    if isinstance(days, bool) or not isinstance(days, int) or not 1 <= days <= MAX_LINK_DAYS:
        raise ValidationError(
            {"expires_in_days": [f"Give a whole number of days from 1 to {MAX_LINK_DAYS}."]}
        )
    digest = file_services.current_sha256(stored.file)
    if digest != stored.file.sha256:
        raise ValidationError(
            {"file": ["The stored file no longer matches the checksum taken at upload; upload it again."]}
        )
    now = timezone.now()
    stored.sha256_at_send = digest
    stored.status = Document.Status.SENT
    stored.sent_at = now
    stored.expires_at = now + timedelta(days=days)
    fields = ["sha256_at_send", "status", "sent_at", "expires_at", "updated_at"]
    if message is not None:
        stored.message = message
        fields.append("message")
    stored.save(update_fields=fields)
    signatures = [
        DocumentSignature.objects.create(
            document=stored, order=order, signer_name=signer["name"], signer_email=signer["email"]
        )
        for order, signer in enumerate(cleaned, start=1)
    ]
    sender = {"by": user.email} if user is not None else {}
    request_signature(signatures[0], stored, requester=requester, **sender)
    return stored


def request_signature(signature: DocumentSignature, document: Document, *, requester, **detail) -> None:
    """It is this signer's turn: record it as sent and e-mail a fresh link once the transaction commits."""
    signature.status = SignatureStatus.SENT
    signature.sent_at = timezone.now()
    signature.token_hash = None
    signature.token_used_at = None
    signature.token_expires_at = document.expires_at
    append_event(signature, "sent", requester, **detail)
    signature.save(
        update_fields=[
            "status",
            "sent_at",
            "token_hash",
            "token_used_at",
            "token_expires_at",
            "events",
            "updated_at",
        ]
    )
    _queue_request_email(signature)


def deliver_signature_request(signature_id) -> bool:
    """E-mail a signer their link, once: the row is claimed by storing the new token's hash.

    A redelivered task finds the hash already set and sends nothing. A failed send is recorded on
    the signature and the owner is told to resend.
    """
    token = secrets.token_urlsafe(32)
    claimed = DocumentSignature.objects.filter(
        pk=signature_id,
        status__in=AWAITING_SIGNER,
        token_hash__isnull=True,
        document__status=Document.Status.SENT,
    ).update(token_hash=hash_token(token), updated_at=timezone.now())
    if not claimed:
        return False
    signature = DocumentSignature.objects.select_related("document", "document__user", "company").get(
        pk=signature_id
    )
    try:
        _signature_request_email(signature, token).send()
    except Exception as error:
        logger.warning(
            "signature request %s to %s failed", signature.pk, signature.signer_email, exc_info=True
        )
        _record_send_failure(signature.pk, f"{type(error).__name__}: {error}"[:500])
        return False
    return True


def _from_address(user) -> str:
    address = parseaddr(settings.DEFAULT_FROM_EMAIL)[1] or settings.DEFAULT_FROM_EMAIL
    name = (user.full_name or user.email) if user is not None else ""
    return formataddr((name, address)) if name else settings.DEFAULT_FROM_EMAIL


def _signature_request_email(signature: DocumentSignature, token: str) -> EmailMessage:
    document, company, owner = signature.document, signature.company, signature.document.user
    deadline = timezone.localtime(signature.token_expires_at or document.expires_at).strftime(
        "%d %B %Y, %H:%M %Z"
    )
    lines = [
        f"Dear {signature.signer_name},",
        "",
        f"{company.name} asks you to sign {document.name}.",
    ]
    if document.message:
        lines += ["", document.message]
    lines += [
        "",
        "Read and sign it here (the link is yours alone; please do not forward it):",
        signing_url(token),
        "",
        f"The link works until {deadline}.",
        "If you did not expect this request, you can ignore this e-mail.",
    ]
    return EmailMessage(
        subject=f"{company.name}: please sign {document.name}"[:250],
        body="\n".join(lines),
        from_email=_from_address(owner),
        to=[signature.signer_email],
        reply_to=[owner.email] if owner is not None and owner.email else None,
    )


@transaction.atomic
def _record_send_failure(signature_id, error: str) -> None:
    signature = (
        DocumentSignature.objects.select_for_update(of=("self",))
        .select_related("document", "document__user")
        .get(pk=signature_id)
    )
    append_event(signature, "email_failed", SYSTEM, error=error)
    signature.save(update_fields=["events", "updated_at"])
    notify(
        signature.document.user,
        kind=Notification.Kind.SEND_FAILED,
        title=f"Signature request to {signature.signer_email} was not sent",
        body=f"{signature.document.name}: {error}\nResend it from the document.",
        target=signature.document,
    )


def resend_signature_requests(document: Document, *, user=None, requester: Requester = SYSTEM) -> Document:
    """E-mail every signer whose turn it is a new link; their previous link stops working."""
    if expire_document_if_overdue(document):
        raise StateConflict("The document's signing deadline has passed; it is now expired.")
    with transaction.atomic():
        return _resend(document, user=user, requester=requester)


def _resend(document: Document, *, user, requester: Requester) -> Document:
    stored = locked_document(document)
    if stored.status != Document.Status.SENT:
        raise StateConflict(
            f"Only a document out for signature can be resent; this one is {_state_of(stored)}."
        )
    detail = {"by": user.email} if user is not None else {}
    for signature in stored.signatures.select_for_update().filter(status__in=AWAITING_SIGNER):
        append_event(signature, "resent", requester, **detail)
        signature.token_hash = None
        signature.save(update_fields=["events", "token_hash", "updated_at"])
        _queue_request_email(signature)
    return stored


def _queue_request_email(signature: DocumentSignature) -> None:
    # Breaks the cycle documents.services -> documents.tasks -> documents.services (tasks call services).
    from .tasks import send_signature_request

    enqueue_after_commit(
        send_signature_request, company_id=signature.company_id, signature_id=str(signature.pk)
    )


# Voiding and expiry


def void_outstanding(document: Document, *, requester: Requester, reason: str, user=None) -> None:
    """Void a locked document's outstanding signatures, so their links stop working."""
    detail = {"reason": reason, **({"by": user.email} if user is not None else {})}
    for signature in document.signatures.select_for_update().filter(status__in=OUTSTANDING):
        signature.status = SignatureStatus.VOIDED
        append_event(signature, "voided", requester, **detail)
        signature.save(update_fields=["status", "events", "updated_at"])


@transaction.atomic
def void_document(
    document: Document, *, user=None, reason: str = "", requester: Requester = SYSTEM
) -> Document:
    """Withdraw a document out for signature: every outstanding link stops working."""
    stored = locked_document(document)
    if stored.status != Document.Status.SENT:
        raise StateConflict(
            f"Only a document out for signature can be voided; this one is {_state_of(stored)}."
        )
    void_outstanding(stored, requester=requester, reason=reason.strip() or "Voided by the sender.", user=user)
    stored.status = Document.Status.VOIDED
    stored.save(update_fields=["status", "updated_at"])
    return stored


def _expire(document: Document) -> None:
    """Mark a locked document and its outstanding signatures expired, and tell the owner."""
    for signature in document.signatures.select_for_update().filter(status__in=OUTSTANDING):
        signature.status = SignatureStatus.EXPIRED
        append_event(signature, "expired", SYSTEM)
        signature.save(update_fields=["status", "events", "updated_at"])
    document.status = Document.Status.EXPIRED
    document.save(update_fields=["status", "updated_at"])
    tell_owner(
        document,
        title=f"{document.name} expired before everyone signed",
        body="Its signing deadline passed. Send a new document if it still needs signing.",
    )


@transaction.atomic
def expire_document(document: Document, *, unless_before=None) -> bool:
    """Expire a document still out for signature (unless its deadline is after `unless_before`)."""
    stored = locked_document(document)
    if stored.status != Document.Status.SENT:
        return False
    if unless_before is not None and (stored.expires_at is None or stored.expires_at > unless_before):
        return False
    _expire(stored)
    return True


def expire_document_if_overdue(document: Document) -> bool:
    """Expire a document out for signature whose deadline has passed; whether it did."""
    return expire_document(document, unless_before=timezone.now())


def expire_overdue_documents() -> int:
    """Expire every overdue document of the current company; returns how many."""
    overdue = Document.objects.filter(status=Document.Status.SENT, expires_at__lte=timezone.now())
    return sum(expire_document_if_overdue(document) for document in overdue.order_by("expires_at"))


def tell_owner(document: Document, *, title: str, body: str) -> None:
    """Notify the document's owner (or the company's managers) and e-mail them, recorded as queued."""
    for notification in notify(
        document.user, kind=Notification.Kind.INFO, title=title, body=body, target=document
    ):
        if notification.user.email:
            email_service.compose_email(
                sender=None,
                to_email=notification.user.email,
                subject=title,
                body_text=f"{body}\n\nDocument: {document.name}\n",
            )
