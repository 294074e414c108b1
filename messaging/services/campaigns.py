"""E-mail campaigns: who receives them, their lifecycle (save, schedule, send, cancel), batches.

Rule violations are raised as django.core.exceptions.ValidationError, which the API answers with a 400.
"""

import logging
from collections.abc import Iterator

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.mail import get_connection
from django.db import transaction
from django.db.models import Count, F, Q, Window
from django.db.models.functions import Lower, RowNumber, Trim
from django.utils import timezone

from core.text import NUL, UUID_MESSAGE, is_canonical_uuid
from crm.models import Contact
from crm.selectors import CONTACT_FILTER_NAMES, contacts_matching, validate_contact_filters
from tenancy.tasks import enqueue_after_commit

from ..models import Email, EmailCampaign, Notification
from .email import deliver_email
from .notifications import notify
from .templates import TEMPLATE_PARTS, render_template, template_errors

logger = logging.getLogger("messaging.email")

# Emails of a campaign sent by one Celery task; settings.EMAIL_CAMPAIGN_BATCH_SIZE overrides it.
DEFAULT_CAMPAIGN_BATCH_SIZE = 100
# Contacts rendered and inserted per bulk_create while a campaign's recipients are recorded.
RECORD_CHUNK = 500


# Who receives them


RECIPIENT_SEARCH_KEY = "search"
# Filters taken only exactly as the schema states them (format uuid, date-time); others are text.
RECIPIENT_ID_KEYS = ("account", "owner")
RECIPIENT_DATETIME_KEYS = ("created_after", "created_before")


def recipient_filter_keys() -> list[str]:
    """The keys a recipient filter accepts: the /api/contacts filters and `search`."""
    return [*CONTACT_FILTER_NAMES, RECIPIENT_SEARCH_KEY]


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
        elif NUL in value:
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
    validate_contact_filters({key: value for key, value in cleaned.items() if key != RECIPIENT_SEARCH_KEY})
    return cleaned


def matching_contacts(criteria):
    """The current company's contacts a recipient filter selects, as /api/contacts would list them."""
    cleaned = clean_recipient_filter(criteria)
    search = cleaned.pop(RECIPIENT_SEARCH_KEY, "")
    return contacts_matching(cleaned, search)


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


# Lifecycle


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
    cancelled = EmailCampaign.objects.filter(pk=campaign.pk, status__in=EmailCampaign.UNFINISHED).update(
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
    # A cycle: messaging.tasks.campaigns imports this module.
    from ..tasks.campaigns import send_campaign_batch as batch_task

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


# Sending: one queued e-mail or a batch, then settling the campaign


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
