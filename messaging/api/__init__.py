"""REST API of messaging: Twilio settings, phone numbers, SMS, e-mail and notifications."""

from . import email, notifications, phone_numbers, sms, twilio_settings

routes = [
    *twilio_settings.routes,
    *phone_numbers.routes,
    *sms.routes,
    *email.routes,
    *notifications.routes,
]
