"""SMS: sending through Twilio, inbound texts, delivery status, opt-out and conversations."""

import logging
import uuid
from urllib.parse import urlencode

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.db.models import Case, CharField, Count, F, Max, Q, Value, When, Window
from django.db.models.functions import Cast, Coalesce, Concat, RowNumber
from django.utils import timezone
from twilio.base.exceptions import TwilioRestException

from core.exceptions import StateConflict
from core.outbox import claim_queued
from core.validators import e164
from crm import services as crm_services
from tenancy.tasks import enqueue_after_commit

from ..models import Direction, Notification, PhoneNumber, SmsMessage
from ..twilio import TwilioNotConfigured, current_company_client, current_company_settings, public_url
from .notifications import notify

logger = logging.getLogger("messaging.sms")

MAX_BODY_LENGTH = 1600
OPTED_OUT = "This contact has opted out of SMS (replied STOP)."
# Twilio's standard opt-out and opt-in keywords; the whole message, in any case, is the keyword.
STOP_KEYWORDS = frozenset({"STOP", "STOPALL", "UNSUBSCRIBE", "CANCEL", "END", "QUIT"})
START_KEYWORDS = frozenset({"START", "UNSTOP", "YES"})

# Delivery progresses one way: a late "sent" callback never undoes "delivered".
STATUS_RANK = {
    SmsMessage.Status.QUEUED: 0,
    SmsMessage.Status.SENDING: 1,
    SmsMessage.Status.SENT: 2,
    SmsMessage.Status.DELIVERED: 3,
    SmsMessage.Status.UNDELIVERED: 3,
    SmsMessage.Status.FAILED: 3,
}
FAILED_STATUSES = (SmsMessage.Status.UNDELIVERED, SmsMessage.Status.FAILED)
# The statuses a delivery callback may report that we keep; Twilio's interim ones add nothing.
CALLBACK_STATUSES = (SmsMessage.Status.SENT, SmsMessage.Status.DELIVERED, *FAILED_STATUSES)
# How Twilio's answer to a send maps onto our statuses; anything it accepted counts as sent.
TWILIO_SEND_STATUS = {
    "delivered": SmsMessage.Status.DELIVERED,
    "undelivered": SmsMessage.Status.UNDELIVERED,
    "failed": SmsMessage.Status.FAILED,
}


class SmsRefused(ValidationError):
    """A send refused for what was asked (a 400); the message says why, in one sentence for the user."""


class SmsNotPossible(StateConflict, SmsRefused):
    """A send the current state refuses (a 409): no number or account yet, no phone, an opt-out."""


def _valid_number(number: str, *, what: str) -> str:
    number = (number or "").strip()
    try:
        e164(number)
    except ValidationError:
        raise SmsRefused(f"{what} must be in E.164 form, e.g. +14155550100.") from None
    return number


def sender_number(user, from_number: str | None = None) -> PhoneNumber:
    """The company number a send leaves from: the one asked for, the sender's own, or the first."""
    numbers = PhoneNumber.objects.filter(sms_enabled=True)
    if from_number:
        from_number = str(from_number).strip()
        try:
            lookup = {"pk": uuid.UUID(from_number)}
        except ValueError:
            lookup = {"number": from_number}
        found = numbers.filter(**lookup).first()
        if found is None:
            raise SmsRefused("from_number is not an SMS-enabled phone number of this company.")
        return found
    found = numbers.filter(user=user).order_by("number").first() or numbers.order_by("number").first()
    if found is None:
        raise SmsNotPossible(
            "This company has no SMS-enabled phone number; add one under /api/sms/phone-numbers first."
        )
    return found


@transaction.atomic
def send_sms(*, user, body: str, contact=None, to: str = "", from_number: str | None = None) -> SmsMessage:
    """Record an outbound text as queued and queue its delivery once the transaction commits."""
    body = (body or "").strip()
    if not body:
        raise SmsRefused("Write a message body.")
    if len(body) > MAX_BODY_LENGTH:
        raise SmsRefused(f"An SMS body has at most {MAX_BODY_LENGTH} characters.")
    if not to and contact is None:
        raise SmsRefused("Say who the message is for: a contact or a `to` number.")
    if not to and not contact.phone:
        raise SmsNotPossible("This contact has no phone number; give a `to` number.")
    to = _valid_number(to or contact.phone, what="The recipient's number")
    if contact is None:
        contact = crm_services.contact_for_phone(to)
    if (contact is not None and contact.sms_opted_out) or crm_services.sms_opted_out(to):
        raise SmsNotPossible(OPTED_OUT)
    try:
        current_company_settings()
    except TwilioNotConfigured as error:
        raise SmsNotPossible(f"SMS cannot be sent yet: {error}") from None
    phone_number = sender_number(user, from_number)
    message = SmsMessage.objects.create(
        user=user,
        contact=contact,
        phone_number=phone_number,
        direction=Direction.OUTBOUND,
        from_number=phone_number.number,
        to_number=to,
        body=body,
        status=SmsMessage.Status.QUEUED,
    )
    from ..tasks.sms import send_sms as send_sms_task  # a cycle: messaging.tasks.sms imports this module

    enqueue_after_commit(send_sms_task, company_id=message.company_id, message_id=str(message.pk))
    return message


def status_callback_url(our_number: str) -> str:
    """Where Twilio reports delivery of a text sent from one of our numbers."""
    return public_url(f"/api/twilio/sms/status?{urlencode({'number': our_number})}")


def deliver(message_id) -> SmsMessage | None:
    """Hand one queued text to Twilio, once: the row is claimed first, so a redelivered task does nothing."""
    if not claim_queued(SmsMessage, message_id, to_status=SmsMessage.Status.SENDING):
        return None
    message = SmsMessage.objects.select_related("user", "contact").get(pk=message_id)
    if (message.contact is not None and message.contact.sms_opted_out) or crm_services.sms_opted_out(
        message.to_number
    ):
        # STOP arrived while the text waited in the queue.
        return _failed(message, code="", text=OPTED_OUT)
    try:
        sent = current_company_client().messages.create(
            to=message.to_number,
            from_=message.from_number,
            body=message.body,
            status_callback=status_callback_url(message.from_number),
        )
    except TwilioRestException as error:
        return _failed(message, code=str(error.code or error.status), text=error.msg)
    except TwilioNotConfigured as error:
        return _failed(message, code="", text=str(error))
    except Exception as error:
        # The send's outcome is unknown; fail it visibly rather than risk texting the contact twice.
        logger.exception("SMS %s could not be handed to Twilio", message.pk)
        return _failed(message, code="", text=f"Could not reach Twilio: {error}")
    message.twilio_sid = sent.sid
    message.status = TWILIO_SEND_STATUS.get(sent.status, SmsMessage.Status.SENT)
    message.sent_at = timezone.now()
    message.save(update_fields=["twilio_sid", "status", "sent_at", "updated_at"])
    if message.status in FAILED_STATUSES:
        _notify_failed(message)
    return message


def _failed(message: SmsMessage, *, code: str, text: str) -> SmsMessage:
    message.status = SmsMessage.Status.FAILED
    message.error_code = code[:10]
    message.error_message = (text or "Twilio refused the message.")[:500]
    message.save(update_fields=["status", "error_code", "error_message", "updated_at"])
    _notify_failed(message)
    return message


def _notify_failed(message: SmsMessage) -> None:
    reason = message.error_message or f"Twilio reported the message {message.status}."
    notify(
        message.user,
        kind=Notification.Kind.SEND_FAILED,
        title=f"SMS to {message.to_number} was not delivered",
        body=reason,
        target=message,
    )


@transaction.atomic
def receive_sms(phone_number: PhoneNumber, *, sid: str, from_number: str, body: str) -> SmsMessage | None:
    """Store an inbound text once per Twilio SID, apply STOP/START, and notify the number's owner.

    Returns the new message, or None when this SID was stored already (Twilio retried the webhook).
    Everything happens in one transaction, so a failure leaves nothing half done for the retry.
    """
    if SmsMessage.objects.filter(twilio_sid=sid).exists():
        return None
    from_number = from_number.strip()[:16]
    try:
        # The savepoint keeps a concurrent duplicate's IntegrityError from spoiling the outer transaction,
        # and rolls back the contact created for it too.
        with transaction.atomic():
            contact = crm_services.contact_for_phone(from_number, create=_is_e164(from_number))
            message = SmsMessage.objects.create(
                user=phone_number.user,
                contact=contact,
                phone_number=phone_number,
                direction=Direction.INBOUND,
                from_number=from_number,
                to_number=phone_number.number,
                body=body,
                status=SmsMessage.Status.RECEIVED,
                twilio_sid=sid,
            )
    except IntegrityError:
        # Stored already: by a concurrent retry of this webhook, or (never by Twilio) by another
        # company, whose row this company must neither see nor overwrite.
        logger.warning("inbound SMS %s was stored already; ignoring the duplicate", sid)
        return None
    keyword = body.strip().upper()
    if keyword in STOP_KEYWORDS:
        crm_services.record_sms_opt_out(from_number, True)
        title = f"{_sender_name(message)} opted out of SMS"
    elif keyword in START_KEYWORDS:
        crm_services.record_sms_opt_out(from_number, False)
        title = f"{_sender_name(message)} opted back in to SMS"
    else:
        title = f"SMS from {_sender_name(message)}"
    notify(phone_number.user, kind=Notification.Kind.SMS_RECEIVED, title=title, body=body, target=message)
    return message


def _is_e164(number: str) -> bool:
    try:
        e164(number)
    except ValidationError:
        return False
    return True


def _sender_name(message: SmsMessage) -> str:
    if message.contact is not None and message.contact.full_name != message.from_number:
        return f"{message.contact.full_name} ({message.from_number})"
    return message.from_number


@transaction.atomic
def record_status(*, sid: str, status: str, error_code: str = "") -> SmsMessage | None:
    """Apply a Twilio status callback; only forward moves count, and a failure notifies the sender once."""
    if status not in CALLBACK_STATUSES:
        return None
    earlier = [known for known, rank in STATUS_RANK.items() if rank < STATUS_RANK[status]]
    changes = {"status": status, "updated_at": timezone.now()}
    if status == SmsMessage.Status.DELIVERED:
        changes["delivered_at"] = changes["updated_at"]
    if error_code:
        changes["error_code"] = error_code[:10]
    # One conditional UPDATE: concurrent or out-of-order callbacks cannot move the status backwards.
    moved = SmsMessage.objects.filter(twilio_sid=sid, status__in=earlier).update(**changes)
    if not moved:
        return None
    message = SmsMessage.objects.select_related("user").get(twilio_sid=sid)
    if status in FAILED_STATUSES:
        if error_code and not message.error_message:
            message.error_message = f"Twilio error {error_code}."
            message.save(update_fields=["error_message", "updated_at"])
        _notify_failed(message)
    return message


def link_to_contact(message: SmsMessage, contact) -> SmsMessage:
    """File a message under another contact of the company (or under none)."""
    message.contact = contact
    message.save(update_fields=["contact", "updated_at"])
    return message


# Conversations: one thread per contact, or per remote number for texts linked to no contact.


def remote_number_expression():
    """The other party's number: the sender of an inbound text, the recipient of an outbound one."""
    return Case(When(direction=Direction.INBOUND, then=F("from_number")), default=F("to_number"))


def with_thread(queryset):
    """Annotate each message with `remote_number` and the `thread` it belongs to.

    A thread is the contact's id, or the company and remote number for texts linked to no contact
    or to a deleted one (the company keeps two companies' threads apart in a super admin's
    all-companies view).
    """
    live_contact_id = Case(When(contact__is_deleted=False, then=F("contact_id")), default=None)
    return queryset.annotate(
        remote_number=remote_number_expression(),
        thread=Coalesce(
            Cast(live_contact_id, CharField()),
            Concat(Cast("company_id", CharField()), Value(":"), remote_number_expression()),
            output_field=CharField(),
        ),
    )


UNREAD_INBOUND = Q(direction=Direction.INBOUND, read_at__isnull=True)


def conversations(*, unread_only: bool = False):
    """One row per thread: its key, last activity, unread and total counts; most recent first."""
    threads = (
        with_thread(SmsMessage.objects.all())
        .values("thread")
        .annotate(
            last_activity_at=Max("created_at"),
            unread_count=Count("pk", filter=UNREAD_INBOUND),
            message_count=Count("pk"),
        )
        .order_by("-last_activity_at", "thread")
    )
    return threads.filter(unread_count__gt=0) if unread_only else threads


def latest_messages(threads: list[str]) -> dict[str, SmsMessage]:
    """The newest message of each of these threads, in one query."""
    newest_first = Window(
        RowNumber(), partition_by=[F("thread")], order_by=[F("created_at").desc(), F("pk").desc()]
    )
    rows = (
        with_thread(SmsMessage.objects.select_related("contact"))
        .filter(thread__in=threads)
        .annotate(position=newest_first)
        .filter(position=1)
    )
    return {row.thread: row for row in rows}


def conversation_messages(*, contact=None, remote_number: str = ""):
    """The messages of one conversation: a contact's, or a remote number's texts linked to no contact."""
    if contact is not None:
        return SmsMessage.objects.filter(contact=contact)
    unlinked = SmsMessage.objects.filter(Q(contact__isnull=True) | Q(contact__is_deleted=True))
    return with_thread(unlinked).filter(remote_number=remote_number)


def conversation_summary(*, contact=None, remote_number: str = "") -> dict:
    """Counts and the latest message of one conversation, shaped like a row of `conversations()`."""
    messages = conversation_messages(contact=contact, remote_number=remote_number)
    totals = messages.aggregate(
        last_activity_at=Max("created_at"),
        unread_count=Count("pk", filter=UNREAD_INBOUND),
        message_count=Count("pk"),
    )
    latest = messages.select_related("contact").order_by("-created_at", "-pk").first()
    return {**totals, "latest": latest}


def mark_conversation_read(*, contact=None, remote_number: str = "") -> int:
    """Mark every unread inbound text of one conversation read; returns how many changed."""
    now = timezone.now()
    unread = conversation_messages(contact=contact, remote_number=remote_number).filter(UNREAD_INBOUND)
    return SmsMessage.objects.filter(pk__in=unread.values("pk")).update(read_at=now, updated_at=now)
