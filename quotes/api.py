"""REST API of quotes: /api/quotes with inline line items, status actions, PDF and signature."""

import django_filters
from django.http import HttpResponse
from drf_spectacular.extensions import OpenApiSerializerExtension
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.decorators import action
from rest_framework.response import Response

from core.api import DetailSerializer, StrictJsonTypesMixin, StrictSerializer
from core.api.filters import IntegerFilter, IsoDateTimeFilter, NumberFilter
from core.currencies import CurrencyCodeField
from tenancy.api import TenantModelSerializer, TenantViewSet
from tenancy.context import current_scope

from . import services
from .models import Quote, QuoteLineItem
from .pdf import render_quote_pdf

RECORD_FIELDS = ["id", "company", "created_at", "updated_at"]
LINE_TOTALS = ["subtotal", "discount_amount", "tax_amount", "total"]
QUOTE_TOTALS = ["subtotal", "discount_total", "tax_total", "total"]


class QuoteLineItemSerializer(StrictJsonTypesMixin, serializers.ModelSerializer):
    """One line: quantity times unit price, less a discount percent, plus a tax rate percent."""

    position = serializers.IntegerField(
        required=False,
        min_value=0,
        max_value=32767,
        help_text="Order on the quote; defaults to the list order.",
    )

    class Meta:
        model = QuoteLineItem
        fields = [
            "id",
            "position",
            "description",
            "quantity",
            "unit_price",
            "discount_percent",
            "tax_rate",
            *LINE_TOTALS,
        ]
        read_only_fields = ["id", *LINE_TOTALS]


class QuoteSerializer(TenantModelSerializer):
    """A priced offer to a customer; line items are written inline and totals are computed."""

    currency = CurrencyCodeField(required=False, help_text="ISO 4217; defaults to the deal's.")
    line_items = QuoteLineItemSerializer(
        many=True,
        required=False,
        max_length=services.MAX_LINE_ITEMS,
        help_text="Given on update, these replace the quote's lines; left out, the lines stay.",
    )

    class Meta:
        model = Quote
        fields = [
            *RECORD_FIELDS,
            "number",
            "title",
            "status",
            "contact",
            "account",
            "deal",
            "currency",
            "valid_until",
            "notes",
            "line_items",
            *QUOTE_TOTALS,
            "user",
            "document",
            "sent_at",
            "accepted_at",
        ]
        read_only_fields = [
            *RECORD_FIELDS,
            "number",
            "status",
            *QUOTE_TOTALS,
            "user",
            "document",
            "sent_at",
            "accepted_at",
        ]
        extra_kwargs = {"valid_until": {"help_text": "Last valid day; defaults to 30 days from today."}}

    def create(self, validated_data):
        return services.create_quote(**validated_data)

    def update(self, instance, validated_data):
        return services.update_quote(instance, **validated_data)


class SignerSerializer(StrictSerializer):
    name = serializers.CharField(max_length=200)
    email = serializers.EmailField()


class SendForSignatureSerializer(StrictSerializer):
    signers = SignerSerializer(
        many=True,
        required=False,
        allow_empty=False,
        max_length=20,
        help_text="Who signs, in order; defaults to the quote's contact.",
    )
    message = serializers.CharField(required=False, allow_blank=True, max_length=2000)
    expires_in_days = serializers.IntegerField(
        required=False, min_value=1, max_value=365, help_text="Defaults to SIGNING_LINK_DAYS."
    )


class SendForSignatureRequestSchema(OpenApiSerializerExtension):
    """The signers list with the bounds the server holds it to (drf-spectacular states neither)."""

    target_class = SendForSignatureSerializer

    def map_serializer(self, auto_schema, direction):
        schema = auto_schema._map_serializer(self.target, direction, bypass_extensions=True)
        signers = self.target.fields["signers"]
        schema["properties"]["signers"].update(minItems=1, maxItems=signers.max_length)
        return schema


class QuoteFilter(django_filters.FilterSet):
    number = IntegerFilter()
    status = django_filters.MultipleChoiceFilter(choices=Quote.Status.choices)
    contact = django_filters.UUIDFilter(field_name="contact_id")
    account = django_filters.UUIDFilter(field_name="account_id")
    deal = django_filters.UUIDFilter(field_name="deal_id")
    user = django_filters.UUIDFilter(field_name="user_id")
    currency = django_filters.CharFilter(lookup_expr="iexact")
    valid_after = django_filters.DateFilter(field_name="valid_until", lookup_expr="gte")
    valid_before = django_filters.DateFilter(field_name="valid_until", lookup_expr="lte")
    total_min = NumberFilter(field_name="total", lookup_expr="gte")
    total_max = NumberFilter(field_name="total", lookup_expr="lte")
    created_after = IsoDateTimeFilter(field_name="created_at", lookup_expr="gte")
    created_before = IsoDateTimeFilter(field_name="created_at", lookup_expr="lt")

    class Meta:
        model = Quote
        fields = ["status", "contact", "account", "deal", "user", "currency", "number"]


ACTION_RESPONSES = {200: QuoteSerializer, 400: DetailSerializer}


class QuoteViewSet(TenantViewSet):
    """Quotes with their line items; sent, accepted or declined through actions, and printed as PDF."""

    model = Quote
    serializer_class = QuoteSerializer
    filterset_class = QuoteFilter
    search_fields = ["title", "notes", "account__name", "contact__last_name", "contact__email"]
    ordering_fields = ["number", "total", "valid_until", "status", "created_at", "updated_at"]
    ordering = ["-number"]

    def initial(self, request, *args, **kwargs):
        super().initial(request, *args, **kwargs)
        scope = current_scope()
        if scope is not None and scope.company_id is not None:
            # Sent quotes past their validity date read as expired, whichever path reads them.
            services.expire_overdue_quotes()

    def perform_content_negotiation(self, request, force=False):
        # A PDF viewer asks for application/pdf: the PDF is the answer, and an error is still JSON.
        return super().perform_content_negotiation(request, force=force or self.action == "pdf")

    def safely_get_queryset(self, queryset):
        return queryset.prefetch_related("line_items")

    def _quote_response(self, quote):
        quote = self.get_queryset().get(pk=quote.pk)
        return Response(self.get_serializer(quote).data)

    @extend_schema(request=None, responses=ACTION_RESPONSES)
    @action(detail=True, methods=["post"])
    def send(self, request, pk=None):
        """Mark a draft quote sent to the customer (it needs lines and a validity date ahead)."""
        quote = services.send_quote(self.get_object())
        return self._quote_response(quote)

    @extend_schema(request=None, responses=ACTION_RESPONSES)
    @action(detail=True, methods=["post"])
    def accept(self, request, pk=None):
        """Record the customer's acceptance of a sent quote; its deal is marked won."""
        quote = services.accept_quote(self.get_object())
        return self._quote_response(quote)

    @extend_schema(request=None, responses=ACTION_RESPONSES)
    @action(detail=True, methods=["post"])
    def decline(self, request, pk=None):
        """Record that the customer declined a sent quote."""
        quote = services.decline_quote(self.get_object())
        return self._quote_response(quote)

    @extend_schema(request=SendForSignatureSerializer, responses=ACTION_RESPONSES)
    @action(detail=True, methods=["post"], url_path="send-for-signature")
    def send_for_signature(self, request, pk=None):
        """Send the quote's PDF for e-signature (to its contact by default) and mark the quote sent."""
        quote = self.get_object()
        body = SendForSignatureSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        quote = services.send_for_signature(quote, user=request.user, **body.validated_data)
        return self._quote_response(quote)

    @extend_schema(
        request=None,
        responses={
            (200, "application/pdf"): OpenApiTypes.BINARY,
            (404, "application/json"): DetailSerializer,
        },
    )
    @action(detail=True, methods=["get"], filter_backends=[])
    def pdf(self, request, pk=None):
        """The quote as a PDF document."""
        quote = self.get_object()
        response = HttpResponse(render_quote_pdf(quote), content_type="application/pdf")
        response["Content-Disposition"] = f'attachment; filename="quote-{quote.number}.pdf"'
        return response


routes = [("quotes", QuoteViewSet, "quote")]
