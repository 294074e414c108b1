"""Admin pages of messaging."""

from django import forms
from django.contrib import admin

from tenancy.admin import ManagedSettingsAdmin, ServiceRecordAdmin, TenantModelAdmin
from tenancy.context import company_context, current_company_id

from .models import Email, EmailCampaign, EmailTemplate, Notification, PhoneNumber, SmsMessage, TwilioSettings
from .services import phone_numbers as numbers
from .services.templates import TEMPLATE_PARTS, save_template, template_errors
from .throttles import registration_wait

TOO_MANY_REGISTRATIONS = (
    "Too many phone number registrations by you or for this company; try again in {wait} seconds."
)


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

    def clean(self):
        cleaned = super().clean()
        company = cleaned.get("company") or self.instance.company_id or current_company_id()
        if self.instance._state.adding and company is not None:
            with company_context(company):
                if TwilioSettings.objects.exists():
                    raise forms.ValidationError(
                        "This company already has Twilio settings; change those instead."
                    )
        return cleaned

    def clean_auth_token(self):
        token = self.cleaned_data.get("auth_token")
        if token:
            return token
        if self.instance.pk and self.instance.auth_token:
            return self.instance.auth_token
        raise forms.ValidationError("Enter the account's auth token.")


@admin.register(TwilioSettings)
class TwilioSettingsAdmin(ManagedSettingsAdmin):
    form = TwilioSettingsForm
    list_display = ["account_sid", "token_hint", "last_tested_at", "last_test_ok"]
    readonly_fields = ["last_tested_at", "last_test_ok", "last_test_error"]

    @admin.display(description="Auth token")
    def token_hint(self, obj):
        return obj.auth_token_hint


class PhoneNumberForm(forms.ModelForm):
    """The API's rule: a new or changed number is one the company's Twilio account owns and nobody holds."""

    # Set by PhoneNumberAdmin.get_form: the registration limits count per signed-in user.
    request = None
    # What clean() vetted, for save_record: the number and its PN SID.
    vetted = None

    class Meta:
        model = PhoneNumber
        fields = ["number", "friendly_name", "sms_enabled", "voice_enabled", "user"]

    def clean_number(self):
        return numbers.normalize_number(self.cleaned_data["number"])

    def clean(self):
        cleaned = super().clean()
        number = cleaned.get("number")
        company = cleaned.get("company") or self.instance.company_id or current_company_id()
        if not number or company is None or number == self.instance.number or self.errors:
            return cleaned
        wait = registration_wait(self.request, getattr(company, "pk", company))
        if wait is not None:
            raise forms.ValidationError(TOO_MANY_REGISTRATIONS.format(wait=wait))
        with company_context(company):
            try:
                self.vetted = numbers.vet_number(number)
            except numbers.NumberRefused as error:
                self.add_error("number", str(error))
            except (numbers.TwilioNotReady, numbers.TwilioUnavailable) as error:
                raise forms.ValidationError(str(error)) from error
        return cleaned


@admin.register(PhoneNumber)
class PhoneNumberAdmin(ManagedSettingsAdmin):
    form = PhoneNumberForm
    list_display = ["number", "friendly_name", "sms_enabled", "voice_enabled", "user"]
    list_filter = ["sms_enabled", "voice_enabled"]
    search_fields = ["number", "friendly_name"]
    list_select_related = ["user"]
    readonly_fields = ["twilio_sid"]

    def get_form(self, request, obj=None, change=False, **kwargs):
        form = super().get_form(request, obj, change, **kwargs)
        # modelform_factory makes a new class per call, so this request is the only one it sees.
        form.request = request
        return form

    def save_record(self, request, obj, form, change):
        numbers.save_number(obj, form.vetted)


@admin.register(SmsMessage)
class SmsMessageAdmin(ServiceRecordAdmin):
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


class EmailTemplateForm(forms.ModelForm):
    """The API's rules: allow-listed merge fields only, no template tags, a name unique in the company."""

    class Meta:
        model = EmailTemplate
        fields = ["name", "subject", "body_text", "body_html", "user"]

    def clean(self):
        cleaned = super().clean()
        parts = {part: cleaned[part] for part in TEMPLATE_PARTS if cleaned.get(part) is not None}
        for part, problems in template_errors(**parts).items():
            self.add_error(part, problems)
        name = cleaned.get("name")
        company = cleaned.get("company") or self.instance.company_id or current_company_id()
        if name and company is not None:
            with company_context(company):
                # The same check as messaging.services.templates.save_template, which the admin saves through.
                taken = EmailTemplate.objects.filter(name__iexact=name).exclude(pk=self.instance.pk)
                if taken.exists():
                    self.add_error("name", f"A template named {name!r} already exists.")
        return cleaned


@admin.register(EmailTemplate)
class EmailTemplateAdmin(TenantModelAdmin):
    form = EmailTemplateForm
    list_display = ["name", "subject", "user", "updated_at"]
    search_fields = ["name", "subject"]
    list_select_related = ["user"]

    def save_record(self, request, obj, form, change):
        if not change and obj.user_id is None and request.user.company_id == obj.company_id:
            obj.user = request.user
        save_template(obj)


@admin.register(EmailCampaign)
class EmailCampaignAdmin(TenantModelAdmin):
    list_display = ["name", "template", "status", "scheduled_at", "started_at", "completed_at"]
    list_filter = ["status"]
    search_fields = ["name"]
    readonly_fields = ["status", "started_at", "completed_at"]


@admin.register(Email)
class EmailAdmin(ServiceRecordAdmin):
    list_display = ["created_at", "to_email", "subject", "status", "campaign", "user"]
    list_filter = ["status"]
    search_fields = ["to_email", "subject"]
    list_select_related = ["campaign", "user"]
    readonly_fields = ["status", "error_message", "message_id", "sent_at", "attempts"]


@admin.register(Notification)
class NotificationAdmin(TenantModelAdmin):
    """A member sees and addresses only their own notifications; owners, admins and super admins all."""

    list_display = ["created_at", "user", "kind", "title", "read_at"]
    list_filter = ["kind"]
    search_fields = ["title", "body"]
    list_select_related = ["user"]

    def get_queryset(self, request):
        notifications = super().get_queryset(request)
        if request.user.can_manage_company:
            return notifications
        return notifications.filter(user=request.user)

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        field = super().formfield_for_foreignkey(db_field, request, **kwargs)
        if db_field.name == "user" and not request.user.can_manage_company:
            field.queryset = field.queryset.filter(pk=request.user.pk)
        return field
