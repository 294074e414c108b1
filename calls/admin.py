"""Admin pages of calls."""

from django.contrib import admin

from tenancy.admin import ServiceRecordAdmin

from .models import Call


@admin.register(Call)
class CallAdmin(ServiceRecordAdmin):
    """Calls are recorded by the calls services and webhooks; viewed here, never added or edited."""

    list_display = [
        "created_at",
        "direction",
        "from_number",
        "to_number",
        "status",
        "duration_seconds",
        "user",
    ]
    list_filter = ["direction", "status", "is_voicemail"]
    search_fields = ["from_number", "to_number", "twilio_sid", "notes"]
    list_select_related = ["user", "contact"]
    readonly_fields = [
        "twilio_sid",
        "status",
        "started_at",
        "answered_at",
        "ended_at",
        "duration_seconds",
        "recording_sid",
        "recording_url",
        "recording_duration_seconds",
        "is_voicemail",
        "attempts",
    ]
