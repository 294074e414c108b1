"""Admin pages of files: the folder tree and stored files (upload, rename, move, download)."""

from contextlib import AbstractContextManager, nullcontext

from django import forms
from django.conf import settings
from django.contrib import admin
from django.core.exceptions import ValidationError
from django.urls import path, reverse
from django.utils.html import format_html

from tenancy.admin import TenantModelAdmin
from tenancy.context import company_context, current_scope

from . import services
from .api import file_response
from .models import File, Folder


def acting_in(company_id) -> AbstractContextManager:
    """The company a form's rules are checked in: the record's, when a super admin spans all."""
    scope = current_scope()
    if scope is not None and scope.company_id is None and company_id is not None:
        return company_context(company_id)
    return nullcontext()


class FolderForm(forms.ModelForm):
    """Folder names stay unique within a parent, and a folder never moves below itself."""

    class Meta:
        # The admin supplies the model when it builds the form inside a request's company.
        fields = ["name", "parent"]

    def clean(self):
        cleaned = super().clean()
        if "name" not in cleaned or self.errors:
            return cleaned
        company = cleaned.get("company") or self.instance.company_id
        try:
            with acting_in(getattr(company, "pk", company)):
                cleaned["name"] = services.check_folder(
                    self.instance, name=cleaned["name"], parent=cleaned.get("parent")
                )
        except ValidationError as error:
            for field, messages in error.message_dict.items():
                self.add_error(field if field in self.fields else None, messages)
        return cleaned


@admin.register(Folder)
class FolderAdmin(TenantModelAdmin):
    form = FolderForm
    list_display = ["name", "parent", "user", "updated_at"]
    search_fields = ["name"]
    list_select_related = ["parent", "user"]
    readonly_fields = ["user"]

    def save_model(self, request, obj, form, change):
        with acting_in(obj.company_id):
            services.save_folder(obj, name=obj.name, parent=obj.parent, user=request.user)

    def delete_model(self, request, obj):
        with acting_in(obj.company_id):
            services.delete_folder(obj)

    def delete_queryset(self, request, queryset):
        for folder in queryset:
            with acting_in(folder.company_id):
                services.delete_folder(folder)


class FileUploadForm(forms.ModelForm):
    """A new file: its content, and optionally a name and a folder."""

    upload = forms.FileField(label="File", help_text="Its type is sniffed from the content.")
    name = forms.CharField(
        max_length=255, required=False, help_text="Defaults to the uploaded file's name; sanitized."
    )

    class Meta:
        fields = ["upload", "name", "folder"]

    def clean_upload(self):
        upload = self.cleaned_data["upload"]
        if upload.size > settings.FILE_UPLOAD_MAX_BYTES:
            raise ValidationError(services.size_limit_message())
        return upload

    def clean_name(self):
        name = self.cleaned_data.get("name")
        return services.sanitize_filename(name) if name else ""


class FileChangeForm(forms.ModelForm):
    """Rename (sanitized) or move a stored file; its content never changes."""

    class Meta:
        fields = ["name", "folder"]

    def clean_name(self):
        return services.sanitize_filename(self.cleaned_data["name"])


@admin.register(File)
class FileAdmin(TenantModelAdmin):
    list_display = ["name", "folder", "content_type", "size", "user", "created_at"]
    list_filter = ["content_type"]
    search_fields = ["name", "sha256"]
    list_select_related = ["folder", "user"]
    readonly_fields = ["content_type", "size", "sha256", "user", "download"]

    def get_form(self, request, obj=None, change=False, **kwargs):
        kwargs["form"] = FileChangeForm if obj is not None else FileUploadForm
        return super().get_form(request, obj, change, **kwargs)

    def get_readonly_fields(self, request, obj=None):
        # A new file is only its upload, name and folder; the rest is read from the content.
        return super().get_readonly_fields(request, obj) if obj is not None else []

    def save_form(self, request, form, change):
        if change:
            return super().save_form(request, form, change)
        company = form.cleaned_data.get("company")
        with acting_in(getattr(company, "pk", None)):
            upload = form.cleaned_data["upload"]
            return services.store_stream(
                upload,
                name=form.cleaned_data.get("name") or upload.name,
                folder=form.cleaned_data.get("folder"),
                user=request.user,
            )

    def save_model(self, request, obj, form, change):
        # A new file was stored by save_form(); a change is a rename or a move.
        if change:
            services.update_file(obj, name=obj.name, folder=obj.folder)

    def save_related(self, request, form, formsets, change):
        if change:
            super().save_related(request, form, formsets, change)

    def delete_model(self, request, obj):
        services.delete_file(obj)

    @admin.display(description="Content")
    def download(self, obj):
        url = reverse(f"admin:{obj._meta.app_label}_{obj._meta.model_name}_download", args=[obj.pk])
        return format_html('<a href="{}">Download</a>', url)

    def get_urls(self):
        download = self.admin_site.admin_view(self.download_view)
        return [
            path("<uuid:object_id>/download/", download, name="files_file_download"),
            *super().get_urls(),
        ]

    def download_view(self, request, object_id):
        """The stored bytes of one file the admin user may see."""
        file = self.get_object(request, str(object_id))
        if file is None or not self.has_view_permission(request, file):
            return self._get_obj_does_not_exist_redirect(request, self.opts, str(object_id))
        return file_response(file)
