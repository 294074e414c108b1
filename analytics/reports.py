"""Sales and activity figures of a date range, computed by grouped aggregate queries.

Every query reads through the tenant managers and groups by `company_id`, so the same handful of
queries answers for the current company, or for every company at once in an all-companies scope
(platform super admins): one query per family of figures, however many rows there are.

The figures are defined in DEFINITIONS, which the API description repeats.
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from decimal import ROUND_HALF_UP, Decimal

from django.db.models import Case, Count, DecimalField, DurationField, F, Q, Sum, Value, When
from django.utils import timezone
from django.utils.dateparse import parse_date

from calls.models import Call
from crm.models import Deal
from messaging.models import Direction, Email, EmailCampaign, SmsMessage
from quotes.models import Quote
from tenancy.context import current_company_id
from tenancy.models import Company

DEFINITIONS = """\
- Days are calendar days in the site's time zone; a range is inclusive at both ends.
- Open pipeline: deals not won or lost, now (a snapshot, whatever the range), per currency; the
  weighted value is the sum of amount x stage probability (`Deal.STAGE_PROBABILITY`).
- Won and lost: deals whose `closed_at` falls in the range, per currency.
- Average days to close: mean of `closed_at - created_at` over the deals won in the range.
- Conversion: of the deals created in the range, how many reached each stage of the funnel
  lead -> qualified -> proposal -> negotiation -> won or a later one. Only the current stage is
  recorded, so a lost deal counts as having reached `lead` only. A stage's rate is reached / created;
  the won rate is won / (won + lost) of those deals, the share of decided deals that were won.
- Calls: calls created in the range, per user; talk time is the sum of `duration_seconds`; a call
  is answered when `answered_at` is set.
- SMS created in the range: sent (outbound, sent or delivered), failed (outbound, failed or
  undelivered), received (inbound). Emails sent: status sent with `sent_at` in the range.
- Campaigns started in the range, with their e-mails: total, sent and failed.
- Quotes sent (`sent_at` in the range) and accepted (`accepted_at` in the range), per currency.
Amounts of different currencies are never added together. Money is rounded half-up to cents,
days to hundredths and rates to four decimals; a rate or average over nothing is null.
"""

DEFAULT_DAYS = 30
OPEN_STAGES = [stage.value for stage in Deal.Stage if stage not in Deal.CLOSED_STAGES]
FUNNEL = [*OPEN_STAGES, Deal.Stage.WON.value]
EARLIEST_DAY, LATEST_DAY = date(1900, 1, 1), date(9998, 12, 31)
# The same bounds for the OpenAPI schema: years 1900 to 9998.
DAY_PATTERN = r"^(19\d\d|[2-8]\d{3}|9[0-8]\d\d|99[0-8]\d|999[0-8])-\d\d-\d\d$"
SECTIONS = ("pipeline", "activity")

CENTS = Decimal("0.01")
RATE = Decimal("0.0001")
ZERO = Decimal("0.00")
MICROSECONDS_PER_DAY = Decimal(86_400_000_000)


class InvalidPeriod(ValueError):
    """A date range the figures cannot be computed for; the message says what to send instead."""


def _day(name: str, raw: str | None) -> date | None:
    """The date given in a `from` or `to` parameter, None when absent or empty."""
    if not raw:
        return None
    try:
        day = parse_date(raw)
    except ValueError:
        day = None
    if day is None:
        raise InvalidPeriod(f"`{name}` must be a date as YYYY-MM-DD, e.g. 2025-01-31; got {raw!r}.")
    if not EARLIEST_DAY <= day <= LATEST_DAY:
        raise InvalidPeriod(f"`{name}` must lie between {EARLIEST_DAY} and {LATEST_DAY}; got {day}.")
    return day


@dataclass(frozen=True)
class Period:
    """An inclusive range of calendar days in the site's time zone."""

    first_day: date
    last_day: date

    @classmethod
    def parse(cls, raw_from: str | None, raw_to: str | None, *, today: date | None = None) -> Period:
        """The range of the `from` and `to` parameters; by default the last 30 days up to today."""
        last_day = _day("to", raw_to) or today or timezone.localdate()
        first_day = _day("from", raw_from) or last_day - timedelta(days=DEFAULT_DAYS - 1)
        if first_day > last_day:
            raise InvalidPeriod(
                f"`from` ({first_day}) is after `to` ({last_day}); send from on or before to."
            )
        return cls(first_day, last_day)

    def during(self, field: str) -> Q:
        """Rows whose datetime `field` falls on one of the range's days."""
        zone = timezone.get_current_timezone()
        start = datetime.combine(self.first_day, time.min, tzinfo=zone)
        end = datetime.combine(self.last_day + timedelta(days=1), time.min, tzinfo=zone)
        return Q(**{f"{field}__gte": start, f"{field}__lt": end})


def _money(value: Decimal | None) -> Decimal:
    return (value or ZERO).quantize(CENTS, rounding=ROUND_HALF_UP)


def _rate(part: int, whole: int) -> Decimal | None:
    return (Decimal(part) / Decimal(whole)).quantize(RATE, rounding=ROUND_HALF_UP) if whole else None


# Deals


def open_pipeline() -> dict[uuid.UUID, list[dict]]:
    """Open deals now, per company and currency: count, value, and value weighted by stage."""
    weighted = Case(
        *[
            When(stage=stage, then=F("amount") * Value(Deal.STAGE_PROBABILITY[stage]))
            for stage in OPEN_STAGES
        ],
        default=Value(ZERO),
        output_field=DecimalField(max_digits=20, decimal_places=4),
    )
    rows = (
        Deal.objects.filter(stage__in=OPEN_STAGES)
        .values("company_id", "currency")
        .annotate(count=Count("id"), value=Sum("amount"), weighted_value=Sum(weighted))
        .order_by("company_id", "currency")
    )
    figures = defaultdict(list)
    for row in rows:
        figures[row["company_id"]].append(
            {
                "currency": row["currency"],
                "count": row["count"],
                "value": _money(row["value"]),
                "weighted_value": _money(row["weighted_value"]),
            }
        )
    return figures


def _no_closed_deals() -> dict:
    return {"won": [], "lost": [], "average_days_to_close": None}


def closed_deals(period: Period) -> dict[uuid.UUID, dict]:
    """Deals won and lost in the range per company and currency, and the average days to close."""
    rows = (
        Deal.objects.filter(period.during("closed_at"), stage__in=Deal.CLOSED_STAGES)
        .values("company_id", "stage", "currency")
        .annotate(
            count=Count("id"),
            value=Sum("amount"),
            time_to_close=Sum(F("closed_at") - F("created_at"), output_field=DurationField()),
        )
        .order_by("company_id", "stage", "currency")
    )
    figures = defaultdict(_no_closed_deals)
    won_time: dict[uuid.UUID, list] = defaultdict(lambda: [timedelta(0), 0])
    for row in rows:
        figures[row["company_id"]][row["stage"]].append(
            {"currency": row["currency"], "count": row["count"], "value": _money(row["value"])}
        )
        if row["stage"] == Deal.Stage.WON:
            won_time[row["company_id"]][0] += row["time_to_close"]
            won_time[row["company_id"]][1] += row["count"]
    for company_id, (total, count) in won_time.items():
        days = Decimal(total // timedelta(microseconds=1)) / MICROSECONDS_PER_DAY / count
        figures[company_id]["average_days_to_close"] = days.quantize(CENTS, rounding=ROUND_HALF_UP)
    return figures


def _funnel(row: dict) -> dict:
    """Conversion figures from one company's counts (missing counts are zero)."""
    created, won, lost = row.get("created", 0), row.get("reached_won", 0), row.get("lost", 0)
    # Every deal created has reached the first stage, lost ones included.
    reached = {FUNNEL[0]: created, **{stage: row.get(f"reached_{stage}", 0) for stage in FUNNEL[1:]}}
    return {
        "created": created,
        "stages": [
            {"stage": stage, "reached": reached[stage], "rate": _rate(reached[stage], created)}
            for stage in FUNNEL
        ],
        "won": won,
        "lost": lost,
        "won_rate": _rate(won, won + lost),
    }


def conversion(period: Period) -> dict[uuid.UUID, dict]:
    """Per company, how far the deals created in the range got through the funnel.

    `reached` of a stage counts the deals created in the range whose current stage is that stage or
    a later one of lead -> qualified -> proposal -> negotiation -> won; every deal has reached lead,
    and a lost deal only lead, since the stage it was lost at is not recorded. A stage's `rate` is
    reached / created. The won rate is won / (won + lost) of the deals created in the range: the
    share of decided deals that were won (null while none is decided).
    """
    reached = {
        f"reached_{stage}": Count("id", filter=Q(stage__in=FUNNEL[index:]))
        for index, stage in enumerate(FUNNEL)
        if index
    }
    rows = (
        Deal.objects.filter(period.during("created_at"))
        .values("company_id")
        .annotate(created=Count("id"), lost=Count("id", filter=Q(stage=Deal.Stage.LOST)), **reached)
        .order_by("company_id")
    )
    figures = defaultdict(lambda: _funnel({}))
    for row in rows:
        figures[row["company_id"]] = _funnel(row)
    return figures


def _no_quotes() -> dict:
    return {"sent": [], "accepted": []}


def quote_figures(period: Period) -> dict[uuid.UUID, dict]:
    """Quotes sent and quotes accepted in the range, per company and currency."""
    sent, accepted = period.during("sent_at"), period.during("accepted_at")
    rows = (
        Quote.objects.filter(sent | accepted)
        .values("company_id", "currency")
        .annotate(
            sent_count=Count("id", filter=sent),
            sent_value=Sum("total", filter=sent),
            accepted_count=Count("id", filter=accepted),
            accepted_value=Sum("total", filter=accepted),
        )
        .order_by("company_id", "currency")
    )
    figures = defaultdict(_no_quotes)
    for row in rows:
        for kind in ("sent", "accepted"):
            if row[f"{kind}_count"]:
                figures[row["company_id"]][kind].append(
                    {
                        "currency": row["currency"],
                        "count": row[f"{kind}_count"],
                        "value": _money(row[f"{kind}_value"]),
                    }
                )
    return figures


# Activity


def _no_calls() -> dict:
    return {"count": 0, "talk_seconds": 0, "answered": 0, "per_user": []}


def call_figures(period: Period) -> dict[uuid.UUID, dict]:
    """Calls created in the range per company, in total and per user (count, talk time, answered)."""
    rows = (
        Call.objects.filter(period.during("created_at"))
        .values("company_id", "user_id", "user__full_name", "user__email")
        .annotate(
            count=Count("id"),
            talk_seconds=Sum("duration_seconds", default=0),
            answered=Count("id", filter=Q(answered_at__isnull=False)),
        )
        .order_by(
            "company_id",
            "-count",
            F("user__full_name").asc(nulls_last=True),
            F("user__email").asc(nulls_last=True),
        )
    )
    figures = defaultdict(_no_calls)
    for row in rows:
        company = figures[row["company_id"]]
        for key in ("count", "talk_seconds", "answered"):
            company[key] += row[key]
        company["per_user"].append(
            {
                "user": row["user_id"],
                "name": row["user__full_name"] or row["user__email"] or "",
                "count": row["count"],
                "talk_seconds": row["talk_seconds"],
                "answered": row["answered"],
            }
        )
    return figures


def sms_figures(period: Period) -> dict[uuid.UUID, dict]:
    """Texts created in the range per company: sent, failed and received."""
    outbound, status = Q(direction=Direction.OUTBOUND), SmsMessage.Status
    rows = (
        SmsMessage.objects.filter(period.during("created_at"))
        .values("company_id")
        .annotate(
            sent=Count("id", filter=outbound & Q(status__in=[status.SENT, status.DELIVERED])),
            failed=Count("id", filter=outbound & Q(status__in=[status.FAILED, status.UNDELIVERED])),
            received=Count("id", filter=Q(direction=Direction.INBOUND)),
        )
        .order_by("company_id")
    )
    figures = defaultdict(lambda: {"sent": 0, "failed": 0, "received": 0})
    for row in rows:
        figures[row.pop("company_id")] = row
    return figures


def email_figures(period: Period) -> dict[uuid.UUID, dict]:
    """E-mails sent in the range per company, campaign e-mails included."""
    rows = (
        Email.objects.filter(period.during("sent_at"), status=Email.Status.SENT)
        .values("company_id")
        .annotate(sent=Count("id"))
        .order_by("company_id")
    )
    figures = defaultdict(lambda: {"sent": 0})
    for row in rows:
        figures[row.pop("company_id")] = row
    return figures


def campaign_figures(period: Period) -> dict[uuid.UUID, list[dict]]:
    """Campaigns started in the range per company, each with its e-mails: total, sent and failed."""
    live = Q(emails__is_deleted=False)
    rows = (
        EmailCampaign.objects.filter(period.during("started_at"))
        .values("company_id", "id", "name", "status", "started_at")
        .annotate(
            total=Count("emails", filter=live),
            sent=Count("emails", filter=live & Q(emails__status=Email.Status.SENT)),
            failed=Count("emails", filter=live & Q(emails__status=Email.Status.FAILED)),
        )
        .order_by("company_id", "started_at", "id")
    )
    figures = defaultdict(list)
    for row in rows:
        figures[row.pop("company_id")].append(row)
    return figures


# Reports


def _pipeline(period: Period) -> Callable[[uuid.UUID], dict]:
    open_deals, closed = open_pipeline(), closed_deals(period)
    funnel, quotes = conversion(period), quote_figures(period)
    return lambda company_id: {
        "open": open_deals[company_id],
        **closed[company_id],
        "conversion": funnel[company_id],
        "quotes": quotes[company_id],
    }


def _activity(period: Period) -> Callable[[uuid.UUID], dict]:
    calls, sms, emails = call_figures(period), sms_figures(period), email_figures(period)
    campaigns = campaign_figures(period)
    return lambda company_id: {
        "calls": calls[company_id],
        "sms": sms[company_id],
        "emails": emails[company_id],
        "campaigns": campaigns[company_id],
    }


BUILDERS = {"pipeline": _pipeline, "activity": _activity}


def companies_in_scope() -> list[dict]:
    """The current company, or every company (by name) in an all-companies scope, as id and name."""
    company_id = current_company_id()
    companies = Company.objects.order_by("name", "id").values("id", "name")
    return list(companies if company_id is None else companies.filter(pk=company_id))


def report(period: Period, *, sections: tuple[str, ...] = SECTIONS) -> list[dict]:
    """The figures of each company in scope: `{"company": {id, name}, <section>: {...}, ...}`.

    A company user gets one entry; a super admin without a company gets one per company, every
    figure computed by the same grouped queries, never a query per company.
    """
    companies = companies_in_scope()
    figures = {section: BUILDERS[section](period) for section in sections}
    return [
        {"company": company, **{section: of(company["id"]) for section, of in figures.items()}}
        for company in companies
    ]
