"""REST API of messaging: Twilio settings, phone numbers, SMS, e-mail and notifications."""

from . import campaigns, email, notifications, phone_numbers, sms, templates, twilio_settings

routes = [
    *twilio_settings.routes,
    *phone_numbers.routes,
    *sms.routes,
    *email.routes,
    *templates.routes,
    *campaigns.routes,
    *notifications.routes,
]
