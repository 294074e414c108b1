"""Rate limits of phone number registrations, shared by the API and the admin.

Every registration (a new number, or a number changed to another) asks the company's Twilio account
and may block a number platform-wide, so each signed-in user and each company may try only so many:
PHONE_NUMBER_USER_THROTTLE_RATE and PHONE_NUMBER_COMPANY_THROTTLE_RATE. An attempt is counted once
its input is valid, before Twilio is asked, whatever Twilio then answers.
"""

from core.api.throttles import KeyThrottle, UserThrottle, throttle_wait


class RegistrationUserThrottle(UserThrottle):
    """Registrations by one user, in whichever company they act."""

    scope = "phone_number_user"


class RegistrationCompanyThrottle(KeyThrottle):
    """Registrations for one company, by all of its users together."""

    scope = "phone_number_company"


REGISTRATION_THROTTLES = [RegistrationUserThrottle, RegistrationCompanyThrottle]


class _Registration:
    """What KeyThrottle asks of a view: the key (the company the number is for) and its kind."""

    throttle_key_kind = "company"

    def __init__(self, company_id):
        self.company_id = company_id

    def throttle_key(self, request) -> str:
        return str(self.company_id)


def registration_wait(request, company_id) -> int | None:
    """Seconds to wait before this user may register a number for the company, else None (counted)."""
    return throttle_wait(request, _Registration(company_id), REGISTRATION_THROTTLES)
