"""Writes and rules of calls: click-to-call, the inbound call flow, and Twilio's callbacks.

A call's status only moves forward (queued, initiated, ringing, in progress, then one final state),
so a late or replayed callback never undoes a later one. An inbound call that nobody at the
company answered is stored as `no-answer`: that is what "missed" means in the call log.
"""

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from email.utils import parsedate_to_datetime
from urllib.parse import urlencode

import requests
from django.core.exceptions import ValidationError
from django.core.validators import URLValidator
from django.db import IntegrityError, transaction
from django.utils import timezone
from twilio.base.exceptions import TwilioException, TwilioRestException

from core.outbox import claim_queued
from crm.services import contact_for_phone
from messaging.models import Direction, Notification, PhoneNumber
from messaging.services.notifications import notify
from messaging.twilio import TwilioNotConfigured, current_company_client, current_company_settings, public_url
from tenancy.tasks import enqueue_after_commit

from .models import Call

logger = logging.getLogger("calls")

Status = Call.Status
FINAL_STATUSES = frozenset({Status.COMPLETED, Status.BUSY, Status.NO_ANSWER, Status.FAILED, Status.CANCELED})
_PROGRESS = {Status.QUEUED: 0, Status.INITIATED: 1, Status.RINGING: 2, Status.IN_PROGRESS: 3}
STATUS_CALLBACK_EVENTS = ["initiated", "ringing", "answered", "completed"]
WEBHOOK_PATH = "/api/twilio/voice/"


class CallRefused(Exception):
    """A click-to-call that cannot be placed; `field` names the request field at fault, if any."""

    def __init__(self, message: str, *, field: str | None = None):
        super().__init__(message)
        self.field = field


def webhook_url(name: str, **params) -> str:
    """The public address of one of our voice webhooks, with its query parameters encoded."""
    return public_url(f"{WEBHOOK_PATH}{name}?{urlencode(params)}")


def _rank(status: str) -> int:
    return 4 if status in FINAL_STATUSES else _PROGRESS.get(status, -1)


def _advance(call: Call, status: str) -> bool:
    """Move the call to `status` if that is a step forward; a final status is never replaced."""
    if status not in Status.values or _rank(status) <= _rank(call.status):
        return False
    call.status = status
    return True


def is_missed(call: Call) -> bool:
    """An inbound call that nobody at the company answered."""
    return call.direction == Direction.INBOUND and call.status == Status.NO_ANSWER


# Click-to-call


def voice_number_for(user, from_number: str | None) -> PhoneNumber:
    """The company number a user's call goes out from: the one asked for, their own, or the first."""
    voice_numbers = PhoneNumber.objects.filter(voice_enabled=True).order_by("number")
    if from_number:
        number = voice_numbers.filter(number=from_number).first()
        if number is None:
            raise CallRefused(
                f"{from_number} is not a voice-enabled phone number of your company.", field="from_number"
            )
        return number
    number = voice_numbers.filter(user=user).first() or voice_numbers.first()
    if number is None:
        raise CallRefused(
            "Your company has no voice-enabled phone number to call from; "
            "add one under /api/sms/phone-numbers first."
        )
    return number


@transaction.atomic
def start_click_to_call(user, *, contact=None, to: str = "", from_number: str = "", notes: str = "") -> Call:
    """Record an outbound call from the user's phone to a contact or number, and queue it."""
    if not user.phone:
        raise CallRefused(
            "Add your own phone number (E.164, e.g. +14155550100) to your profile first: "
            "click-to-call rings your phone, then connects you to the contact."
        )
    try:
        current_company_settings()
    except TwilioNotConfigured as error:
        raise CallRefused(str(error)) from error
    if not to:
        if contact is None:
            raise CallRefused("Give the contact to call, or the number to call in `to`.", field="to")
        if not contact.phone:
            raise CallRefused(f"{contact} has no phone number to call.", field="contact")
        to = contact.phone
    if contact is None:
        contact = contact_for_phone(to)
    number = voice_number_for(user, from_number)
    call = Call.objects.create(
        user=user,
        contact=contact,
        phone_number=number,
        direction=Direction.OUTBOUND,
        from_number=number.number,
        to_number=to,
        status=Status.QUEUED,
        started_at=timezone.now(),
        notes=notes,
    )
    from .tasks import place_call as place_call_task  # a cycle: calls.tasks imports this module

    enqueue_after_commit(place_call_task, company_id=call.company_id, call_id=str(call.pk))
    return call


def place_call(call_id: str) -> None:
    """Ring the caller's phone through Twilio, which then connects them to the contact; once per call."""
    if not claim_queued(Call, call_id, to_status=Status.INITIATED):
        return
    call = Call.objects.select_related("user").get(pk=call_id)
    agent_phone = call.user.phone if call.user is not None else ""
    if not agent_phone:
        _fail(call, "The caller has no phone number to ring.")
        return
    try:
        placed = current_company_client().calls.create(
            to=agent_phone,
            from_=call.from_number,
            url=webhook_url("connect", call=str(call.pk), number=call.from_number),
            status_callback=webhook_url("status", number=call.from_number),
            status_callback_event=STATUS_CALLBACK_EVENTS,
        )
    except TwilioRestException as error:
        _fail(call, f"Twilio refused the call ({error.code}): {error.msg}")
        return
    except (TwilioNotConfigured, TwilioException, requests.RequestException) as error:
        logger.warning("could not place call %s", call.pk, exc_info=True)
        _fail(call, f"Twilio could not be reached: {error}")
        return
    Call.objects.filter(pk=call.pk, twilio_sid__isnull=True).update(
        twilio_sid=placed.sid, updated_at=timezone.now()
    )


def _fail(call: Call, error: str) -> None:
    call.status = Status.FAILED
    call.error_message = error[:500]
    call.ended_at = timezone.now()
    call.save(update_fields=["status", "error_message", "ended_at", "updated_at"])
    notify(
        call.user,
        kind=Notification.Kind.SEND_FAILED,
        title=f"Your call to {call.to_number} could not be placed",
        body=call.error_message,
        target=call,
    )


def outbound_call_to_connect(call_id: str, *, call_sid: str) -> Call | None:
    """The outbound call Twilio asks to connect once the caller answered, or None."""
    call = Call.objects.filter(pk=call_id, direction=Direction.OUTBOUND).first()
    if call is None or call.status in FINAL_STATUSES:
        return None
    if call.twilio_sid and call.twilio_sid != call_sid:
        return None
    if not call.twilio_sid and call_sid:
        # Twilio may ask before the task stored the SID it got back.
        Call.objects.filter(pk=call.pk, twilio_sid__isnull=True).update(
            twilio_sid=call_sid, updated_at=timezone.now()
        )
    return call


# Inbound calls


@dataclass(frozen=True)
class InboundAnswer:
    """What an inbound call gets: the phone to ring, or voicemail when there is none."""

    call: Call | None
    ring: str | None


def _ring_target(phone_number: PhoneNumber) -> str | None:
    owner = phone_number.user
    if owner is None or not owner.is_active or not owner.phone:
        return None
    return owner.phone


def answer_inbound_call(phone_number: PhoneNumber, *, call_sid: str, from_number: str) -> InboundAnswer:
    """Record an inbound call once per CallSid, and say whom it rings (None: straight to voicemail)."""
    ring = _ring_target(phone_number)
    existing = Call.objects.filter(twilio_sid=call_sid).first()
    if existing is not None:
        return InboundAnswer(existing, None if is_missed(existing) else ring)
    call = Call(
        user=phone_number.user,
        contact=contact_for_phone(from_number),
        phone_number=phone_number,
        direction=Direction.INBOUND,
        from_number=from_number,
        to_number=phone_number.number,
        status=Status.RINGING if ring else Status.NO_ANSWER,
        twilio_sid=call_sid,
        started_at=timezone.now(),
    )
    try:
        with transaction.atomic():
            call.save(force_insert=True)
            if ring is None:
                _notify_missed(call)
    except IntegrityError:
        # A concurrent retry of the same webhook stored it first.
        existing = Call.objects.filter(twilio_sid=call_sid).first()
        if existing is None:
            logger.warning("inbound CallSid %s is already recorded by another company", call_sid)
            return InboundAnswer(None, None)
        return InboundAnswer(existing, None if is_missed(existing) else ring)
    return InboundAnswer(call, ring)


def _notify_missed(call: Call) -> None:
    notify(
        call.user,
        kind=Notification.Kind.MISSED_CALL,
        title=f"Missed call from {call.contact or call.from_number}",
        body=f"{call.from_number} called {call.to_number}.",
        target=call,
    )


@transaction.atomic
def record_dial_result(call_sid: str, *, dial_status: str, dial_duration: str = "") -> Call | None:
    """Record whether the ringing user answered; an unanswered call becomes missed, notified once."""
    call = Call.objects.select_for_update().filter(twilio_sid=call_sid, direction=Direction.INBOUND).first()
    if call is None:
        return None
    if dial_status == Status.COMPLETED:
        talked = _seconds(dial_duration)
        now = timezone.now()
        if call.answered_at is None and not is_missed(call):
            call.answered_at = now - timedelta(seconds=talked or 0)
            call.ended_at = call.ended_at or now
            call.duration_seconds = call.duration_seconds or talked
            _advance(call, Status.COMPLETED)
            call.save(update_fields=["status", "answered_at", "ended_at", "duration_seconds", "updated_at"])
        return call
    if is_missed(call) or call.answered_at is not None:
        return call
    # "completed" from a racing status callback of the caller's leg still means nobody answered.
    call.status = Status.NO_ANSWER
    call.save(update_fields=["status", "updated_at"])
    _notify_missed(call)
    return call


@transaction.atomic
def store_recording(
    call_sid: str, *, recording_sid: str, recording_url: str, duration: str = ""
) -> Call | None:
    """Keep a call's recording once; on a missed call it is a voicemail, and its owner is told once."""
    call = Call.objects.select_for_update().filter(twilio_sid=call_sid).first()
    if call is None or call.recording_sid or not recording_sid or not _is_url(recording_url):
        return call
    call.recording_sid = recording_sid[:34]
    call.recording_url = recording_url
    call.recording_duration_seconds = _seconds(duration)
    call.is_voicemail = is_missed(call)
    call.save(
        update_fields=[
            "recording_sid",
            "recording_url",
            "recording_duration_seconds",
            "is_voicemail",
            "updated_at",
        ]
    )
    if call.is_voicemail:
        notify(
            call.user,
            kind=Notification.Kind.VOICEMAIL,
            title=f"New voicemail from {call.contact or call.from_number}",
            body=f"{call.recording_duration_seconds or 0} seconds, left on {call.to_number}.",
            target=call,
        )
    return call


# Status callbacks


@transaction.atomic
def apply_status_callback(
    call_sid: str, *, status: str, duration: str = "", timestamp: str = ""
) -> Call | None:
    """Record Twilio's progress of a call; steps back and replays change nothing."""
    call = Call.objects.select_for_update().filter(twilio_sid=call_sid).first()
    if call is None:
        return None
    at = _timestamp(timestamp)
    changed = set()
    if _advance(call, status):
        changed.add("status")
    if status == Status.INITIATED and call.started_at is None:
        call.started_at = at
        changed.add("started_at")
    # An inbound call is answered by Twilio's TwiML at once; it counts as answered when a person is.
    if status == Status.IN_PROGRESS and call.direction == Direction.OUTBOUND and call.answered_at is None:
        call.answered_at = at
        changed.add("answered_at")
    if status in FINAL_STATUSES:
        if call.ended_at is None:
            call.ended_at = at
            changed.add("ended_at")
        seconds = _seconds(duration)
        if seconds is not None and call.duration_seconds != seconds:
            call.duration_seconds = seconds
            changed.add("duration_seconds")
    if changed:
        call.save(update_fields=[*changed, "updated_at"])
    return call


def _is_url(value: str) -> bool:
    try:
        URLValidator(schemes=["https", "http"])(value)
    except ValidationError:
        return False
    return len(value) <= Call._meta.get_field("recording_url").max_length


def _seconds(value: str) -> int | None:
    try:
        seconds = int(value)
    except (TypeError, ValueError):
        return None
    # Twilio reports whole seconds of a call; anything beyond a day of talk is not a duration.
    return seconds if 0 <= seconds <= MAX_CALL_SECONDS else None


MAX_CALL_SECONDS = 24 * 60 * 60


def _timestamp(value: str) -> datetime:
    """Twilio's RFC 2822 callback time, or now when it is missing or malformed."""
    try:
        parsed = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return timezone.now()
    return parsed if parsed.tzinfo else timezone.now()


# The call log


@transaction.atomic
def update_call(call: Call, *, changes: dict) -> Call:
    """Change what a person may change on a logged call: its notes and its contact."""
    allowed = {key: value for key, value in changes.items() if key in {"notes", "contact"}}
    for field, value in allowed.items():
        setattr(call, field, value)
    if allowed:
        call.save(update_fields=[*allowed, "updated_at"])
    return call
