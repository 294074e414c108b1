"""Isolation-matrix registration of /api/sms/messages (the SMS log; POST sends a text)."""

from messaging.models import SmsMessage, TwilioSettings
from tenancy.context import company_context

from ..factories import ContactFactory, PhoneNumberFactory, SmsMessageFactory, TwilioSettingsFactory
from ..isolation import Registration


def sms_payload(company) -> dict:
    """A text the company can send: Twilio settings, an SMS-enabled number and a contact with a phone."""
    with company_context(company):
        configured = TwilioSettings.objects.exists()
    if not configured:
        TwilioSettingsFactory(company=company)
    PhoneNumberFactory(company=company)
    return {"contact": str(ContactFactory(company=company).id), "body": "Matrix text"}


REGISTRATIONS = {
    SmsMessage: Registration(
        SmsMessageFactory, sms_payload, owned_by=lambda company: {"phone_number__company": company}
    )
}
