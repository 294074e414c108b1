"""Deterministic demo calls: answered, missed and a voicemail, in and out, written with bulk inserts."""

import random
from datetime import UTC, datetime, timedelta

from crm.demo import BATCH_SIZE, seeded_uuid
from crm.models import Contact
from messaging.models import Direction, Notification, PhoneNumber
from messaging.services.notifications import notify
from messaging.twilio import current_company_settings

from .models import Call

NOW = datetime(2026, 1, 1, 9, 0, tzinfo=UTC)
# (direction, status, talk seconds, voicemail seconds): one call of each kind per contact, in turn.
PATTERN = [
    (Direction.OUTBOUND, Call.Status.COMPLETED, 312, None),
    (Direction.INBOUND, Call.Status.COMPLETED, 95, None),
    (Direction.INBOUND, Call.Status.NO_ANSWER, None, None),
    (Direction.INBOUND, Call.Status.COMPLETED, None, 24),
    (Direction.OUTBOUND, Call.Status.BUSY, None, None),
    (Direction.OUTBOUND, Call.Status.COMPLETED, 48, None),
]


def seed_calls(company, users, rng: random.Random, per_company: int) -> dict[str, int]:
    """A call log for one company's main number; missed calls and voicemails notify the owner."""
    line = PhoneNumber.objects.filter(voice_enabled=True).order_by("number").first()
    contacts = list(Contact.objects.order_by("email")[: len(PATTERN)])
    if line is None or not contacts:
        return {"calls": 0}
    account_sid = current_company_settings().account_sid
    calls = []
    for n, contact in enumerate(contacts):
        direction, status, talked, voicemail = PATTERN[n % len(PATTERN)]
        outbound = direction == Direction.OUTBOUND
        started = NOW - timedelta(days=n, hours=2 + n)
        answered = started + timedelta(seconds=9) if talked else None
        duration = talked or voicemail or 0
        recording_sid = f"RE{rng.getrandbits(128):032x}" if voicemail else ""
        calls.append(
            Call(
                id=seeded_uuid(rng),
                company=company,
                user=contact.owner if outbound else line.user,
                contact=contact,
                phone_number=line,
                direction=direction,
                from_number=line.number if outbound else contact.phone,
                to_number=contact.phone if outbound else line.number,
                status=status,
                twilio_sid=f"CA{rng.getrandbits(128):032x}",
                started_at=started,
                answered_at=answered,
                ended_at=started + timedelta(seconds=30 + duration),
                duration_seconds=duration,
                recording_sid=recording_sid,
                recording_url=(
                    f"https://api.twilio.com/2010-04-01/Accounts/{account_sid}/Recordings/{recording_sid}"
                    if voicemail
                    else ""
                ),
                recording_duration_seconds=voicemail,
                is_voicemail=bool(voicemail),
                notes="Discussed pricing and next steps." if talked and outbound else "",
                attempts=1 if outbound else 0,
            )
        )
    Call.objects.bulk_create(calls, batch_size=BATCH_SIZE)
    for call in calls:
        if call.is_voicemail:
            notify(
                call.user,
                kind=Notification.Kind.VOICEMAIL,
                title=f"Voicemail from {call.contact.full_name}",
                body=f"{call.recording_duration_seconds} seconds, left at {call.started_at:%Y-%m-%d %H:%M}.",
                target=call,
            )
        elif call.direction == Direction.INBOUND and call.status == Call.Status.NO_ANSWER:
            notify(
                call.user,
                kind=Notification.Kind.MISSED_CALL,
                title=f"Missed call from {call.contact.full_name}",
                body=f"{call.from_number} at {call.started_at:%Y-%m-%d %H:%M}.",
                target=call,
            )
    return {"calls": len(calls)}
