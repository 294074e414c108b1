"""Admin pages of messaging."""

from django import forms
from django.contrib import admin

from tenancy.admin import TenantModelAdmin

from .models import Email, EmailCampaign, EmailTemplate, Notification, PhoneNumber, SmsMessage, TwilioSettings


class TwilioSettingsForm(forms.ModelForm):
    """The auth token is write-only: never shown, kept when left blank."""

    auth_token = forms.CharField(
        widget=forms.PasswordInput(render_value=False),
        required=False,
        help_text="Leave blank to keep the stored token.",
    )

    class Meta:
        model = TwilioSettings
        fields = ["account_sid", "auth_token"]

    def clean_auth_token(self):
        token = self.cleaned_data.get("auth_token")
        if token:
            return token
        if self.instance.pk and self.instance.auth_token:
            return self.instance.auth_token
        raise forms.ValidationError("Enter the account's auth token.")


@admin.register(TwilioSettings)
class TwilioSettingsAdmin(TenantModelAdmin):
    form = TwilioSettingsForm
    list_display = ["account_sid", "token_hint", "last_tested_at", "last_test_ok"]
    readonly_fields = ["last_tested_at", "last_test_ok", "last_test_error"]

    @admin.display(description="Auth token")
    def token_hint(self, obj):
        return obj.auth_token_hint


@admin.register(PhoneNumber)
class PhoneNumberAdmin(TenantModelAdmin):
    list_display = ["number", "friendly_name", "sms_enabled", "voice_enabled", "user"]
    list_filter = ["sms_enabled", "voice_enabled"]
    search_fields = ["number", "friendly_name"]


@admin.register(SmsMessage)
class SmsMessageAdmin(TenantModelAdmin):
    list_display = ["created_at", "direction", "from_number", "to_number", "status", "contact", "user"]
    list_filter = ["direction", "status"]
    search_fields = ["from_number", "to_number", "body", "twilio_sid"]
    list_select_related = ["contact", "user"]
    readonly_fields = [
        "twilio_sid",
        "status",
        "error_code",
        "error_message",
        "sent_at",
        "delivered_at",
        "attempts",
    ]


@admin.register(EmailTemplate)
class EmailTemplateAdmin(TenantModelAdmin):
    list_display = ["name", "subject", "user", "updated_at"]
    search_fields = ["name", "subject"]


@admin.register(EmailCampaign)
class EmailCampaignAdmin(TenantModelAdmin):
    list_display = ["name", "template", "status", "scheduled_at", "started_at", "completed_at"]
    list_filter = ["status"]
    search_fields = ["name"]
    readonly_fields = ["status", "started_at", "completed_at"]


@admin.register(Email)
class EmailAdmin(TenantModelAdmin):
    list_display = ["created_at", "to_email", "subject", "status", "campaign", "user"]
    list_filter = ["status"]
    search_fields = ["to_email", "subject"]
    list_select_related = ["campaign", "user"]
    readonly_fields = ["status", "error_message", "message_id", "sent_at", "attempts"]


@admin.register(Notification)
class NotificationAdmin(TenantModelAdmin):
    list_display = ["created_at", "user", "kind", "title", "read_at"]
    list_filter = ["kind"]
    search_fields = ["title", "body"]
    list_select_related = ["user"]
