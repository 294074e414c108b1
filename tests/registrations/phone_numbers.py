"""Isolation-matrix registration of /api/sms/phone-numbers."""

import itertools

from messaging.models import PhoneNumber

from ..factories import PhoneNumberFactory, UserFactory
from ..isolation import Registration

# Numbers are unique across the platform, so every payload names a fresh one.
_numbers = itertools.count()


def phone_number_payload(company) -> dict:
    return {
        "number": f"+1303555{next(_numbers) % 10_000:04d}",
        "friendly_name": "Front desk",
        "sms_enabled": True,
        "voice_enabled": False,
        "user": str(UserFactory(company=company).id),
    }


REGISTRATIONS = {PhoneNumber: Registration(PhoneNumberFactory, phone_number_payload)}
