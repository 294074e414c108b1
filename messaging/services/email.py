"""E-mail: composing one e-mail, and delivering a queued one exactly once.

Rule violations are raised as django.core.exceptions.ValidationError, which the API answers with a 400.
"""

import logging
from email.utils import formataddr, parseaddr

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.mail import EmailMultiAlternatives, get_connection
from django.core.mail.message import make_msgid
from django.db import transaction
from django.utils import timezone

from core.exceptions import StateConflict
from core.outbox import claim_queued
from crm.models import Contact, Deal
from tenancy.tasks import enqueue_after_commit

from ..models import Email, EmailTemplate, Notification
from .notifications import notify
from .templates import TEMPLATE_PARTS, one_line, render_template, validate_template_parts

logger = logging.getLogger("messaging.email")


def _linked_contact(to_email: str):
    """The company's contact with this address, so a typed address still lands on the contact."""
    return Contact.objects.filter(email__iexact=to_email).order_by("created_at", "pk").first()


@transaction.atomic
def compose_email(
    *,
    sender,
    to_email: str = "",
    contact: Contact | None = None,
    deal: Deal | None = None,
    template: EmailTemplate | None = None,
    subject: str = "",
    body_text: str = "",
    body_html: str = "",
) -> Email:
    """Record an e-mail as queued and send it once the transaction commits.

    With a template, the parts not typed are rendered from it for the contact, deal and sender;
    typed parts are sent as typed.
    """
    if contact is None and deal is not None:
        contact = deal.contact
    to_email = (to_email or "").strip()
    if not to_email:
        # A deal without a contact, or a contact without an address, is the records' state, not the
        # request's shape (a 409 rather than a 400).
        if contact is None and deal is not None:
            raise StateConflict(f"The deal {deal} has no contact; give to_email or contact.")
        if contact is None:
            raise ValidationError({"to_email": ["Give a recipient: to_email or contact."]})
        if not contact.email:
            raise StateConflict(f"{contact} has no e-mail address; give to_email.")
        to_email = contact.email
    elif contact is None:
        contact = _linked_contact(to_email)
    if template is not None:
        validate_template_parts(**{part: getattr(template, part) for part in TEMPLATE_PARTS})
        rendered = render_template(template, contact=contact, deal=deal, sender=sender)
        subject = subject or rendered.subject
        body_text = body_text or rendered.body_text
        body_html = body_html or rendered.body_html
    errors = {}
    if not subject:
        errors["subject"] = ["A subject is required unless a template is given."]
    if not body_text:
        errors["body_text"] = ["A body is required unless a template is given."]
    if errors:
        raise ValidationError(errors)
    email = Email.objects.create(
        user=sender,
        contact=contact,
        deal=deal,
        template=template,
        to_email=to_email,
        subject=one_line(subject, Email._meta.get_field("subject").max_length),
        body_text=body_text,
        body_html=body_html,
        status=Email.Status.QUEUED,
    )
    _queue_send(email)
    return email


def _queue_send(email: Email) -> None:
    # A cycle: messaging.tasks.email imports services.campaigns, which imports this module.
    from ..tasks.email import send_email

    enqueue_after_commit(send_email, company_id=email.company_id, email_id=str(email.pk))


def _from_address(sender) -> str:
    """The company's sending address (DEFAULT_FROM_EMAIL) under the sender's name."""
    address = parseaddr(settings.DEFAULT_FROM_EMAIL)[1] or settings.DEFAULT_FROM_EMAIL
    name = (sender.full_name or sender.email) if sender is not None else ""
    return formataddr((name, address)) if name else settings.DEFAULT_FROM_EMAIL


def _message_id() -> str:
    domain = parseaddr(settings.DEFAULT_FROM_EMAIL)[1].rpartition("@")[2] or "localhost"
    return make_msgid(domain=domain)


def _build_message(email: Email, message_id: str, connection) -> EmailMultiAlternatives:
    sender = email.user
    message = EmailMultiAlternatives(
        subject=email.subject,
        body=email.body_text,
        from_email=_from_address(sender),
        to=[email.to_email],
        reply_to=[sender.email] if sender is not None and sender.email else None,
        headers={"Message-ID": message_id},
        connection=connection,
    )
    if email.body_html:
        message.attach_alternative(email.body_html, "text/html")
    return message


def _describe(error: Exception) -> str:
    return f"{type(error).__name__}: {error}"[: Email._meta.get_field("error_message").max_length]


def deliver_email(email_id, *, connection=None) -> Email | None:
    """Send one queued e-mail exactly once and record the outcome; None when it was not ours to send.

    The row is claimed atomically (queued -> sending), so a redelivered or re-queued task, or a
    deleted or cancelled e-mail, sends nothing.
    """
    if not claim_queued(Email, email_id, to_status=Email.Status.SENDING):
        return None
    email = Email.objects.select_related("user").get(pk=email_id)
    message_id = _message_id()
    try:
        _build_message(email, message_id, connection or get_connection()).send()
    except Exception as error:
        logger.warning("e-mail %s to %s failed", email.pk, email.to_email, exc_info=True)
        email.status, email.error_message = Email.Status.FAILED, _describe(error)
        Email.objects.filter(pk=email.pk).update(
            status=email.status, error_message=email.error_message, updated_at=timezone.now()
        )
        if email.campaign_id is None:
            notify(
                email.user,
                kind=Notification.Kind.SEND_FAILED,
                title=f"E-mail to {email.to_email} was not sent",
                body=f"{email.subject}\n\n{email.error_message}",
                target=email,
            )
        return email
    email.status, email.sent_at, email.message_id = Email.Status.SENT, timezone.now(), message_id
    Email.objects.filter(pk=email.pk).update(
        status=email.status,
        sent_at=email.sent_at,
        message_id=message_id,
        error_message="",
        updated_at=timezone.now(),
    )
    return email
