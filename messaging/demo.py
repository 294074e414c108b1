"""Deterministic demo records of messaging, written with bulk inserts (dry-run Twilio credentials)."""

import random
from datetime import UTC, datetime, timedelta

from crm.demo import BATCH_SIZE, demo_company_index, seeded_uuid
from crm.models import Contact, Deal

from .models import (
    Direction,
    Email,
    EmailCampaign,
    EmailTemplate,
    Notification,
    PhoneNumber,
    SmsMessage,
    TwilioSettings,
)

NUMBERS_PER_COMPANY = 2
# Demo numbers are +1 202 5xx xxxx: room for 2,500,000 companies, two numbers each.
NUMBER_SERIAL_START, NUMBER_SERIAL_END = 5_000_000, 10_000_000
CONVERSATIONS = 3
DIRECT_EMAILS = 3
NOW = datetime(2026, 1, 1, 9, 0, tzinfo=UTC)


def demo_phone_number(company_index: int, line: int) -> str:
    """The line-th number of the company_index-th demo company: never the same for two (index, line)."""
    serial = NUMBER_SERIAL_START + company_index * NUMBERS_PER_COMPANY + line
    if not 0 <= line < NUMBERS_PER_COMPANY or serial >= NUMBER_SERIAL_END:
        raise ValueError(f"No demo number for company {company_index}, line {line}.")
    return f"+1202{serial}"


def _hex(rng: random.Random, prefix: str) -> str:
    """A Twilio-style SID or token: a prefix and 32 hex digits drawn from the seeded generator."""
    return f"{prefix}{rng.getrandbits(128):032x}"


def seed_messaging(company, users, rng: random.Random, per_company: int) -> dict[str, int]:
    """Twilio settings, numbers, texts, e-mails, a campaign and notifications for one company."""
    owner, sales = users[0], users[2] if len(users) > 2 else users[0]
    index = demo_company_index(company.slug)
    contacts = list(Contact.objects.order_by("email")[: max(CONVERSATIONS, DIRECT_EMAILS, 10)])
    deal_of = {deal.contact_id: deal for deal in Deal.objects.filter(contact__in=contacts)}

    twilio_settings = TwilioSettings(
        id=seeded_uuid(rng), company=company, account_sid=_hex(rng, "AC"), auth_token=_hex(rng, "")
    )
    numbers = [
        PhoneNumber(
            id=seeded_uuid(rng),
            company=company,
            number=demo_phone_number(index, line),
            friendly_name=name,
            sms_enabled=True,
            voice_enabled=voice,
            user=user,
            twilio_sid=_hex(rng, "PN"),
        )
        for line, (name, voice, user) in enumerate(
            [("Main line", True, owner), ("Sales texts", False, sales)]
        )
    ]

    texts, notifications = [], []
    for n, contact in enumerate(contacts[:CONVERSATIONS]):
        number = numbers[n % len(numbers)]
        sent = NOW - timedelta(days=n + 1)
        conversation = [
            (Direction.OUTBOUND, f"Hi {contact.first_name}, thanks for your interest. Free for a call?"),
            (Direction.INBOUND, "Yes, tomorrow afternoon works for me."),
            (Direction.OUTBOUND, "Great, I will call you at 3pm."),
        ]
        for step, (direction, body) in enumerate(conversation):
            outbound = direction == Direction.OUTBOUND
            failed = outbound and n == CONVERSATIONS - 1 and step == len(conversation) - 1
            at = sent + timedelta(minutes=7 * step)
            texts.append(
                SmsMessage(
                    id=seeded_uuid(rng),
                    company=company,
                    user=number.user,
                    contact=contact,
                    phone_number=number,
                    direction=direction,
                    from_number=number.number if outbound else contact.phone,
                    to_number=contact.phone if outbound else number.number,
                    body=body,
                    status=(
                        SmsMessage.Status.FAILED
                        if failed
                        else SmsMessage.Status.DELIVERED
                        if outbound
                        else SmsMessage.Status.RECEIVED
                    ),
                    twilio_sid=_hex(rng, "SM"),
                    error_code="30003" if failed else "",
                    error_message="Unreachable destination handset." if failed else "",
                    sent_at=at if outbound else None,
                    delivered_at=at + timedelta(seconds=4) if outbound and not failed else None,
                    read_at=None if outbound or n == 0 else at + timedelta(minutes=2),
                    attempts=1 if outbound else 0,
                )
            )
            if not outbound or failed:
                kind = Notification.Kind.SEND_FAILED if failed else Notification.Kind.SMS_RECEIVED
                title = (
                    f"Text to {contact.full_name} failed" if failed else f"New text from {contact.full_name}"
                )
                notifications.append(_notification(rng, company, number.user, kind, title, body, texts[-1]))

    templates = [
        EmailTemplate(
            id=seeded_uuid(rng),
            company=company,
            user=owner,
            name="Welcome",
            subject="Welcome, {{ contact.first_name }}",
            body_text="Dear {{ contact.first_name }},\n\nwelcome aboard.\n\n{{ sender.full_name }}",
        ),
        EmailTemplate(
            id=seeded_uuid(rng),
            company=company,
            user=sales,
            name="Follow-up",
            subject="About {{ deal.name }}",
            body_text=(
                "Hi {{ contact.first_name }},\n\nany questions about {{ deal.name }}?\n\n"
                "{{ sender.full_name }}"
            ),
        ),
    ]
    campaign = EmailCampaign(
        id=seeded_uuid(rng),
        company=company,
        user=owner,
        name="New year newsletter",
        template=templates[0],
        recipient_filter={"owner": str(owner.pk)},
        status=EmailCampaign.Status.SENT,
        scheduled_at=NOW - timedelta(days=2),
        started_at=NOW - timedelta(days=2),
        completed_at=NOW - timedelta(days=2, minutes=-3),
    )
    emails = [
        Email(
            id=seeded_uuid(rng),
            company=company,
            user=owner,
            contact=contact,
            template=templates[0],
            campaign=campaign,
            to_email=contact.email,
            subject=f"Welcome, {contact.first_name}",
            body_text=f"Dear {contact.first_name},\n\nwelcome aboard.\n\n{owner.full_name}",
            status=Email.Status.SENT,
            message_id=f"<{seeded_uuid(rng)}@{company.slug}.example>",
            sent_at=campaign.completed_at,
            attempts=1,
        )
        for contact in contacts
        if contact.owner_id == owner.pk
    ]
    for n, contact in enumerate(contacts[:DIRECT_EMAILS]):
        deal = deal_of.get(contact.pk)
        failed = n == DIRECT_EMAILS - 1
        subject = f"About {deal.name}" if deal else "Following up"
        emails.append(
            Email(
                id=seeded_uuid(rng),
                company=company,
                user=sales,
                contact=contact,
                deal=deal,
                template=templates[1],
                to_email=contact.email,
                subject=subject,
                body_text=f"Hi {contact.first_name},\n\nany questions?\n\n{sales.full_name}",
                status=Email.Status.FAILED if failed else Email.Status.SENT,
                error_message="550 5.1.1 Mailbox unavailable." if failed else "",
                message_id="" if failed else f"<{seeded_uuid(rng)}@{company.slug}.example>",
                sent_at=None if failed else NOW - timedelta(hours=n + 1),
                attempts=1,
            )
        )
        if failed:
            notifications.append(
                _notification(
                    rng,
                    company,
                    sales,
                    Notification.Kind.SEND_FAILED,
                    f"E-mail to {contact.email} failed",
                    emails[-1].error_message,
                    emails[-1],
                )
            )
    for n, user in enumerate(users):
        welcome = _notification(
            rng, company, user, Notification.Kind.INFO, "Welcome to the CRM", "Your demo company is ready."
        )
        welcome.read_at = NOW if n % 2 else None
        notifications.append(welcome)

    TwilioSettings.objects.bulk_create([twilio_settings])
    PhoneNumber.objects.bulk_create(numbers)
    SmsMessage.objects.bulk_create(texts, batch_size=BATCH_SIZE)
    EmailTemplate.objects.bulk_create(templates)
    EmailCampaign.objects.bulk_create([campaign])
    Email.objects.bulk_create(emails, batch_size=BATCH_SIZE)
    Notification.objects.bulk_create(notifications, batch_size=BATCH_SIZE)
    return {
        "phone_numbers": len(numbers),
        "sms_messages": len(texts),
        "emails": len(emails),
        "notifications": len(notifications),
    }


def _notification(rng, company, user, kind, title, body="", target=None) -> Notification:
    return Notification(
        id=seeded_uuid(rng),
        company=company,
        user=user,
        kind=kind,
        title=title[:200],
        body=body,
        target_type=target._meta.model_name if target is not None else "",
        target_id=target.pk if target is not None else None,
    )
