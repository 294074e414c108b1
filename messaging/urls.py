"""Twilio SMS webhooks, under /api/twilio/sms/."""

urlpatterns: list = []
