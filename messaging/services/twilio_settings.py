"""Twilio settings: one account per company, its auth token kept secret, and a connection test."""

import logging
from dataclasses import dataclass

import requests
from django.db import IntegrityError, transaction
from django.utils import timezone
from twilio.base.exceptions import TwilioException, TwilioRestException

from ..models import TwilioSettings
from ..twilio import client_for

logger = logging.getLogger("messaging.twilio_settings")


class AlreadyConfigured(ValueError):
    """The company already has Twilio settings, and a company has one Twilio account."""


def _already_configured() -> AlreadyConfigured:
    existing = TwilioSettings.objects.values_list("pk", flat=True).first()
    return AlreadyConfigured(
        f"This company already has Twilio settings; change them with PUT or PATCH "
        f"/api/twilio-settings/{existing} instead of adding another."
    )


@dataclass(frozen=True)
class ConnectionResult:
    """What the connection test found: whether Twilio accepted the credentials, and why not."""

    ok: bool
    detail: str


def create_settings(*, account_sid: str, auth_token: str) -> TwilioSettings:
    """Store the current company's Twilio account; refused when the company already has one."""
    if TwilioSettings.objects.exists():
        raise _already_configured()
    try:
        with transaction.atomic():
            created = TwilioSettings.objects.create(account_sid=account_sid, auth_token=auth_token)
    except IntegrityError as error:
        # Two first saves at once: the partial unique constraint lets only one through.
        raise _already_configured() from error
    logger.info("Twilio settings added for account %s", account_sid)
    return created


@transaction.atomic
def update_settings(
    twilio_settings: TwilioSettings, *, account_sid: str | None = None, auth_token: str | None = None
) -> TwilioSettings:
    """Change the account SID and/or the auth token; a token left out keeps the stored one.

    A change of credentials clears the last connection test, which no longer applies.
    """
    changed = []
    if account_sid is not None and account_sid != twilio_settings.account_sid:
        twilio_settings.account_sid = account_sid
        changed.append("account_sid")
    if auth_token and auth_token != twilio_settings.auth_token:
        twilio_settings.auth_token = auth_token
        changed.append("auth_token")
    if changed:
        twilio_settings.last_tested_at = None
        twilio_settings.last_test_ok = None
        twilio_settings.last_test_error = ""
        twilio_settings.save()
        logger.info("Twilio settings of account %s changed: %s", twilio_settings.account_sid, changed)
    return twilio_settings


def check_connection(twilio_settings: TwilioSettings) -> ConnectionResult:
    """Fetch the account from Twilio with the stored credentials and record the outcome."""
    try:
        account = client_for(twilio_settings).api.v2010.accounts(twilio_settings.account_sid).fetch()
    except TwilioRestException as error:
        result = ConnectionResult(False, f"Twilio refused the request ({error.status}): {error.msg}")
    except (TwilioException, requests.RequestException, OSError) as error:
        result = ConnectionResult(False, f"Twilio could not be reached: {type(error).__name__}.")
    else:
        if account.status == "active":
            result = ConnectionResult(True, f"Connected to the Twilio account {account.friendly_name}.")
        else:
            result = ConnectionResult(False, f"The Twilio account is {account.status}, not active.")
    twilio_settings.last_tested_at = timezone.now()
    twilio_settings.last_test_ok = result.ok
    twilio_settings.last_test_error = "" if result.ok else result.detail[:500]
    twilio_settings.save(update_fields=["last_tested_at", "last_test_ok", "last_test_error", "updated_at"])
    logger.info(
        "Twilio connection test of account %s: %s",
        twilio_settings.account_sid,
        "ok" if result.ok else "failed",
    )
    return result
