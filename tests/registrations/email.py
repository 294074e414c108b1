"""Isolation-matrix registrations of e-mail: sent e-mails, templates and campaigns."""

from messaging.models import Email, EmailCampaign, EmailTemplate

from ..factories import ContactFactory, EmailCampaignFactory, EmailFactory, EmailTemplateFactory
from ..isolation import Registration


def email_payload(company) -> dict:
    return {
        "contact": str(ContactFactory(company=company).id),
        "subject": "Following up",
        "body_text": "Thanks for your time today.",
    }


def template_payload(company) -> dict:
    return {
        "name": "Welcome",
        "subject": "Welcome, {{ contact.first_name }}",
        "body_text": "Hello {{ contact.first_name }}, I am {{ sender.full_name }} of {{ company.name }}.",
        "body_html": "<p>Hello {{ contact.first_name }}</p>",
    }


def campaign_payload(company) -> dict:
    return {
        "name": "Spring launch",
        "template": str(EmailTemplateFactory(company=company).id),
        "recipient_filter": {"search": "example"},
    }


REGISTRATIONS = {
    Email: Registration(EmailFactory, email_payload, owned_by=lambda company: {"contact__company": company}),
    EmailTemplate: Registration(EmailTemplateFactory, template_payload),
    EmailCampaign: Registration(
        EmailCampaignFactory, campaign_payload, owned_by=lambda company: {"template__company": company}
    ),
}
