"""Isolation-matrix registration of /api/twilio-settings."""

from messaging.models import TwilioSettings

from ..factories import TwilioSettingsFactory
from ..isolation import Registration


def twilio_settings_payload(company) -> dict:
    return {"account_sid": "AC" + "5" * 32, "auth_token": "matrix-auth-token-0001"}


REGISTRATIONS = {TwilioSettings: Registration(TwilioSettingsFactory, twilio_settings_payload)}
