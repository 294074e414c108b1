"""REST API of e-mail templates: /api/email-templates, with merge fields and a preview."""

from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.decorators import action
from rest_framework.response import Response

from core.api import DetailSerializer, OneLineTextField, StrictSerializer
from crm.models import Contact, Deal
from tenancy.api import TenantModelSerializer, TenantRelatedField, TenantViewSet

from ..models import EmailTemplate
from ..services import templates

RECORD_FIELDS = ["id", "company", "created_at", "updated_at"]


class EmailTemplateSerializer(TenantModelSerializer):
    """A reusable e-mail whose merge fields such as {{ contact.first_name }} are filled in when sent."""

    merge_fields = serializers.SerializerMethodField(help_text="Merge fields the template uses.")
    subject = OneLineTextField(max_length=300)

    class Meta:
        model = EmailTemplate
        fields = [*RECORD_FIELDS, "user", "name", "subject", "body_text", "body_html", "merge_fields"]
        read_only_fields = [*RECORD_FIELDS, "user"]

    def get_merge_fields(self, template) -> list[str]:
        return list(
            dict.fromkeys(
                key
                for part in templates.TEMPLATE_PARTS
                for key in templates.merge_fields_in(getattr(template, part))
            )
        )

    def create(self, validated_data):
        return templates.save_template(EmailTemplate(), **validated_data)

    def update(self, instance, validated_data):
        return templates.save_template(instance, **validated_data)


class MergeFieldSerializer(StrictSerializer):
    placeholder = serializers.CharField(
        help_text="What to write in a template, e.g. {{ contact.first_name }}."
    )
    key = serializers.CharField()
    label = serializers.CharField()


class TemplatePreviewSerializer(StrictSerializer):
    contact = TenantRelatedField(model=Contact, required=False, allow_null=True)
    deal = TenantRelatedField(model=Deal, required=False, allow_null=True)


class RenderedEmailSerializer(StrictSerializer):
    subject = serializers.CharField()
    body_text = serializers.CharField()
    body_html = serializers.CharField(allow_blank=True)


class EmailTemplateViewSet(TenantViewSet):
    """E-mail templates with merge fields, rendered safely."""

    model = EmailTemplate
    # A preview renders the template for a contact and changes nothing.
    read_actions = frozenset({"preview"})
    serializer_class = EmailTemplateSerializer
    search_fields = ["name", "subject"]
    ordering_fields = ["name", "created_at", "updated_at"]
    ordering = ["name"]

    def perform_destroy(self, instance):
        templates.delete_template(instance)

    @extend_schema(
        request=TemplatePreviewSerializer,
        responses={200: RenderedEmailSerializer, 400: DetailSerializer},
    )
    @action(detail=True, methods=["post"])
    def preview(self, request, pk=None):
        """The template rendered for a contact and a deal of the company, with you as the sender."""
        template = self.get_object()
        body = TemplatePreviewSerializer(data=request.data, context=self.get_serializer_context())
        body.is_valid(raise_exception=True)
        rendered = templates.preview_template(template, sender=request.user, **body.validated_data)
        return Response(RenderedEmailSerializer(rendered).data)

    @extend_schema(responses={200: MergeFieldSerializer(many=True)})
    @action(
        detail=False,
        methods=["get"],
        url_path="merge-fields",
        pagination_class=None,
        filter_backends=[],
    )
    def merge_fields(self, request):
        """Every merge field a template may use."""
        rows = [
            {"placeholder": f"{{{{ {field.key} }}}}", "key": field.key, "label": field.label}
            for field in templates.MERGE_FIELDS
        ]
        return Response(MergeFieldSerializer(rows, many=True).data)


routes = [("email-templates", EmailTemplateViewSet, "email-template")]
