"""REST API of files and folders: /api/files, /api/folders, and the public signed download."""

import re
import uuid

import django_filters
from django import forms
from django.conf import settings
from django.core.exceptions import RequestDataTooBig, SuspiciousOperation
from django.core.files.uploadhandler import FileUploadHandler, StopUpload
from django.http import FileResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema, extend_schema_field
from rest_framework import permissions, serializers, status
from rest_framework.decorators import action
from rest_framework.exceptions import APIException, NotFound
from rest_framework.parsers import MultiPartParser
from rest_framework.response import Response
from rest_framework.views import APIView

from core.api import BadRequest, DetailSerializer, StrictSerializer
from core.api.filters import IsoDateTimeFilter
from core.api.throttles import PUBLIC_THROTTLES
from core.text import UUID
from tenancy.api import TenantModelSerializer, TenantRelatedField, TenantViewSet

from . import services
from .models import File, Folder

RECORD_FIELDS = ["id", "company", "created_at", "updated_at"]
TOP_LEVEL = "root"
TOP_LEVEL_SPELLINGS = {"root", "null", "none", "top"}
_TOP_LEVEL = "|".join(
    "".join(f"[{c.upper()}{c}]" for c in spelling) for spelling in sorted(TOP_LEVEL_SPELLINGS)
)  # any case, spelled without inline flags so every regular-expression dialect reads it
# Exact, like every typed query value (core.api.filters refuses one with spaces around it).
FOLDER_REFERENCE_PATTERN = rf"^({UUID}|{_TOP_LEVEL})$"
# Room for the multipart boundaries, part headers and the small text fields around the file.
MULTIPART_OVERHEAD_BYTES = 64 * 1024
BINARY_RESPONSE = OpenApiResponse(OpenApiTypes.BINARY, description="The file's bytes, as an attachment.")


class PayloadTooLarge(APIException):
    """413: the upload is over settings.FILE_UPLOAD_MAX_BYTES."""

    status_code = status.HTTP_413_REQUEST_ENTITY_TOO_LARGE
    default_code = "file_too_large"
    default_detail = "The file is too large."


class LinkExpired(APIException):
    """410: a genuine download link past its age."""

    status_code = status.HTTP_410_GONE
    default_code = "link_expired"
    default_detail = "This download link has expired; ask for a new one."


class UploadSizeGuard(FileUploadHandler):
    """Stops reading a multipart file as soon as it passes the size limit, before it reaches disk."""

    def __init__(self, request=None):
        super().__init__(request)
        self.limit = settings.FILE_UPLOAD_MAX_BYTES
        self.exceeded = False

    def receive_data_chunk(self, raw_data, start):
        if start + len(raw_data) > self.limit:
            self.exceeded = True
            raise StopUpload(connection_reset=False)
        return raw_data

    def file_complete(self, file_size):
        return None


def file_response(file: File) -> FileResponse:
    """The stored bytes as a download: sniffed type, sanitized attachment name, never rendered inline."""
    try:
        handle = services.open_file(file)
    except services.StoredContentMissing as error:
        raise NotFound("The stored content of this file is missing.") from error
    response = FileResponse(handle, as_attachment=True, filename=file.name, content_type=file.content_type)
    response["X-Content-Type-Options"] = "nosniff"
    response["Content-Security-Policy"] = "default-src 'none'; sandbox"
    response["Cache-Control"] = "private, no-store"
    return response


# Filters


class FolderReferenceField(forms.CharField):
    """A folder id, or "root" for the top level."""

    def clean(self, value):
        value = super().clean(value)
        if not value:
            return None
        if value.strip().lower() in TOP_LEVEL_SPELLINGS:
            return TOP_LEVEL
        if re.fullmatch(FOLDER_REFERENCE_PATTERN, value) is None:
            raise forms.ValidationError('Give a folder id, or "root" for the top level.')
        return uuid.UUID(value.strip())


@extend_schema_field(
    {
        "type": "string",
        "pattern": FOLDER_REFERENCE_PATTERN,
        "description": 'A folder id, or "root" for the top level.',
    }
)
class FolderReferenceFilter(django_filters.Filter):
    """Rows in one folder (by id), or at the top level ("root")."""

    field_class = FolderReferenceField

    def filter(self, queryset, value):
        if value is None:
            return queryset
        if value == TOP_LEVEL:
            return queryset.filter(**{f"{self.field_name}__isnull": True})
        return queryset.filter(**{f"{self.field_name}_id": value})


class FolderFilter(django_filters.FilterSet):
    parent = FolderReferenceFilter(
        field_name="parent", label='Folders inside this folder id, or "root" for top-level folders.'
    )
    created_after = IsoDateTimeFilter(field_name="created_at", lookup_expr="gte")
    created_before = IsoDateTimeFilter(field_name="created_at", lookup_expr="lt")

    class Meta:
        model = Folder
        fields = ["parent"]


class FileFilter(django_filters.FilterSet):
    folder = FolderReferenceFilter(
        field_name="folder", label='Files in this folder id, or "root" for files outside any folder.'
    )
    content_type = django_filters.CharFilter(
        lookup_expr="istartswith", label='Sniffed type, or its start: "image/", "application/pdf".'
    )
    user = django_filters.UUIDFilter(field_name="user_id", label="Uploaded by this user.")
    sha256 = django_filters.CharFilter(lookup_expr="iexact", label="Files with exactly this content.")
    created_after = IsoDateTimeFilter(field_name="created_at", lookup_expr="gte")
    created_before = IsoDateTimeFilter(field_name="created_at", lookup_expr="lt")

    class Meta:
        model = File
        fields = ["folder", "content_type", "user", "sha256"]


# Folders


@extend_schema_field({"type": "string", "maxLength": 255, "pattern": services.FOLDER_NAME_PATTERN})
class FolderNameField(serializers.CharField):
    """A folder name checked as typed against FOLDER_NAME_PATTERN; the service trims it once it passes."""

    def __init__(self, **kwargs):
        # Trimming first would hide characters the pattern refuses at either end (NEL, line breaks).
        super().__init__(trim_whitespace=False, max_length=255, **kwargs)


class FolderSerializer(TenantModelSerializer):
    """A folder; names are unique within a parent, and a folder never moves below itself."""

    name = FolderNameField(
        help_text=(
            'Unique within the parent; not "." or "..", and no "/", "\\", control characters, line breaks '
            "or bidirectional controls."
        )
    )

    class Meta:
        model = Folder
        fields = [*RECORD_FIELDS, "user", "name", "parent"]
        read_only_fields = [*RECORD_FIELDS, "user"]
        extra_kwargs = {"parent": {"help_text": "The folder this one is in; null for the top level."}}

    def create(self, validated_data):
        return services.save_folder(
            Folder(),
            name=validated_data["name"],
            parent=validated_data.get("parent"),
            user=validated_data.get("user"),
        )

    def update(self, instance, validated_data):
        return services.save_folder(
            instance,
            name=validated_data.get("name", instance.name),
            parent=validated_data.get("parent", instance.parent),
        )


class FolderNodeSerializer(StrictSerializer):
    """A folder in the tree, with the folders inside it."""

    id = serializers.UUIDField()
    name = serializers.CharField()
    parent = serializers.UUIDField(allow_null=True)
    children = serializers.SerializerMethodField()

    @extend_schema_field({"type": "array", "items": {"$ref": "#/components/schemas/FolderNode"}})
    def get_children(self, node):
        return FolderNodeSerializer(node["children"], many=True).data


class FolderViewSet(TenantViewSet):
    """The company's folder tree; DELETE removes a folder with everything below it."""

    model = Folder
    serializer_class = FolderSerializer
    filterset_class = FolderFilter
    search_fields = ["name"]
    ordering_fields = ["name", "created_at", "updated_at"]
    ordering = ["name"]

    def perform_destroy(self, instance):
        services.delete_folder(instance)

    @extend_schema(
        responses={200: FolderNodeSerializer(many=True)},
        description="Every folder of the company as a nested tree, top-level folders first, by name.",
    )
    @action(detail=False, methods=["get"], pagination_class=None, filter_backends=[])
    def tree(self, request):
        """The whole folder tree in one response."""
        # Plain dicts of JSON types: the renderer writes them as they are, however deep the tree.
        return Response(services.folder_tree())


# Files


class FilenameField(serializers.CharField):
    """A filename, sanitized to a safe basename (no directories, control or path characters)."""

    def to_internal_value(self, data):
        return services.sanitize_filename(super().to_internal_value(data))


class FileSerializer(TenantModelSerializer):
    """A stored file: its sanitized name, sniffed type, size and SHA-256; rename or move it."""

    name = FilenameField(max_length=255, help_text="Sanitized to a safe basename.")

    class Meta:
        model = File
        fields = [*RECORD_FIELDS, "user", "folder", "name", "content_type", "size", "sha256"]
        read_only_fields = [*RECORD_FIELDS, "user", "content_type", "size", "sha256"]
        extra_kwargs = {
            "folder": {"help_text": "The folder the file is in; null for the top level."},
            "content_type": {"help_text": "Sniffed from the content, never taken from the client."},
            "size": {"help_text": "In bytes."},
            "sha256": {"help_text": "SHA-256 of the content, hex."},
        }

    def update(self, instance, validated_data):
        return services.update_file(instance, **validated_data)


@extend_schema_field({"type": "string", "format": "binary", "minLength": 1})
class NonEmptyFileField(serializers.FileField):
    """An uploaded file of at least one byte (an empty one is refused), as the schema states."""


class FileUploadSerializer(StrictSerializer):
    """A multipart upload: the file, and optionally its folder and a name to store it under."""

    file = NonEmptyFileField(help_text="The content, at least one byte; its type is sniffed from the bytes.")
    # A form part cannot be null: leave the part out for the top level.
    folder = TenantRelatedField(model=Folder, required=False, help_text="Leave out for the top level.")
    name = FilenameField(
        required=False,
        allow_blank=True,
        max_length=255,
        help_text="Defaults to the uploaded file's name; sanitized.",
    )


class DownloadLinkSerializer(StrictSerializer):
    url = serializers.URLField(help_text="Public link; anyone holding it may download until it expires.")
    expires_at = serializers.DateTimeField()


class FileViewSet(TenantViewSet):
    """Files: multipart upload, rename and move, download, and signed download links."""

    model = File
    # A signed, expiring link shares what the whole company may already read.
    read_actions = frozenset({"link"})
    serializer_class = FileSerializer
    filterset_class = FileFilter
    search_fields = ["name"]
    ordering_fields = ["name", "size", "content_type", "created_at", "updated_at"]
    ordering = ["name"]

    def get_serializer_class(self):
        return FileUploadSerializer if self.action == "create" else FileSerializer

    def get_parsers(self):
        # An upload is multipart; renames and moves are JSON like every other body.
        # Called before `action` is set on a request, and with no request when the schema is built.
        request = getattr(self, "request", None)
        action = self.action_map.get(request.method.lower()) if request is not None else self.action
        if action == "create":
            return [MultiPartParser()]
        return super().get_parsers()

    def initialize_request(self, request, *args, **kwargs):
        drf_request = super().initialize_request(request, *args, **kwargs)
        self.upload_guard = None
        if self.action == "create":
            # Before anything reads the body, so an oversized file never reaches a temporary file.
            self.upload_guard = UploadSizeGuard(request)
            request.upload_handlers.insert(0, self.upload_guard)
        return drf_request

    def perform_content_negotiation(self, request, force=False):
        # A download answers any Accept header; its errors fall back to JSON instead of 406.
        return super().perform_content_negotiation(request, force=force or self.action == "download")

    def perform_destroy(self, instance):
        services.delete_file(instance)

    def _upload_body(self, request):
        """The parsed multipart body; refused early when it cannot hold a file within the limit."""
        try:
            declared = int(request.META.get("CONTENT_LENGTH") or 0)
        except ValueError:
            declared = 0
        if declared > settings.FILE_UPLOAD_MAX_BYTES + MULTIPART_OVERHEAD_BYTES:
            raise PayloadTooLarge(services.size_limit_message())
        try:
            data = request.data
        except RequestDataTooBig as error:
            raise PayloadTooLarge("The form fields around the file are too large.") from error
        except SuspiciousOperation as error:
            raise BadRequest(f"The upload could not be read: {error}") from error
        if self.upload_guard is not None and self.upload_guard.exceeded:
            raise PayloadTooLarge(services.size_limit_message())
        return data

    @extend_schema(
        request={"multipart/form-data": FileUploadSerializer},
        responses={201: FileSerializer, 400: DetailSerializer, 413: DetailSerializer},
        description=(
            "Upload one file as multipart/form-data. Over FILE_UPLOAD_MAX_BYTES the answer is 413 "
            "and nothing is stored."
        ),
    )
    def create(self, request, *args, **kwargs):
        """Store an uploaded file in the company's storage."""
        upload = self.get_serializer(data=self._upload_body(request))
        upload.is_valid(raise_exception=True)
        received = upload.validated_data["file"]
        try:
            file = services.store_stream(
                received,
                name=upload.validated_data.get("name") or received.name,
                folder=upload.validated_data.get("folder"),
                user=request.user,
            )
        except services.UploadTooLarge as error:
            raise PayloadTooLarge(str(error)) from error
        except services.UploadRefused as error:
            raise BadRequest(str(error)) from error
        return Response(
            FileSerializer(file, context=self.get_serializer_context()).data, status=status.HTTP_201_CREATED
        )

    @extend_schema(
        responses={(200, "*/*"): BINARY_RESPONSE, 404: DetailSerializer},
        description="The bytes as an attachment, with the sniffed Content-Type and the sanitized name.",
    )
    @action(detail=True, methods=["get"], filter_backends=[])
    def download(self, request, pk=None):
        """Download the file."""
        return file_response(self.get_object())

    @extend_schema(
        request=None,
        responses={200: DownloadLinkSerializer, 404: DetailSerializer},
        description=(
            "A signed public link to the file that needs no login, valid for FILE_LINK_MAX_AGE_SECONDS. "
            "It stops working when the file is deleted."
        ),
    )
    @action(detail=True, methods=["post"], filter_backends=[])
    def link(self, request, pk=None):
        """Create a signed, expiring download link."""
        link = services.download_link(self.get_object())
        return Response(DownloadLinkSerializer({"url": link.url, "expires_at": link.expires_at}).data)


class PublicFileDownloadView(APIView):
    """A file downloaded through a signed link, with no login: the token names the file and company.

    Limited per client address and per link (core.api.throttles).
    """

    authentication_classes = []
    permission_classes = [permissions.AllowAny]
    throttle_classes = PUBLIC_THROTTLES
    throttle_key_kind = "file-link"

    def throttle_key(self, request) -> str:
        return self.kwargs.get("token", "")

    def perform_content_negotiation(self, request, force=False):
        return super().perform_content_negotiation(request, force=True)

    @extend_schema(
        operation_id="public_files_download",
        auth=[],
        parameters=[OpenApiParameter("token", str, OpenApiParameter.PATH, description="The signed token.")],
        responses={
            (200, "*/*"): BINARY_RESPONSE,
            404: DetailSerializer,
            410: DetailSerializer,
            429: DetailSerializer,
        },
    )
    def get(self, request, token):
        """Download a file through its signed link: 410 once expired, 404 when invalid or deleted."""
        try:
            file = services.resolve_download_token(token)
        except services.DownloadLinkExpired as error:
            raise LinkExpired(str(error)) from error
        except services.DownloadLinkInvalid as error:
            raise NotFound(str(error)) from error
        response = file_response(file)
        response["Referrer-Policy"] = "no-referrer"
        return response


routes = [
    ("folders", FolderViewSet, "folder"),
    ("files", FileViewSet, "file"),
]
