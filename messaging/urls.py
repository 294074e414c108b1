"""Twilio SMS webhooks, under /api/twilio/sms/ (with or without a trailing slash, never redirected)."""

from django.urls import re_path

from .api.webhooks import InboundSmsWebhook, SmsStatusWebhook

urlpatterns = [
    re_path(r"^inbound/?$", InboundSmsWebhook.as_view(), name="twilio-sms-inbound"),
    re_path(r"^status/?$", SmsStatusWebhook.as_view(), name="twilio-sms-status"),
]
