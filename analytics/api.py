"""REST API of the analytics: /api/analytics (the summary), /summary, /pipeline and /activity.

Mounted under ^api/analytics in config.urls; every path answers with and without a trailing slash.
"""

from django.urls import re_path
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, PolymorphicProxySerializer, extend_schema
from rest_framework import permissions, serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from core.api import BadRequest, DetailSerializer, StrictSerializer
from crm.models import Deal
from messaging.models import EmailCampaign
from tenancy.context import current_company_id

from . import reports

MONEY = {"max_digits": 20, "decimal_places": 2}
RATE = {"max_digits": 5, "decimal_places": 4, "allow_null": True}

SCOPE_HELP = (
    "A company user, or a super admin sending X-Company-ID, gets that company's figures "
    "(`scope` = `company`). A super admin without X-Company-ID gets every company's figures, "
    "one entry per company (`scope` = `all_companies`)."
)


# Figures


class CompanyRefSerializer(StrictSerializer):
    """The company whose figures these are."""

    id = serializers.UUIDField()
    name = serializers.CharField()


class CurrencyTotalSerializer(StrictSerializer):
    """Records of one currency: amounts in different currencies are never added together."""

    currency = serializers.CharField(help_text="ISO 4217 code, e.g. USD.")
    count = serializers.IntegerField()
    value = serializers.DecimalField(**MONEY, help_text="Sum of the amounts, in this currency.")


class OpenPipelineSerializer(CurrencyTotalSerializer):
    """Open deals of one currency now, with their value weighted by stage probability."""

    weighted_value = serializers.DecimalField(**MONEY, help_text="Sum of amount x stage probability.")


class StageReachSerializer(StrictSerializer):
    """How many of the deals created in the range reached a funnel stage or a later one."""

    stage = serializers.ChoiceField(choices=Deal.Stage.choices)
    reached = serializers.IntegerField()
    rate = serializers.DecimalField(**RATE, help_text="reached / created; null when none was created.")


class ConversionSerializer(StrictSerializer):
    """The funnel of the deals created in the range."""

    created = serializers.IntegerField(help_text="Deals created in the range.")
    stages = StageReachSerializer(many=True, help_text="lead, qualified, proposal, negotiation, won.")
    won = serializers.IntegerField(help_text="Of the deals created in the range, how many are won.")
    lost = serializers.IntegerField(help_text="Of the deals created in the range, how many are lost.")
    won_rate = serializers.DecimalField(
        **RATE, help_text="won / (won + lost): the share of decided deals that were won; null when none is."
    )


class QuoteFiguresSerializer(StrictSerializer):
    """Quotes sent and accepted in the range, per currency."""

    sent = CurrencyTotalSerializer(many=True, help_text="Quotes whose sent_at is in the range.")
    accepted = CurrencyTotalSerializer(many=True, help_text="Quotes whose accepted_at is in the range.")


class PipelineSerializer(StrictSerializer):
    """Deals and quotes: the open pipeline now, and what was won, lost, converted and quoted in the range."""

    open = OpenPipelineSerializer(many=True, help_text="Open deals now, whatever the range.")
    won = CurrencyTotalSerializer(many=True, help_text="Deals won in the range (closed_at).")
    lost = CurrencyTotalSerializer(many=True, help_text="Deals lost in the range (closed_at).")
    average_days_to_close = serializers.DecimalField(
        max_digits=10,
        decimal_places=2,
        allow_null=True,
        help_text="Mean of closed_at - created_at of the deals won in the range; null when none was.",
    )
    conversion = ConversionSerializer()
    quotes = QuoteFiguresSerializer()


class UserCallsSerializer(StrictSerializer):
    """One user's calls."""

    user = serializers.UUIDField(allow_null=True, help_text="Null for calls that belong to nobody.")
    name = serializers.CharField(help_text="The user's full name, else e-mail; empty for nobody.")
    count = serializers.IntegerField()
    talk_seconds = serializers.IntegerField(help_text="Sum of the calls' durations.")
    answered = serializers.IntegerField(help_text="Calls a person picked up.")


class CallFiguresSerializer(StrictSerializer):
    """Calls created in the range, in total and per user (most calls first)."""

    count = serializers.IntegerField()
    talk_seconds = serializers.IntegerField()
    answered = serializers.IntegerField()
    per_user = UserCallsSerializer(many=True)


class SmsFiguresSerializer(StrictSerializer):
    """Texts created in the range."""

    sent = serializers.IntegerField(help_text="Outbound texts sent or delivered.")
    failed = serializers.IntegerField(help_text="Outbound texts failed or undelivered.")
    received = serializers.IntegerField(help_text="Inbound texts.")


class EmailFiguresSerializer(StrictSerializer):
    """E-mails sent in the range (sent_at), campaign e-mails included."""

    sent = serializers.IntegerField()


class CampaignFiguresSerializer(StrictSerializer):
    """One campaign started in the range, with the results of its e-mails."""

    id = serializers.UUIDField()
    name = serializers.CharField()
    status = serializers.CharField(
        help_text=f"The campaign's status: {', '.join(EmailCampaign.Status.values)}."
    )
    started_at = serializers.DateTimeField()
    total = serializers.IntegerField()
    sent = serializers.IntegerField()
    failed = serializers.IntegerField()


class ActivitySerializer(StrictSerializer):
    """Calls, texts, e-mails and campaigns of the range."""

    calls = CallFiguresSerializer()
    sms = SmsFiguresSerializer()
    emails = EmailFiguresSerializer()
    campaigns = CampaignFiguresSerializer(many=True)


SECTION_SERIALIZERS = {"pipeline": PipelineSerializer, "activity": ActivitySerializer}


# Reports


class PeriodSerializer(StrictSerializer):
    """Whose figures these are, and the inclusive range of days they cover."""

    scope = serializers.ChoiceField(choices=[("company", "One company"), ("all_companies", "All companies")])

    def get_fields(self):
        fields = super().get_fields()
        # "from" is a Python keyword, so it cannot be declared as a class attribute.
        return {
            "scope": fields.pop("scope"),
            "from": serializers.DateField(help_text="First day of the range, inclusive."),
            "to": serializers.DateField(help_text="Last day of the range, inclusive."),
            **fields,
        }


class Report:
    """The response serializers of one analytics endpoint: one company's figures, or every company's."""

    def __init__(self, name: str, sections: tuple[str, ...]):
        self.sections = sections
        section_fields = {section: SECTION_SERIALIZERS[section]() for section in sections}
        self.figures = type(
            f"{name}FiguresSerializer",
            (serializers.Serializer,),
            {
                "__doc__": f"{name} figures of one company.",
                "company": CompanyRefSerializer(),
                **section_fields,
            },
        )
        self.company = type(
            f"{name}CompanyReportSerializer",
            (PeriodSerializer, self.figures),
            {"__doc__": f"{name} figures of the current company."},
        )
        self.every_company = type(
            f"{name}AllCompaniesReportSerializer",
            (PeriodSerializer,),
            {"__doc__": f"{name} figures of every company.", "companies": self.figures(many=True)},
        )
        self.schema = PolymorphicProxySerializer(
            component_name=f"{name}Report",
            serializers={"company": self.company, "all_companies": self.every_company},
            resource_type_field_name="scope",
        )

    def data(self, period: reports.Period) -> dict:
        """The figures of the companies in scope, serialized for the response."""
        entries = reports.report(period, sections=self.sections)
        head = {"from": period.first_day, "to": period.last_day}
        if current_company_id() is None:
            return self.every_company({"scope": "all_companies", **head, "companies": entries}).data
        return self.company({"scope": "company", **head, **entries[0]}).data


SUMMARY = Report("AnalyticsSummary", ("pipeline", "activity"))
PIPELINE = Report("AnalyticsPipeline", ("pipeline",))
ACTIVITY = Report("AnalyticsActivity", ("activity",))

RANGE_PARAMETERS = [
    OpenApiParameter(
        "from",
        OpenApiTypes.DATE,
        description="First day, inclusive (YYYY-MM-DD); default: 29 days before `to`.",
        pattern=reports.DAY_PATTERN,
    ),
    OpenApiParameter(
        "to",
        OpenApiTypes.DATE,
        description="Last day, inclusive (YYYY-MM-DD); default: today.",
        pattern=reports.DAY_PATTERN,
    ),
]


def analytics_schema(report: Report, summary: str):
    """The OpenAPI description of an analytics endpoint answering with `report`."""
    return extend_schema(
        summary=summary,
        description=f"{SCOPE_HELP}\n\n{reports.DEFINITIONS}",
        parameters=RANGE_PARAMETERS,
        responses={200: report.schema, 400: DetailSerializer},
        tags=["analytics"],
    )


class AnalyticsView(APIView):
    """Figures of a date range, for the current company or, for a super admin, every company."""

    permission_classes = [permissions.IsAuthenticated]
    report: Report

    def respond(self, request) -> Response:
        try:
            period = reports.Period.parse(request.query_params.get("from"), request.query_params.get("to"))
        except reports.InvalidPeriod as error:
            raise BadRequest(str(error)) from error
        return Response(self.report.data(period))


class SummaryView(AnalyticsView):
    """Every figure: pipeline and activity."""

    report = SUMMARY

    @analytics_schema(SUMMARY, "Sales and activity figures of a date range")
    def get(self, request):
        return self.respond(request)


class PipelineView(AnalyticsView):
    """Deals and quotes figures."""

    report = PIPELINE

    @analytics_schema(PIPELINE, "Pipeline, won and lost deals, conversion and quotes of a date range")
    def get(self, request):
        return self.respond(request)


class ActivityView(AnalyticsView):
    """Calls, texts, e-mails and campaigns figures."""

    report = ACTIVITY

    @analytics_schema(ACTIVITY, "Calls, texts, e-mails and campaigns of a date range")
    def get(self, request):
        return self.respond(request)


urlpatterns = [
    re_path(r"^/?$", SummaryView.as_view(), name="analytics"),
    re_path(r"^/summary/?$", SummaryView.as_view(), name="analytics-summary"),
    re_path(r"^/pipeline/?$", PipelineView.as_view(), name="analytics-pipeline"),
    re_path(r"^/activity/?$", ActivityView.as_view(), name="analytics-activity"),
]
