"""Twilio voice webhooks, under /api/twilio/voice/."""

urlpatterns: list = []
