"""Twilio voice webhooks, under /api/twilio/voice/; each path with or without a trailing slash."""

from django.urls import re_path

from .api.webhooks import CallStatusView, ConnectView, DialStatusView, InboundCallView, RecordingView

urlpatterns = [
    re_path(r"^inbound/?$", InboundCallView.as_view(), name="twilio-voice-inbound"),
    re_path(r"^dial-status/?$", DialStatusView.as_view(), name="twilio-voice-dial-status"),
    re_path(r"^recording/?$", RecordingView.as_view(), name="twilio-voice-recording"),
    re_path(r"^status/?$", CallStatusView.as_view(), name="twilio-voice-status"),
    re_path(r"^connect/?$", ConnectView.as_view(), name="twilio-voice-connect"),
]
