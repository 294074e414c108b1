"""Phone numbers: the company's Twilio numbers, each registered to one company across the platform."""

import logging
import re

from django.db import IntegrityError, transaction

from core.text import WHITESPACE
from tenancy.resolution import audited_company_for_key

from ..models import PhoneNumber

logger = logging.getLogger("messaging.phone_numbers")

ALREADY_REGISTERED = "This number is already registered."
# Separators people type in a number; E.164 itself has none.
SEPARATORS = re.compile(rf"[{WHITESPACE}\-().]")
# What the API takes as a number: E.164 with separators anywhere, as people type it ("+1 (415) 555-0100").
_SEP = rf"[{WHITESPACE}\-().]*"
TYPED_NUMBER_PATTERN = rf"^{_SEP}\+{_SEP}[1-9](?:{_SEP}\d){{1,14}}{_SEP}$"


class NumberAlreadyRegistered(ValueError):
    """The number belongs to a company already (this one or another: the answer is the same)."""


def normalize_number(raw: str) -> str:
    """A typed number without spaces, dashes, dots or parentheses: "+1 (415) 555-0100" -> "+14155550100"."""
    return SEPARATORS.sub("", raw)


def ensure_unregistered(number: str) -> None:
    # The platform-wide check reads every company's numbers, through the audited resolver; the
    # message never says which company owns the number.
    owner = audited_company_for_key(
        PhoneNumber, "number", number, reason="phone number registration: is the number taken"
    )
    if owner is not None:
        raise NumberAlreadyRegistered(ALREADY_REGISTERED)


def _save(phone_number: PhoneNumber) -> PhoneNumber:
    try:
        with transaction.atomic():
            phone_number.save()
    except IntegrityError as error:
        # Registered by someone else between the check and the insert.
        raise NumberAlreadyRegistered(ALREADY_REGISTERED) from error
    return phone_number


def register_number(*, number: str, **fields) -> PhoneNumber:
    """Register a number for the current company; refused when any company has it already."""
    ensure_unregistered(number)
    registered = _save(PhoneNumber(number=number, **fields))
    logger.info("phone number %s registered", number)
    return registered


def update_number(phone_number: PhoneNumber, **changes) -> PhoneNumber:
    """Change a number's name, capabilities, owner or the number itself (checked like a new one)."""
    number = changes.get("number")
    if number is not None and number != phone_number.number:
        ensure_unregistered(number)
    for field, value in changes.items():
        setattr(phone_number, field, value)
    return _save(phone_number)
