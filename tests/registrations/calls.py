"""Isolation-matrix registration of /api/calls (the call log and click-to-call)."""

from calls.models import Call
from messaging.models import TwilioSettings
from tenancy.context import company_context
from tenancy.models import User

from ..factories import CallFactory, ContactFactory, PhoneNumberFactory, TwilioSettingsFactory
from ..isolation import Registration
from ..unscoped import as_the_platform_unaudited


def call_payload(company) -> dict:
    """A click-to-call the company can place: Twilio settings, a voice number, and callers with a phone."""
    with company_context(company):
        configured = TwilioSettings.objects.exists()
    if not configured:
        TwilioSettingsFactory(company=company)
    PhoneNumberFactory(company=company)
    with as_the_platform_unaudited():
        User.objects.filter(company=company, phone="").update(phone="+14155550142")
    return {"contact": str(ContactFactory(company=company).id), "notes": "Matrix call"}


REGISTRATIONS = {
    Call: Registration(CallFactory, call_payload, owned_by=lambda company: {"phone_number__company": company})
}
