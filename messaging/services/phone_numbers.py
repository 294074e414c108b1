"""Phone numbers: numbers the company's own Twilio account owns, each held by one company platform-wide.

A number is registered, or a registered number changed to it, only once the current company's Twilio
account says it owns the number (IncomingPhoneNumbers), and its PN SID there is stored. Twilio is
asked first, so a company whose account does not own a number learns nothing about who registered
it. Then no company may hold it already: live anywhere, or deleted by another company within
PHONE_NUMBER_RESERVATION_DAYS; the answer is the same sentence whoever holds it. A company takes
back its own reserved number like any other, and a number changed to another stays reserved for
the company as a deleted one does.
"""

import hashlib
import logging
import re
from dataclasses import dataclass

import requests
from django.db import IntegrityError, connection, transaction
from twilio.base.exceptions import TwilioException, TwilioRestException

from core.text import WHITESPACE
from tenancy.context import require_company_id
from tenancy.resolution import audited_company_for_key

from ..models import HeldPhoneNumber, PhoneNumber
from ..twilio import TwilioNotConfigured, number_ownership

logger = logging.getLogger("messaging.phone_numbers")

ALREADY_REGISTERED = "This number is already registered."
NOT_OWNED = (
    "This company's Twilio account {account_sid} does not own this number. Buy it or port it into "
    "that account at Twilio, then register it here."
)
NOT_CONFIGURED = (
    "Twilio is not set up for this company: add its Twilio account SID and auth token under "
    "/api/twilio-settings (or Twilio settings in the admin) first, then register the number."
)
CREDENTIALS_REFUSED = (
    "Twilio refused this company's credentials (HTTP {status}) when asked whether its account owns "
    "the number; correct the account SID and auth token in the Twilio settings, then try again."
)
UNREACHABLE = (
    "Twilio could not be reached to confirm that this company's account owns the number; nothing was "
    "registered. Try again in a few minutes."
)
TWILIO_FAILED = (
    "Twilio answered the question whether this company's account owns the number with an error{status}; "
    "nothing was registered. Try again in a few minutes."
)
TAKEN_REASON = "phone number registration: is the number taken"
PN_SID = re.compile(r"^PN[0-9a-fA-F]{32}$")
# Separators people type in a number; E.164 itself has none.
SEPARATORS = re.compile(rf"[{WHITESPACE}\-().]")
# What the API takes as a number: E.164 with separators anywhere, as people type it ("+1 (415) 555-0100").
_SEP = rf"[{WHITESPACE}\-().]*"
TYPED_NUMBER_PATTERN = rf"^{_SEP}\+{_SEP}[1-9](?:{_SEP}\d){{1,14}}{_SEP}$"


class NumberRefused(ValueError):
    """The number cannot be registered for this company; the message is about the number."""


class NumberAlreadyRegistered(NumberRefused):
    """A company holds the number already (this one or another, live or reserved: the answer is the same)."""


class NumberNotOwned(NumberRefused):
    """The company's Twilio account does not own the number."""


class TwilioNotReady(ValueError):
    """The company's Twilio settings are missing or refused by Twilio; the company must fix them first."""


class TwilioUnavailable(RuntimeError):
    """Twilio did not answer the ownership look-up usably; `reached` says whether it answered at all."""

    def __init__(self, message: str, *, reached: bool):
        super().__init__(message)
        self.reached = reached


@dataclass(frozen=True)
class VettedNumber:
    """A number the current company may register now, with its PN SID in the company's Twilio account."""

    number: str
    twilio_sid: str


def normalize_number(raw: str) -> str:
    """A typed number without spaces, dashes, dots or parentheses: "+1 (415) 555-0100" -> "+14155550100"."""
    return SEPARATORS.sub("", raw)


def _answered_status(error: TwilioException) -> int | None:
    """The HTTP status Twilio answered with, when the SDK's error carries one."""
    if isinstance(error, TwilioRestException):
        return error.status
    # A list page the SDK could not read carries Twilio's response as its second argument.
    response = error.args[1] if len(error.args) > 1 else None
    return getattr(response, "status_code", None)


def owned_number_sid(number: str) -> str:
    """The PN SID of `number` in the current company's Twilio account; refused when it does not own it."""
    try:
        ownership = number_ownership(number)
    except TwilioNotConfigured as error:
        raise TwilioNotReady(NOT_CONFIGURED) from error
    except (requests.RequestException, OSError) as error:
        logger.warning("Twilio unreachable for a number look-up: %s", type(error).__name__)
        raise TwilioUnavailable(UNREACHABLE, reached=False) from error
    except (TwilioException, ValueError, KeyError) as error:
        status = _answered_status(error) if isinstance(error, TwilioException) else None
        if status in (401, 403):
            raise TwilioNotReady(CREDENTIALS_REFUSED.format(status=status)) from error
        logger.warning(
            "Twilio answered a number look-up with an error: %s (HTTP %s)", type(error).__name__, status
        )
        raise TwilioUnavailable(
            TWILIO_FAILED.format(status=f" (HTTP {status})" if status else ""), reached=True
        ) from error
    if ownership.sid is None:
        raise NumberNotOwned(NOT_OWNED.format(account_sid=ownership.account_sid))
    if not PN_SID.match(ownership.sid):
        logger.warning("Twilio answered a number look-up with an unexpected SID")
        raise TwilioUnavailable(TWILIO_FAILED.format(status=""), reached=True)
    return ownership.sid


def _wait_for_other_registrations_of(number: str) -> None:
    # Two registrations of one number at once: the second waits here until the first commits, then
    # sees it (without this it would meet the unique constraint only on insert, after the admin form
    # had already been accepted). The lock ends with the transaction, which every request has.
    if connection.vendor != "postgresql":
        return
    digest = hashlib.sha256(f"phone number registration:{number}".encode()).digest()
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_advisory_xact_lock(%s)", [int.from_bytes(digest[:8], "big", signed=True)])


def ensure_available(number: str) -> None:
    """Refuse a number another company holds (live or reserved) or this company has live, alike."""
    _wait_for_other_registrations_of(number)
    # The platform-wide read goes through the audited resolver and yields a company id, never shown.
    holder = audited_company_for_key(HeldPhoneNumber, "number", number, reason=TAKEN_REASON)
    if holder is None:
        return
    if holder != require_company_id() or PhoneNumber.objects.filter(number=number).exists():
        raise NumberAlreadyRegistered(ALREADY_REGISTERED)


def vet_number(number: str) -> VettedNumber:
    """Check that the current company may register `number` now: Twilio first, then the platform's numbers."""
    twilio_sid = owned_number_sid(number)
    ensure_available(number)
    return VettedNumber(number=number, twilio_sid=twilio_sid)


def register_number(*, number: str, **fields) -> PhoneNumber:
    """Register a number the current company's Twilio account owns, with its PN SID; refused when held."""
    return save_number(PhoneNumber(number=number, **fields), vet_number(number))


def update_number(phone_number: PhoneNumber, **changes) -> PhoneNumber:
    """Change a number's name, capabilities or owner, or the number itself (registered like a new one)."""
    number = changes.get("number", phone_number.number)
    vetted = vet_number(number) if number != phone_number.number else None
    for field, value in changes.items():
        setattr(phone_number, field, value)
    return save_number(phone_number, vetted)


def save_number(phone_number: PhoneNumber, vetted: VettedNumber | None) -> PhoneNumber:
    """Save a number; a new or changed one only as `vet_number` vetted it, the replaced one kept reserved."""
    previous = None if phone_number._state.adding else PhoneNumber.objects.filter(pk=phone_number.pk).first()
    renumbered = previous is None or previous.number != phone_number.number
    if renumbered:
        if vetted is None or vetted.number != phone_number.number:
            raise ValueError(f"Vet {phone_number.number} with vet_number() before saving it.")
        phone_number.twilio_sid = vetted.twilio_sid
    try:
        with transaction.atomic():
            if previous is not None and renumbered:
                _keep_reserved(previous)
            phone_number.save()
    except IntegrityError as error:
        # Registered by another transaction that took no lock (not on PostgreSQL).
        raise NumberAlreadyRegistered(ALREADY_REGISTERED) from error
    if renumbered:
        logger.info("phone number %s registered as %s", phone_number.number, phone_number.twilio_sid)
    return phone_number


def _keep_reserved(previous: PhoneNumber) -> None:
    # A deleted row of the old number, as its deletion would leave: the reservation reads those.
    PhoneNumber.objects.create(
        number=previous.number,
        friendly_name=previous.friendly_name,
        sms_enabled=previous.sms_enabled,
        voice_enabled=previous.voice_enabled,
        user_id=previous.user_id,
        twilio_sid=previous.twilio_sid,
        is_deleted=True,
    )
