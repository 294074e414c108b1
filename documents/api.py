"""REST API of documents: /api/documents for staff, and the public JSON of signing links.

Staff send a draft for signature with POST /api/documents/{id}/send, void it with .../void, e-mail
fresh links with .../resend and read every signer's trail with GET .../signatures.

A signing link needs no login: /api/public/signatures/<token> (read), .../document (the file),
.../sign and .../decline. These views authenticate nobody and are exempt from CSRF (nothing but the
token in the path grants anything); they resolve the token's company and act only inside it.
"""

from collections.abc import Iterator
from contextlib import contextmanager

import django_filters
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db.models import Prefetch
from django.http import FileResponse
from django.urls import reverse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import serializers
from rest_framework.decorators import action
from rest_framework.exceptions import APIException, NotFound, PermissionDenied
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.views import APIView

from core.api import DetailSerializer, StrictJsonTypesMixin, StrictSerializer, as_api_error
from core.api.filters import IsoDateTimeFilter
from core.api.throttles import PUBLIC_THROTTLES
from tenancy.api import TenantModelSerializer, TenantViewSet
from tenancy.context import company_context

from . import services, signing
from .models import Document, DocumentSignature
from .services import Requester
from .signing import SigningRefused

RECORD_FIELDS = ["id", "company", "created_at", "updated_at"]
SIGNATURE_SUMMARY_FIELDS = [
    "id",
    "order",
    "signer_name",
    "signer_email",
    "status",
    "sent_at",
    "viewed_at",
    "signed_at",
    "declined_at",
    "decline_reason",
    "token_expires_at",
]


# Staff API


class DocumentSignatureSummarySerializer(StrictJsonTypesMixin, serializers.ModelSerializer):
    """One signer of a document and where their signature stands."""

    class Meta:
        model = DocumentSignature
        fields = SIGNATURE_SUMMARY_FIELDS
        read_only_fields = fields


class DocumentSignatureSerializer(StrictJsonTypesMixin, serializers.ModelSerializer):
    """One signer's full record: the signature given, the SHA-256 signed and every event."""

    class Meta:
        model = DocumentSignature
        fields = [
            *SIGNATURE_SUMMARY_FIELDS,
            "token_used_at",
            "typed_name",
            "signature_image",
            "document_sha256",
            "events",
        ]
        read_only_fields = fields


class DocumentSerializer(TenantModelSerializer):
    """A file sent to a contact or deal, and its signers in order."""

    signatures = DocumentSignatureSummarySerializer(many=True, read_only=True)

    class Meta:
        model = Document
        fields = [
            *RECORD_FIELDS,
            "user",
            "name",
            "file",
            "contact",
            "deal",
            "message",
            "status",
            "sha256_at_send",
            "sent_at",
            "completed_at",
            "expires_at",
            "signatures",
        ]
        read_only_fields = [
            *RECORD_FIELDS,
            "user",
            "status",
            "sha256_at_send",
            "sent_at",
            "completed_at",
            "expires_at",
        ]

    def create(self, validated_data):
        return services.create_document(**validated_data)

    def update(self, instance, validated_data):
        return services.update_document(instance, **validated_data)


class DocumentSignerSerializer(StrictSerializer):
    name = serializers.CharField(max_length=200)
    email = serializers.EmailField()


class DocumentSendSerializer(StrictSerializer):
    """Signers in signing order; the document's contact signs when none is named."""

    signers = DocumentSignerSerializer(
        many=True, required=False, min_length=1, max_length=services.MAX_SIGNERS
    )
    expires_in_days = serializers.IntegerField(
        required=False,
        allow_null=True,
        min_value=1,
        max_value=services.MAX_LINK_DAYS,
        help_text="Days every signer's link stays valid; SIGNING_LINK_DAYS when not given.",
    )
    message = serializers.CharField(
        required=False, allow_blank=True, help_text="Shown to signers; replaces the document's message."
    )


class DocumentVoidSerializer(StrictSerializer):
    reason = serializers.CharField(required=False, allow_blank=True, max_length=500)


class DocumentFilter(django_filters.FilterSet):
    status = django_filters.MultipleChoiceFilter(choices=Document.Status.choices)
    contact = django_filters.UUIDFilter(field_name="contact_id")
    deal = django_filters.UUIDFilter(field_name="deal_id")
    user = django_filters.UUIDFilter(field_name="user_id")
    file = django_filters.UUIDFilter(field_name="file_id")
    created_after = IsoDateTimeFilter(field_name="created_at", lookup_expr="gte")
    created_before = IsoDateTimeFilter(field_name="created_at", lookup_expr="lt")

    class Meta:
        model = Document
        fields = ["status", "contact", "deal", "user", "file"]


class DocumentViewSet(TenantViewSet):
    """Documents linked to contacts and deals, sent for e-signature to signers in order."""

    model = Document
    serializer_class = DocumentSerializer
    filterset_class = DocumentFilter
    search_fields = ["name", "contact__last_name", "deal__name"]
    ordering_fields = ["name", "status", "created_at", "updated_at", "sent_at", "completed_at"]
    ordering = ["-created_at"]

    def safely_get_queryset(self, queryset):
        signatures = DocumentSignature.objects.order_by("order")
        return queryset.select_related("file", "contact", "deal", "user").prefetch_related(
            Prefetch("signatures", queryset=signatures)
        )

    def perform_destroy(self, instance):
        if instance.status == instance.Status.SENT:
            # Deleting a document out for signature voids its links: the owner's or a manager's call.
            self._require_manager(instance)
        services.delete_document(instance, user=self.request.user)

    def _answer(self, document) -> Response:
        return Response(self.get_serializer(self.get_queryset().get(pk=document.pk)).data)

    def _require_manager(self, document) -> None:
        if not services.may_manage(self.request.user, document):
            raise PermissionDenied("Only the document's owner or a company owner or admin may do this.")

    @extend_schema(
        request=DocumentSendSerializer,
        responses={200: DocumentSerializer, 400: DetailSerializer},
    )
    @action(detail=True, methods=["post"])
    def send(self, request, pk=None):
        """Send a draft for signature: its SHA-256 is fixed and the first signer is e-mailed a link."""
        document = self.get_object()
        body = DocumentSendSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        options = body.validated_data
        signers = options.get("signers") or services.default_signers(document)
        document = services.send_for_signature(
            document,
            signers=[dict(signer) for signer in signers],
            expires_in_days=options.get("expires_in_days"),
            user=request.user,
            message=options.get("message"),
            requester=Requester.of(request),
        )
        return self._answer(document)

    @extend_schema(
        request=DocumentVoidSerializer,
        responses={200: DocumentSerializer, 400: DetailSerializer, 403: DetailSerializer},
    )
    @action(detail=True, methods=["post"])
    def void(self, request, pk=None):
        """Withdraw a document out for signature; every outstanding signing link stops working."""
        document = self.get_object()
        self._require_manager(document)
        body = DocumentVoidSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        document = services.void_document(
            document,
            user=request.user,
            reason=body.validated_data.get("reason", ""),
            requester=Requester.of(request),
        )
        return self._answer(document)

    @extend_schema(
        request=None,
        responses={200: DocumentSerializer, 400: DetailSerializer, 403: DetailSerializer},
    )
    @action(detail=True, methods=["post"])
    def resend(self, request, pk=None):
        """E-mail a new link to each signer whose turn it is; their previous link stops working."""
        document = self.get_object()
        self._require_manager(document)
        document = services.resend_signature_requests(
            document, user=request.user, requester=Requester.of(request)
        )
        return self._answer(document)

    @extend_schema(responses={200: DocumentSignatureSerializer(many=True)})
    @action(detail=True, methods=["get"], pagination_class=None, filter_backends=[])
    def signatures(self, request, pk=None):
        """Every signer of the document with their signature and the trail of events."""
        document = self.get_object()
        rows = DocumentSignature.objects.filter(document=document).order_by("order")
        return Response(DocumentSignatureSerializer(rows, many=True).data)


routes = [("documents", DocumentViewSet, "document")]


# Public signing links

# The signing page and these endpoints count requests for one link in the same bucket.
SIGNING_LINK_THROTTLE_KIND = "signing-link"


@contextmanager
def signing_link(token: str) -> Iterator[DocumentSignature | None]:
    """Inside the token's company: its signature, or None for an unknown token (no company is set)."""
    company_id = signing.company_for_signing_token(token)
    if company_id is None:
        yield None
        return
    with company_context(company_id):
        yield signing.signature_for_token(token)


class LinkRefused(APIException):
    """What a signing link may not do, answered with the status the service chose (409 or 410)."""

    def __init__(self, refusal: SigningRefused):
        self.status_code = refusal.status
        super().__init__(refusal.message)


class PublicSignatureSerializer(StrictSerializer):
    """What a signing link shows its signer."""

    document_name = serializers.CharField()
    company_name = serializers.CharField()
    message = serializers.CharField(allow_blank=True)
    signer_name = serializers.CharField()
    signer_email = serializers.EmailField()
    order = serializers.IntegerField()
    signers = serializers.IntegerField(help_text="How many people sign the document.")
    status = serializers.ChoiceField(choices=DocumentSignature.Status.choices)
    expires_at = serializers.DateTimeField(allow_null=True)
    viewed_at = serializers.DateTimeField(allow_null=True)
    signed_at = serializers.DateTimeField(allow_null=True)
    declined_at = serializers.DateTimeField(allow_null=True)
    document_url = serializers.CharField(
        help_text="Where the signer reads the document, while it is theirs to sign."
    )


def public_data(signature: DocumentSignature, token: str) -> dict:
    document = signature.document
    return PublicSignatureSerializer(
        {
            "document_name": document.name,
            "company_name": signature.company.name,
            "message": document.message,
            "signer_name": signature.signer_name,
            "signer_email": signature.signer_email,
            "order": signature.order,
            "signers": document.signatures.count(),
            "status": signature.status,
            "expires_at": signature.token_expires_at,
            "viewed_at": signature.viewed_at,
            "signed_at": signature.signed_at,
            "declined_at": signature.declined_at,
            "document_url": reverse("documents:public-signature-document", args=[token]),
        }
    ).data


class SignSerializer(StrictSerializer):
    """A typed name, a drawn signature (PNG data URL), or both."""

    typed_name = serializers.CharField(required=False, allow_blank=True, max_length=200)
    signature_image = serializers.CharField(
        required=False, allow_blank=True, help_text="data:image/png;base64,... of at most 200 KB."
    )


class DeclineSerializer(StrictSerializer):
    reason = serializers.CharField(required=False, allow_blank=True, max_length=signing.MAX_DECLINE_REASON)


TOKEN_PARAMETER = OpenApiParameter(
    "token", OpenApiTypes.STR, OpenApiParameter.PATH, description="The token of the signer's link."
)
REFUSALS = {
    404: OpenApiResponse(DetailSerializer, description="No such link."),
    409: OpenApiResponse(DetailSerializer, description="Not this signer's turn yet, or the file changed."),
    410: OpenApiResponse(DetailSerializer, description="The link was used, has expired or was withdrawn."),
    429: OpenApiResponse(DetailSerializer, description="Too many requests from this address or link."),
}


class PublicSigningView(APIView):
    """Base of the public signing endpoints: no login, no session, no CSRF; the token is the key.

    Limited per client address and per link (core.api.throttles), the link shared with /sign/.
    """

    authentication_classes = []
    permission_classes = [AllowAny]
    throttle_classes = PUBLIC_THROTTLES
    throttle_key_kind = SIGNING_LINK_THROTTLE_KIND

    def throttle_key(self, request) -> str:
        return self.kwargs.get("token", "")

    @contextmanager
    def signature(self, token: str) -> Iterator[DocumentSignature]:
        """The token's signature inside its company; refusals become 404, 409, 410 or 400."""
        with signing_link(token) as signature:
            if signature is None:
                raise NotFound()
            try:
                yield signature
            except SigningRefused as refusal:
                raise LinkRefused(refusal) from refusal
            except DjangoValidationError as error:
                raise as_api_error(error) from error

    def finalize_response(self, request, response, *args, **kwargs):
        response = super().finalize_response(request, response, *args, **kwargs)
        response["Cache-Control"] = "no-store"
        response["Referrer-Policy"] = "no-referrer"
        response["X-Robots-Tag"] = "noindex, nofollow"
        return response


class PublicSignatureView(PublicSigningView):
    @extend_schema(
        parameters=[TOKEN_PARAMETER], responses={200: PublicSignatureSerializer, **REFUSALS}, auth=[]
    )
    def get(self, request, token):
        """The document and signer of a link and where the signature stands; the first look is recorded."""
        with self.signature(token) as signature:
            signature = signing.open_signature(signature, requester=Requester.of(request))
            return Response(public_data(signature, token))


class PublicSignatureDocumentView(PublicSigningView):
    @extend_schema(
        parameters=[TOKEN_PARAMETER],
        responses={(200, "application/octet-stream"): OpenApiTypes.BINARY, **REFUSALS},
        auth=[],
    )
    def get(self, request, token):
        """The document's file, for the signer whose turn it is, as long as it is unchanged since sending."""
        with self.signature(token) as signature:
            file, handle = signing.open_document_for_signer(signature, requester=Requester.of(request))
        response = FileResponse(
            handle,
            content_type=file.content_type or "application/octet-stream",
            as_attachment=file.content_type not in INLINE_TYPES,
            filename=file.name,
        )
        # Whatever the file holds, it runs nothing in the signer's browser under our origin.
        response["Content-Security-Policy"] = "sandbox"
        response["X-Content-Type-Options"] = "nosniff"
        return response


INLINE_TYPES = {"application/pdf", "image/png", "image/jpeg", "image/gif", "text/plain"}


class PublicSignView(PublicSigningView):
    @extend_schema(
        parameters=[TOKEN_PARAMETER],
        request=SignSerializer,
        responses={200: PublicSignatureSerializer, 400: DetailSerializer, **REFUSALS},
        auth=[],
    )
    def post(self, request, token):
        """Sign with a typed name or a drawn signature; the link is used up."""
        body = SignSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        with self.signature(token) as signature:
            signature = signing.sign(signature, **body.validated_data, requester=Requester.of(request))
            return Response(public_data(signature, token))


class PublicDeclineView(PublicSigningView):
    @extend_schema(
        parameters=[TOKEN_PARAMETER],
        request=DeclineSerializer,
        responses={200: PublicSignatureSerializer, 400: DetailSerializer, **REFUSALS},
        auth=[],
    )
    def post(self, request, token):
        """Decline to sign, with an optional reason; the document is declined and the link used up."""
        body = DeclineSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        with self.signature(token) as signature:
            signature = signing.decline(signature, **body.validated_data, requester=Requester.of(request))
            return Response(public_data(signature, token))
