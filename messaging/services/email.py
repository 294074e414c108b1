"""E-mail: safe merge-field rendering, templates, composing and sending, and campaigns.

Every rule about e-mail lives here; the API and the Celery tasks only call these functions. Rule
violations are raised as django.core.exceptions.ValidationError, which the API answers with a 400.
"""

import logging
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from email.utils import formataddr, parseaddr
from functools import reduce
from operator import or_

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.mail import EmailMultiAlternatives, get_connection
from django.core.mail.message import make_msgid
from django.db import IntegrityError, transaction
from django.db.models import Count, F, Q, Window
from django.db.models.functions import Lower, RowNumber, Trim
from django.utils import timezone
from django.utils.html import escape
from rest_framework.filters import SearchFilter, search_smart_split

from core.exceptions import StateConflict
from core.outbox import claim_queued
from core.text import UUID_MESSAGE, is_canonical_uuid
from crm.filters import CONTACT_SEARCH_FIELDS, ContactFilter
from crm.models import Contact, Deal

from ..models import Email, EmailCampaign, EmailTemplate, Notification
from .notifications import notify

logger = logging.getLogger("messaging.email")

# Emails of a campaign sent by one Celery task; settings.EMAIL_CAMPAIGN_BATCH_SIZE overrides it.
DEFAULT_CAMPAIGN_BATCH_SIZE = 100
# Contacts rendered and inserted per bulk_create while a campaign's recipients are recorded.
RECORD_CHUNK = 500


# Merge fields: an explicit allow-list, rendered without executing any template language.


@dataclass(frozen=True)
class MergeField:
    """One `{{ namespace.name }}` placeholder and how its text is read from the record."""

    namespace: str
    name: str
    label: str
    read: Callable[[object], object]

    @property
    def key(self) -> str:
        return f"{self.namespace}.{self.name}"


def _text(value) -> str:
    return "" if value is None else str(value)


MERGE_FIELDS: tuple[MergeField, ...] = (
    MergeField("contact", "first_name", "Contact's first name", lambda c: c.first_name),
    MergeField("contact", "last_name", "Contact's last name", lambda c: c.last_name),
    MergeField("contact", "full_name", "Contact's full name", lambda c: c.full_name),
    MergeField("contact", "email", "Contact's e-mail address", lambda c: c.email),
    MergeField("contact", "phone", "Contact's phone number", lambda c: c.phone),
    MergeField("contact", "title", "Contact's job title", lambda c: c.title),
    MergeField(
        "contact",
        "account_name",
        "Name of the contact's account",
        lambda c: c.account.name if c.account else "",
    ),
    MergeField("deal", "name", "Deal name", lambda d: d.name),
    MergeField("deal", "amount", "Deal amount, e.g. 12,500.00", lambda d: f"{d.amount:,.2f}"),
    MergeField("deal", "currency", "Deal currency code", lambda d: d.currency),
    MergeField("deal", "stage", "Deal stage", lambda d: d.get_stage_display()),
    MergeField(
        "deal",
        "expected_close_date",
        "Deal's expected close date (YYYY-MM-DD)",
        lambda d: d.expected_close_date.isoformat() if d.expected_close_date else "",
    ),
    MergeField("sender", "full_name", "Sender's name", lambda u: u.full_name or u.email),
    MergeField("sender", "email", "Sender's e-mail address", lambda u: u.email),
    MergeField("sender", "phone", "Sender's phone number", lambda u: u.phone),
    MergeField("company", "name", "Your company's name", lambda c: c.name),
)
MERGE_FIELD_KEYS = frozenset(field.key for field in MERGE_FIELDS)

PLACEHOLDER = re.compile(r"\{\{(.*?)\}\}", re.DOTALL)
TEMPLATE_TAG = re.compile(r"\{%.*?%\}|\{#.*?#\}", re.DOTALL)
TEMPLATE_PARTS = ("subject", "body_text", "body_html")


@dataclass(frozen=True)
class RenderedEmail:
    subject: str
    body_text: str
    body_html: str


def _placeholder_key(inner: str) -> str:
    """`{{  contact.first_name }}` -> "contact.first_name"; whitespace inside the braces is tolerated."""
    return inner.strip()


def merge_fields_in(text: str) -> list[str]:
    """The placeholders a text uses, in order of first appearance."""
    return list(dict.fromkeys(_placeholder_key(inner) for inner in PLACEHOLDER.findall(text or "")))


def template_errors(**parts: str) -> dict[str, list[str]]:
    """Per part, why its placeholders cannot be rendered: unknown merge fields or template tags."""
    errors: dict[str, list[str]] = {}
    for part, text in parts.items():
        unknown = [key for key in merge_fields_in(text) if key not in MERGE_FIELD_KEYS]
        messages = [
            f"Unknown merge field {{{{ {key} }}}}; use one of: " + ", ".join(sorted(MERGE_FIELD_KEYS)) + "."
            for key in unknown
        ]
        tag = TEMPLATE_TAG.search(text or "")
        if tag:
            messages.append(
                f"Template tags such as {tag.group(0)} are not supported; "
                "only merge fields like {{ contact.first_name }} are."
            )
        if messages:
            errors[part] = messages
    return errors


def validate_template_parts(**parts: str) -> None:
    """Raise a ValidationError naming each unknown merge field or template tag, per part."""
    errors = template_errors(**parts)
    if errors:
        raise ValidationError(errors)


def merge_values(*, contact=None, deal=None, sender=None, company=None) -> dict[str, str]:
    """Text for every allow-listed merge field; a field of a record not given is empty."""
    records = {"contact": contact, "deal": deal, "sender": sender, "company": company}
    return {
        field.key: "" if records[field.namespace] is None else _text(field.read(records[field.namespace]))
        for field in MERGE_FIELDS
    }


def render_text(text: str, values: dict[str, str], *, html: bool = False) -> str:
    """Substitute allow-listed placeholders in one pass; anything else stays literal text.

    Values are never rendered again (a contact named "{{ sender.email }}" stays so), and in HTML
    they are escaped, so a record cannot inject markup.
    """

    def substitute(match: re.Match) -> str:
        key = _placeholder_key(match.group(1))
        if key not in values:
            return match.group(0)
        return escape(values[key]) if html else values[key]

    return PLACEHOLDER.sub(substitute, text or "")


def _one_line(text: str, limit: int) -> str:
    """A header value: no line breaks (header injection), at most `limit` characters."""
    return re.sub(r"[\r\n]+", " ", text).strip()[:limit]


def render_template(template: EmailTemplate, *, contact=None, deal=None, sender=None) -> RenderedEmail:
    """The template's subject and bodies for a contact, a deal and a sender of its company."""
    values = merge_values(contact=contact, deal=deal, sender=sender, company=template.company)
    return RenderedEmail(
        subject=_one_line(render_text(template.subject, values), Email._meta.get_field("subject").max_length),
        body_text=render_text(template.body_text, values),
        body_html=render_text(template.body_html, values, html=True) if template.body_html else "",
    )


# Templates


@transaction.atomic
def save_template(template: EmailTemplate, **changes) -> EmailTemplate:
    """Create or change a template: merge fields from the allow-list, a name unique in the company."""
    for field, value in changes.items():
        setattr(template, field, value)
    errors = template_errors(**{part: getattr(template, part) for part in TEMPLATE_PARTS})
    duplicate = EmailTemplate.objects.filter(name__iexact=template.name).exclude(pk=template.pk).exists()
    if duplicate:
        errors["name"] = [f"A template named {template.name!r} already exists."]
    if errors:
        raise ValidationError(errors)
    try:
        with transaction.atomic():
            template.save()
    except IntegrityError as error:
        # Two requests creating the same name at once: the unique constraint decides.
        raise ValidationError({"name": [f"A template named {template.name!r} already exists."]}) from error
    return template


UNFINISHED = (EmailCampaign.Status.DRAFT, EmailCampaign.Status.SCHEDULED, EmailCampaign.Status.SENDING)


def delete_template(template: EmailTemplate) -> None:
    """Soft-delete a template unless a campaign that has not finished still uses it."""
    in_use = EmailCampaign.objects.filter(template=template, status__in=UNFINISHED).first()
    if in_use is not None:
        raise ValidationError(
            f"Campaign {in_use.name!r} ({in_use.status}) uses this template; "
            "cancel or delete the campaign first."
        )
    template.soft_delete()


def preview_template(template: EmailTemplate, *, sender, contact=None, deal=None) -> RenderedEmail:
    """The template as it would be sent; the deal's contact stands in when no contact is given."""
    if contact is None and deal is not None:
        contact = deal.contact
    return render_template(template, contact=contact, deal=deal, sender=sender)


# Composing and sending one e-mail


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
        subject=_one_line(subject, Email._meta.get_field("subject").max_length),
        body_text=body_text,
        body_html=body_html,
        status=Email.Status.QUEUED,
    )
    _queue_send(email)
    return email


def _queue_send(email: Email) -> None:
    from tenancy.tasks import enqueue_after_commit

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


def send_queued_email(email_id) -> None:
    """Send one e-mail (composed, or a campaign's re-queued by the outbox) and settle its campaign."""
    email = deliver_email(email_id)
    if email is not None and email.campaign_id is not None:
        finish_campaign_if_done(email.campaign_id)


def send_campaign_batch(campaign_id, email_ids) -> int:
    """Send a batch of a campaign's e-mails over one connection; returns how many this call sent."""
    connection = get_connection()
    try:
        connection.open()
    except Exception:
        # Each send below opens its own connection and records its own error.
        logger.warning("could not open the mail connection for campaign %s", campaign_id, exc_info=True)
    sent = 0
    try:
        for email_id in email_ids:
            email = deliver_email(email_id, connection=connection)
            sent += email is not None and email.status == Email.Status.SENT
            if email is not None and email.status == Email.Status.FAILED:
                # A dropped connection would fail the rest of the batch: the next send opens a new one.
                _close_quietly(connection)
    finally:
        _close_quietly(connection)
    finish_campaign_if_done(campaign_id)
    return sent


def _close_quietly(connection) -> None:
    try:
        connection.close()
    except Exception:
        logger.warning("could not close the mail connection", exc_info=True)


# Campaigns: who receives them


RECIPIENT_SEARCH_KEY = "search"
# Filters taken only exactly as the schema states them (format uuid, date-time); others are text.
RECIPIENT_ID_KEYS = ("account", "owner")
RECIPIENT_DATETIME_KEYS = ("created_after", "created_before")


def recipient_filter_keys() -> list[str]:
    """The keys a recipient filter accepts: the /api/contacts filters and `search`."""
    return [*ContactFilter.base_filters, RECIPIENT_SEARCH_KEY]


def clean_recipient_filter(criteria) -> dict[str, str]:
    """The recipient filter as /api/contacts query parameters; a ValidationError when it is not one."""
    if criteria is None:
        return {}
    if not isinstance(criteria, dict):
        raise ValidationError(["The recipient filter is a JSON object of contact filters."])
    allowed = recipient_filter_keys()
    errors = [
        f"Unknown filter {key!r}; use one of: {', '.join(allowed)}." for key in criteria if key not in allowed
    ]
    cleaned = {}
    for key, value in criteria.items():
        if not isinstance(value, str):
            errors.append(f"{key}: a filter value is a string, not {type(value).__name__}.")
        elif "\x00" in value:
            errors.append(f"{key}: a filter value cannot contain NUL characters.")
        elif key not in allowed or not value.strip():
            continue  # an empty value filters nothing, as in the query string
        elif key in RECIPIENT_ID_KEYS and not is_canonical_uuid(value):
            errors.append(f"{key}: {UUID_MESSAGE}")
        elif key in RECIPIENT_DATETIME_KEYS and value != value.strip():
            errors.append(f"{key}: a date and time without spaces around it.")
        else:
            cleaned[key] = value.strip()
    if errors:
        raise ValidationError(errors)
    filterset = ContactFilter(data=cleaned, queryset=Contact.objects.all())
    if not filterset.is_valid():
        raise ValidationError(
            [f"{key}: {message}" for key, messages in filterset.errors.items() for message in messages]
        )
    return cleaned


def matching_contacts(criteria):
    """The current company's contacts a recipient filter selects, as /api/contacts would list them."""
    cleaned = clean_recipient_filter(criteria)
    search = cleaned.pop(RECIPIENT_SEARCH_KEY, "")
    contacts = ContactFilter(data=cleaned, queryset=Contact.objects.all()).qs
    terms = search_smart_split(search)
    if terms:
        lookups = [SearchFilter().construct_search(field, contacts) for field in CONTACT_SEARCH_FIELDS]
        for term in terms:
            contacts = contacts.filter(reduce(or_, (Q(**{lookup: term}) for lookup in lookups)))
    return contacts


def recipient_contacts(criteria):
    """The contacts a filter reaches, one per address (its first contact), in sending order.

    A queryset, so the database cuts a preview's page from it rather than Python from every
    recipient; each contact carries the `address` it is sent to.
    """
    address = Lower(Trim("email"))
    first_with_address = Window(RowNumber(), partition_by=[address], order_by=[F("created_at"), F("pk")])
    return (
        matching_contacts(criteria)
        .annotate(address=address)
        .exclude(address="")
        .annotate(position=first_with_address)
        .filter(position=1)
        .order_by("created_at", "pk")
    )


def campaign_recipients(criteria) -> Iterator[tuple[Contact, str]]:
    """(contact, address) for each address the filter reaches, once, skipping contacts without one."""
    contacts = recipient_contacts(criteria).select_related("account")
    for contact in contacts.iterator(chunk_size=RECORD_CHUNK):
        yield contact, contact.address


# Campaigns: lifecycle


EDITABLE = (EmailCampaign.Status.DRAFT, EmailCampaign.Status.SCHEDULED)


def _refuse(campaign: EmailCampaign, action: str) -> ValidationError:
    return ValidationError(
        f"This campaign is {campaign.get_status_display().lower()}; it cannot be {action}."
    )


@transaction.atomic
def save_campaign(campaign: EmailCampaign, **changes) -> EmailCampaign:
    """Create a draft, or change a campaign that has not started sending."""
    if not campaign._state.adding:
        status = (
            EmailCampaign.objects.select_for_update().values_list("status", flat=True).get(pk=campaign.pk)
        )
        if status not in EDITABLE:
            campaign.status = status
            raise _refuse(campaign, "changed")
    if "recipient_filter" in changes:
        try:
            changes["recipient_filter"] = clean_recipient_filter(changes["recipient_filter"])
        except ValidationError as error:
            raise ValidationError({"recipient_filter": error.messages}) from error
    for field, value in changes.items():
        setattr(campaign, field, value)
    campaign.save()
    return campaign


def delete_campaign(campaign: EmailCampaign) -> None:
    """Soft-delete a campaign, unless it is sending (cancel it first)."""
    if campaign.status == EmailCampaign.Status.SENDING:
        raise ValidationError("This campaign is sending; cancel it before deleting it.")
    campaign.soft_delete()


def _validate_campaign_template(campaign: EmailCampaign) -> None:
    template = campaign.template
    errors = template_errors(**{part: getattr(template, part) for part in TEMPLATE_PARTS})
    if errors:
        details = "; ".join(message for messages in errors.values() for message in messages)
        raise ValidationError(f"Template {template.name!r} cannot be sent: {details}")


@transaction.atomic
def schedule_campaign(campaign: EmailCampaign, *, scheduled_at) -> EmailCampaign:
    """Send a draft (or move a scheduled campaign) at a time in the future."""
    if scheduled_at <= timezone.now():
        raise ValidationError({"scheduled_at": ["Choose a time in the future."]})
    _validate_campaign_template(campaign)
    moved = EmailCampaign.objects.filter(pk=campaign.pk, status__in=EDITABLE).update(
        status=EmailCampaign.Status.SCHEDULED, scheduled_at=scheduled_at, updated_at=timezone.now()
    )
    campaign.refresh_from_db()
    if not moved:
        raise _refuse(campaign, "scheduled")
    return campaign


@transaction.atomic
def send_campaign_now(campaign: EmailCampaign) -> EmailCampaign:
    """Start sending a draft or scheduled campaign now; a 400 when no contact would receive it."""
    _validate_campaign_template(campaign)
    claimed = EmailCampaign.objects.filter(pk=campaign.pk, status__in=EDITABLE).update(
        status=EmailCampaign.Status.SENDING, started_at=timezone.now(), updated_at=timezone.now()
    )
    campaign.refresh_from_db()
    if not claimed:
        raise _refuse(campaign, "sent again")
    if dispatch_campaign(campaign) == 0:
        # Raising rolls the claim back: the campaign stays as it was.
        raise ValidationError("No contact with an e-mail address matches this campaign's recipient filter.")
    return campaign


@transaction.atomic
def start_due_campaign(campaign_id) -> bool:
    """Start a scheduled campaign whose time has come; False when it is not due or already started."""
    now = timezone.now()
    claimed = EmailCampaign.objects.filter(
        pk=campaign_id, status=EmailCampaign.Status.SCHEDULED, scheduled_at__lte=now
    ).update(status=EmailCampaign.Status.SENDING, started_at=now, updated_at=now)
    if not claimed:
        return False
    campaign = EmailCampaign.objects.select_related("template", "user").get(pk=campaign_id)
    if dispatch_campaign(campaign) == 0:
        finish_campaign_if_done(campaign.pk)
    return True


@transaction.atomic
def cancel_campaign(campaign: EmailCampaign) -> EmailCampaign:
    """Stop a campaign before it is sent; its e-mails not yet sent are marked failed as cancelled."""
    now = timezone.now()
    cancelled = EmailCampaign.objects.filter(pk=campaign.pk, status__in=UNFINISHED).update(
        status=EmailCampaign.Status.CANCELLED, updated_at=now
    )
    campaign.refresh_from_db()
    if not cancelled:
        raise _refuse(campaign, "cancelled")
    Email.objects.filter(campaign=campaign, status=Email.Status.QUEUED).update(
        status=Email.Status.FAILED,
        error_message="Campaign cancelled before this e-mail was sent.",
        updated_at=now,
    )
    return campaign


def dispatch_campaign(campaign: EmailCampaign) -> int:
    """Record one queued e-mail per recipient and queue their sending in batches; returns the total.

    Idempotent: the (campaign, to_email) unique constraint skips recipients already recorded, and
    the send tasks claim each e-mail once, so dispatching twice sends each e-mail once.
    """
    template, sender = campaign.template, campaign.user
    pending: list[Email] = []
    for contact, address in campaign_recipients(campaign.recipient_filter):
        rendered = render_template(template, contact=contact, sender=sender)
        pending.append(
            Email(
                campaign=campaign,
                template=template,
                contact=contact,
                user=sender,
                to_email=address,
                subject=rendered.subject,
                body_text=rendered.body_text,
                body_html=rendered.body_html,
                status=Email.Status.QUEUED,
            )
        )
        if len(pending) >= RECORD_CHUNK:
            Email.objects.bulk_create(pending, ignore_conflicts=True)
            pending = []
    Email.objects.bulk_create(pending, ignore_conflicts=True)
    _queue_batches(campaign)
    return Email.objects.filter(campaign=campaign).count()


def _queue_batches(campaign: EmailCampaign) -> None:
    from tenancy.tasks import enqueue_after_commit

    from ..tasks.email import send_campaign_batch as batch_task

    size = getattr(settings, "EMAIL_CAMPAIGN_BATCH_SIZE", DEFAULT_CAMPAIGN_BATCH_SIZE)
    queued = [
        str(pk)
        for pk in Email.objects.filter(campaign=campaign, status=Email.Status.QUEUED)
        .order_by("created_at", "pk")
        .values_list("pk", flat=True)
    ]
    for start in range(0, len(queued), size):
        enqueue_after_commit(
            batch_task,
            company_id=campaign.company_id,
            campaign_id=str(campaign.pk),
            email_ids=queued[start : start + size],
        )


def finish_campaign_if_done(campaign_id) -> bool:
    """Mark a sending campaign sent once none of its e-mails is queued or sending; tell its owner."""
    if Email.objects.filter(
        campaign_id=campaign_id, status__in=[Email.Status.QUEUED, Email.Status.SENDING]
    ).exists():
        return False
    now = timezone.now()
    finished = EmailCampaign.objects.filter(pk=campaign_id, status=EmailCampaign.Status.SENDING).update(
        status=EmailCampaign.Status.SENT, completed_at=now, updated_at=now
    )
    if finished:
        campaign = EmailCampaign.objects.select_related("user").get(pk=campaign_id)
        counts = campaign_counts(campaign)
        notify(
            campaign.user,
            kind=Notification.Kind.SEND_FAILED if counts["failed"] else Notification.Kind.INFO,
            title=f"Campaign {campaign.name!r} sent: {counts['sent']} sent, {counts['failed']} failed",
            target=campaign,
        )
    return bool(finished)


COUNTED_STATUSES = {
    "queued": Email.Status.QUEUED,
    "sending": Email.Status.SENDING,
    "sent": Email.Status.SENT,
    "failed": Email.Status.FAILED,
}


def with_counts(campaigns):
    """Annotate campaigns with their e-mails per status, in the same query as the campaigns."""
    live = Q(emails__is_deleted=False)
    return campaigns.annotate(
        count_total=Count("emails", filter=live),
        **{
            f"count_{name}": Count("emails", filter=live & Q(emails__status=status))
            for name, status in COUNTED_STATUSES.items()
        },
    )


def campaign_counts(campaign: EmailCampaign) -> dict[str, int]:
    """{queued, sending, sent, failed, total} of a campaign's e-mails, from one aggregate query."""
    if hasattr(campaign, "count_total"):
        return {name: getattr(campaign, f"count_{name}") for name in [*COUNTED_STATUSES, "total"]}
    return Email.objects.filter(campaign=campaign).aggregate(
        total=Count("pk"),
        **{name: Count("pk", filter=Q(status=status)) for name, status in COUNTED_STATUSES.items()},
    )
