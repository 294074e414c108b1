"""Analytics over REST: figures equal to hand-computed values, per company, in bounded queries."""

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from django.utils import timezone
from rest_framework.test import APIClient

from analytics import reports
from crm.models import Deal
from tenancy.context import all_companies, company_context

from ..factories import (
    AccountFactory,
    CallFactory,
    ContactFactory,
    DealFactory,
    EmailCampaignFactory,
    EmailFactory,
    EmailTemplateFactory,
    PhoneNumberFactory,
    QuoteFactory,
    SmsMessageFactory,
    UserFactory,
)

SUMMARY = "/api/analytics/summary"
MARCH = {"from": "2025-03-01", "to": "2025-03-31"}
PATHS = ["/api/analytics", SUMMARY, "/api/analytics/pipeline", "/api/analytics/activity"]

pytestmark = pytest.mark.django_db


def at(month: int, day: int, hour: int = 12, minute: int = 0, second: int = 0, micro: int = 0) -> datetime:
    """An instant of 2025 in UTC, the site's time zone."""
    return datetime(2025, month, day, hour, minute, second, micro, tzinfo=UTC)


def backdate(record, **fields) -> None:
    """Set timestamps the application stamps itself (created_at), as if the row were older."""
    with company_context(record.company_id):
        type(record).objects.filter(pk=record.pk).update(**fields)


class Seller:
    """The rows a company's records hang from: a user, an account, a contact and a phone number."""

    def __init__(self, company, user):
        self.company, self.user = company, user
        self.account = AccountFactory(company=company, owner=user)
        self.contact = ContactFactory(company=company, account=self.account, owner=user)
        self.number = PhoneNumberFactory(company=company, user=user)
        self.template = None

    def deal(self, stage, amount, currency, *, created, closed=None, **extra):
        deal = DealFactory(
            account=self.account,
            contact=self.contact,
            owner=self.user,
            stage=stage,
            amount=amount,
            currency=currency,
            closed_at=closed,
            **extra,
        )
        backdate(deal, created_at=created)
        return deal

    def call(self, *, created, duration, answered, user="owner", **extra):
        call = CallFactory(
            phone_number=self.number,
            contact=self.contact,
            user=self.user if user == "owner" else user,
            duration_seconds=duration,
            answered_at=created if answered else None,
            **extra,
        )
        backdate(call, created_at=created)
        return call

    def sms(self, direction, status, *, created):
        message = SmsMessageFactory(
            phone_number=self.number, contact=self.contact, direction=direction, status=status
        )
        backdate(message, created_at=created)
        return message

    def email(self, status, *, sent_at=None, campaign=None, to_email=None):
        return EmailFactory(
            contact=self.contact,
            status=status,
            sent_at=sent_at,
            campaign=campaign,
            to_email=to_email or self.contact.email,
        )

    def campaign(self, name, *, started_at, status="sent"):
        if self.template is None:
            self.template = EmailTemplateFactory(company=self.company, user=self.user)
        return EmailCampaignFactory(template=self.template, name=name, started_at=started_at, status=status)

    def quote(self, deal, total, currency, *, status, sent_at=None, accepted_at=None):
        return QuoteFactory(
            deal=deal, total=total, currency=currency, status=status, sent_at=sent_at, accepted_at=accepted_at
        )


def seed_company_a(company, user) -> dict:
    """Company A's March 2025, with the summary computed by hand next to the data."""
    seller = Seller(company, user)
    rep = UserFactory(company=company, full_name="Rita Rep")
    # Deals: four open (two before March), three closed in March, two closed outside it.
    lead = seller.deal("lead", "1000.00", "USD", created=at(3, 5))  # weighted 100.00
    seller.deal("qualified", "2000.00", "USD", created=at(3, 6))  # weighted 500.00
    seller.deal("proposal", "3000.00", "EUR", created=at(3, 7))  # weighted 1500.00
    seller.deal("negotiation", "1000.00", "EUR", created=at(2, 10))  # weighted 750.00
    seller.deal("lead", "99999.00", "USD", created=at(3, 5), is_deleted=True)  # deleted: never counted
    seller.deal("won", "5000.00", "USD", created=at(3, 1, 0), closed=at(3, 11, 0))  # 10 days
    seller.deal("won", "2500.00", "EUR", created=at(2, 20, 12), closed=at(3, 20, 0))  # 27.5 days
    seller.deal("lost", "700.00", "USD", created=at(3, 3), closed=at(3, 15))
    seller.deal("won", "900.00", "USD", created=at(2, 1), closed=at(2, 25))  # closed before March
    seller.deal("lost", "400.00", "EUR", created=at(3, 30), closed=at(4, 1, 0))  # closed after March
    # Calls: the owner's three, Rita's one, one nobody's; one in February.
    seller.call(created=at(3, 10), duration=120, answered=True)
    seller.call(created=at(3, 11), duration=30, answered=True)
    seller.call(created=at(3, 31, 23, 59, 59), duration=None, answered=False, status="no-answer")
    seller.call(created=at(3, 15), duration=300, answered=True, user=rep)
    seller.call(created=at(3, 20), duration=None, answered=False, user=None, direction="inbound")
    seller.call(created=at(2, 28, 23, 59, 59), duration=999, answered=True)
    # Texts: two sent, one queued, one failed, two received; one sent in February.
    seller.sms("outbound", "sent", created=at(3, 2))
    seller.sms("outbound", "delivered", created=at(3, 3))
    seller.sms("outbound", "queued", created=at(3, 4))
    seller.sms("outbound", "failed", created=at(3, 5))
    seller.sms("inbound", "received", created=at(3, 6))
    seller.sms("inbound", "received", created=at(3, 7))
    seller.sms("outbound", "sent", created=at(2, 27))
    # E-mails: two sent in March, one failed, one queued, one sent in February; a campaign of three.
    seller.email("sent", sent_at=at(3, 8))
    seller.email("sent", sent_at=at(3, 9))
    seller.email("failed")
    seller.email("queued")
    seller.email("sent", sent_at=at(2, 27))
    spring = seller.campaign("Spring launch", started_at=at(3, 10, 9))
    seller.email("sent", sent_at=at(3, 10, 9), campaign=spring, to_email="one@example.com")
    seller.email("sent", sent_at=at(3, 10, 9), campaign=spring, to_email="two@example.com")
    seller.email("failed", campaign=spring, to_email="three@example.com")
    winter = seller.campaign("Winter sale", started_at=at(2, 1))
    seller.email("sent", sent_at=at(2, 1), campaign=winter, to_email="one@example.com")
    seller.campaign("Draft", started_at=None, status="draft")
    # Quotes: sent in March, accepted in March (one sent in February), a draft, one sent in April.
    seller.quote(lead, "1200.00", "USD", status="accepted", sent_at=at(3, 4), accepted_at=at(3, 9))
    seller.quote(lead, "800.00", "EUR", status="sent", sent_at=at(3, 20))
    seller.quote(lead, "300.00", "USD", status="accepted", sent_at=at(2, 20), accepted_at=at(3, 2))
    seller.quote(lead, "75.00", "USD", status="draft")
    seller.quote(lead, "50.00", "USD", status="sent", sent_at=at(4, 2))
    return {
        "pipeline": {
            "open": [
                {"currency": "EUR", "count": 2, "value": "4000.00", "weighted_value": "2250.00"},
                {"currency": "USD", "count": 2, "value": "3000.00", "weighted_value": "600.00"},
            ],
            "won": [
                {"currency": "EUR", "count": 1, "value": "2500.00"},
                {"currency": "USD", "count": 1, "value": "5000.00"},
            ],
            "lost": [{"currency": "USD", "count": 1, "value": "700.00"}],
            "average_days_to_close": "18.75",  # (10 + 27.5) / 2
            "conversion": {
                "created": 6,  # lead, qualified, proposal, won on 1 March 00:00, two lost
                "stages": [
                    {"stage": "lead", "reached": 6, "rate": "1.0000"},
                    {"stage": "qualified", "reached": 3, "rate": "0.5000"},
                    {"stage": "proposal", "reached": 2, "rate": "0.3333"},
                    {"stage": "negotiation", "reached": 1, "rate": "0.1667"},
                    {"stage": "won", "reached": 1, "rate": "0.1667"},
                ],
                "won": 1,
                "lost": 2,
                "won_rate": "0.3333",
            },
            "quotes": {
                "sent": [
                    {"currency": "EUR", "count": 1, "value": "800.00"},
                    {"currency": "USD", "count": 1, "value": "1200.00"},
                ],
                "accepted": [{"currency": "USD", "count": 2, "value": "1500.00"}],
            },
        },
        "activity": {
            "calls": {
                "count": 5,
                "talk_seconds": 450,
                "answered": 3,
                "per_user": [
                    {
                        "user": str(user.id),
                        "name": user.full_name,
                        "count": 3,
                        "talk_seconds": 150,
                        "answered": 2,
                    },
                    {"user": str(rep.id), "name": "Rita Rep", "count": 1, "talk_seconds": 300, "answered": 1},
                    {"user": None, "name": "", "count": 1, "talk_seconds": 0, "answered": 0},
                ],
            },
            "sms": {"sent": 2, "failed": 1, "received": 2},
            "emails": {"sent": 4},
            "campaigns": [
                {
                    "id": str(spring.id),
                    "name": "Spring launch",
                    "status": "sent",
                    "started_at": "2025-03-10T09:00:00Z",
                    "total": 3,
                    "sent": 2,
                    "failed": 1,
                }
            ],
        },
    }


def seed_company_b(company, user) -> dict:
    """Company B's March 2025, in the same currencies as A, with its summary computed by hand."""
    seller = Seller(company, user)
    open_deal = seller.deal("lead", "10000.00", "USD", created=at(2, 1))
    seller.deal("won", "1234.56", "USD", created=at(3, 2, 0), closed=at(3, 4, 12))  # 2.5 days
    seller.call(created=at(3, 5), duration=45, answered=True)
    seller.sms("inbound", "received", created=at(3, 5))
    seller.email("sent", sent_at=at(3, 5))
    seller.quote(open_deal, "99.99", "USD", status="sent", sent_at=at(3, 5))
    return {
        "pipeline": {
            "open": [{"currency": "USD", "count": 1, "value": "10000.00", "weighted_value": "1000.00"}],
            "won": [{"currency": "USD", "count": 1, "value": "1234.56"}],
            "lost": [],
            "average_days_to_close": "2.50",
            "conversion": {
                "created": 1,
                "stages": [
                    {"stage": stage, "reached": 1, "rate": "1.0000"}
                    for stage in ["lead", "qualified", "proposal", "negotiation", "won"]
                ],
                "won": 1,
                "lost": 0,
                "won_rate": "1.0000",
            },
            "quotes": {"sent": [{"currency": "USD", "count": 1, "value": "99.99"}], "accepted": []},
        },
        "activity": {
            "calls": {
                "count": 1,
                "talk_seconds": 45,
                "answered": 1,
                "per_user": [
                    {
                        "user": str(user.id),
                        "name": user.full_name,
                        "count": 1,
                        "talk_seconds": 45,
                        "answered": 1,
                    }
                ],
            },
            "sms": {"sent": 0, "failed": 0, "received": 1},
            "emails": {"sent": 1},
            "campaigns": [],
        },
    }


EMPTY = {
    "pipeline": {
        "open": [],
        "won": [],
        "lost": [],
        "average_days_to_close": None,
        "conversion": {
            "created": 0,
            "stages": [
                {"stage": stage, "reached": 0, "rate": None}
                for stage in ["lead", "qualified", "proposal", "negotiation", "won"]
            ],
            "won": 0,
            "lost": 0,
            "won_rate": None,
        },
        "quotes": {"sent": [], "accepted": []},
    },
    "activity": {
        "calls": {"count": 0, "talk_seconds": 0, "answered": 0, "per_user": []},
        "sms": {"sent": 0, "failed": 0, "received": 0},
        "emails": {"sent": 0},
        "campaigns": [],
    },
}


def company_report(company, figures: dict, *, first="2025-03-01", last="2025-03-31") -> dict:
    return {
        "scope": "company",
        "from": first,
        "to": last,
        "company": {"id": str(company.id), "name": company.name},
        **figures,
    }


def get_ok(client, path=SUMMARY, params=MARCH, **headers) -> dict:
    response = client.get(path, params, **headers)
    assert response.status_code == 200, response.content
    return response.json()


# Figures


def test_summary_equals_figures_computed_by_hand_for_each_company(
    client_a, client_b, company_a, company_b, user_a, user_b
):
    """Each company's summary equals its hand-computed figures, amounts per currency, to the cent."""
    expected_a = seed_company_a(company_a, user_a)
    expected_b = seed_company_b(company_b, user_b)

    assert get_ok(client_a) == company_report(company_a, expected_a)
    assert get_ok(client_b) == company_report(company_b, expected_b)


def test_report_computes_exact_decimals(company_a, company_b, user_a, user_b):
    """The figures are exact Decimals: weighted pipeline, averages and rates are not floats."""
    seed_company_a(company_a, user_a)
    seed_company_b(company_b, user_b)
    period = reports.Period.parse(MARCH["from"], MARCH["to"])

    with company_context(company_a):
        [entry] = reports.report(period)

    pipeline = entry["pipeline"]
    assert entry["company"] == {"id": company_a.id, "name": "Company A"}
    assert [(row["currency"], row["weighted_value"]) for row in pipeline["open"]] == [
        ("EUR", Decimal("2250.00")),
        ("USD", Decimal("600.00")),
    ]
    assert pipeline["average_days_to_close"] == Decimal("18.75")
    assert pipeline["conversion"]["won_rate"] == Decimal("0.3333")
    assert pipeline["quotes"]["accepted"] == [{"currency": "USD", "count": 2, "value": Decimal("1500.00")}]


def test_company_figures_unchanged_by_the_other_companys_data(
    client_a, client_b, company_a, company_b, user_a, user_b
):
    """A's figures are the same before and after B adds deals, calls, texts, e-mails and quotes."""
    expected_a = seed_company_a(company_a, user_a)
    before = get_ok(client_a)

    expected_b = seed_company_b(company_b, user_b)
    after = get_ok(client_a)

    assert after == before == company_report(company_a, expected_a)
    assert get_ok(client_b) == company_report(company_b, expected_b)


def test_company_without_records_gets_zeros_and_empty_lists(client_a, client_b, company_a, company_b, user_a):
    """A company with no deals, calls, texts, e-mails or quotes gets zero figures, not an error."""
    seed_company_a(company_a, user_a)

    assert get_ok(client_b) == company_report(company_b, EMPTY)


# Super admins


def test_super_admin_without_header_gets_every_company_with_its_own_figures(
    admin_client_api, company_a, company_b, user_a, user_b
):
    """Without X-Company-ID a super admin gets one entry per company, each with that company's figures."""
    expected_a = seed_company_a(company_a, user_a)
    expected_b = seed_company_b(company_b, user_b)

    body = get_ok(admin_client_api)

    assert body == {
        "scope": "all_companies",
        "from": "2025-03-01",
        "to": "2025-03-31",
        "companies": [
            {"company": {"id": str(company_a.id), "name": "Company A"}, **expected_a},
            {"company": {"id": str(company_b.id), "name": "Company B"}, **expected_b},
        ],
    }


@pytest.mark.parametrize("side", ["a", "b"])
def test_super_admin_with_header_gets_that_company_only(
    side, admin_client_api, company_a, company_b, user_a, user_b
):
    """With X-Company-ID a super admin gets that company's figures, and nothing of the other's."""
    expected = {"a": seed_company_a(company_a, user_a), "b": seed_company_b(company_b, user_b)}
    companies = {"a": company_a, "b": company_b}

    body = get_ok(admin_client_api, HTTP_X_COMPANY_ID=str(companies[side].id))

    assert body == company_report(companies[side], expected[side])


def test_company_user_cannot_read_the_other_companys_figures(client_a, company_a, company_b, user_b):
    """A company user naming another company in X-Company-ID is refused without figures."""
    seed_company_b(company_b, user_b)

    response = client_a.get(SUMMARY, MARCH, HTTP_X_COMPANY_ID=str(company_b.id))

    assert response.status_code == 403
    assert "pipeline" not in response.json()


# Queries


def seed_rows(company, user, count: int) -> None:
    """`count` rows of every model the figures read, all in the default range (today)."""
    seller = Seller(company, user)
    now = timezone.now()
    rep = UserFactory(company=company)
    stages = ["lead", "qualified", "proposal", "negotiation", "won", "lost"]
    for index in range(count):
        stage = stages[index % len(stages)]
        deal = seller.deal(
            stage,
            "100.00",
            ["USD", "EUR"][index % 2],
            created=now,
            closed=now if stage in Deal.CLOSED_STAGES else None,
        )
        seller.call(created=now, duration=index, answered=index % 2 == 0, user=[user, rep][index % 2])
        seller.sms(["outbound", "inbound"][index % 2], ["sent", "received"][index % 2], created=now)
        seller.email("sent", sent_at=now, to_email=f"direct{index}@example.com")
        campaign = seller.campaign(f"Campaign {index}", started_at=now)
        seller.email("sent", sent_at=now, campaign=campaign, to_email=f"campaign{index}@example.com")
        seller.quote(deal, "10.00", "USD", status="accepted", sent_at=now, accepted_at=now)


def count_queries(scope, django_assert_max_num_queries) -> tuple[int, list]:
    """The queries one report takes inside `scope`, at most one per family of figures."""
    period = reports.Period.parse(None, None)
    with scope(), django_assert_max_num_queries(9) as captured:
        entries = reports.report(period)
    return len(captured), entries


@pytest.mark.parametrize("scope_name", ["company", "all_companies"])
def test_query_count_is_the_same_for_5_and_50_rows_per_model(
    scope_name, company_a, company_b, user_a, user_b, django_assert_max_num_queries
):
    """A report takes the same few queries for 5 and for 50 rows of each model, for one or all companies."""

    def scope():
        if scope_name == "company":
            return company_context(company_a)
        return all_companies(reason="analytics query count test")

    seed_rows(company_a, user_a, 5)
    seed_rows(company_b, user_b, 5)
    small, small_entries = count_queries(scope, django_assert_max_num_queries)

    seed_rows(company_a, user_a, 45)
    seed_rows(company_b, user_b, 45)
    large, large_entries = count_queries(scope, django_assert_max_num_queries)

    assert small == large
    assert small_entries[0]["activity"]["calls"]["count"] == 5
    assert large_entries[0]["activity"]["calls"]["count"] == 50
    assert len(large_entries[0]["activity"]["campaigns"]) == 50
    assert len(large_entries) == (1 if scope_name == "company" else 2)


# Paths and ranges


@pytest.mark.parametrize("path", PATHS)
@pytest.mark.parametrize("slash", ["", "/"])
def test_paths_answer_with_and_without_trailing_slash(path, slash, client_a, client_b, company_a, user_a):
    """Every analytics path answers 200 with and without the trailing slash, without redirects."""
    expected = seed_company_a(company_a, user_a)
    sections = {
        "/api/analytics/pipeline": ["pipeline"],
        "/api/analytics/activity": ["activity"],
    }.get(path, ["pipeline", "activity"])

    body = get_ok(client_a, f"{path}{slash}")
    other = get_ok(client_b, f"{path}{slash}")

    assert {key: body[key] for key in sections} == {key: expected[key] for key in sections}
    assert set(body) == {"scope", "from", "to", "company", *sections}
    assert {key: other[key] for key in sections} == {key: EMPTY[key] for key in sections}


def test_default_range_is_the_last_30_days_up_to_today(client_a, client_b, company_a, user_a):
    """Without from and to the range is today and the 29 days before it, whole days inclusive."""
    seller = Seller(company_a, user_a)
    today = timezone.localdate()
    first = today - timedelta(days=29)
    start = datetime.combine(first, datetime.min.time(), tzinfo=UTC)
    seller.deal("won", "100.00", "USD", created=start, closed=timezone.now())
    seller.deal("won", "20.00", "USD", created=start, closed=start)
    seller.deal("won", "3.00", "USD", created=start, closed=start - timedelta(microseconds=1))

    body = client_a.get(SUMMARY).json()

    assert (body["from"], body["to"]) == (first.isoformat(), today.isoformat())
    assert body["pipeline"]["won"] == [{"currency": "USD", "count": 2, "value": "120.00"}]
    assert client_b.get(SUMMARY).json()["pipeline"]["won"] == []


def test_range_includes_both_whole_days_and_nothing_outside(client_a, company_a, user_a):
    """A range from 1 to 31 March counts 1 March 00:00 and 31 March 23:59:59.999999, not a moment more."""
    seller = Seller(company_a, user_a)
    closings = {
        "1.00": at(2, 28, 23, 59, 59, 999999),
        "10.00": at(3, 1, 0),
        "100.00": at(3, 31, 23, 59, 59, 999999),
        "1000.00": at(4, 1, 0),
    }
    for amount, closed in closings.items():
        seller.deal("won", amount, "USD", created=at(1, 1), closed=closed)

    march = get_ok(client_a)["pipeline"]["won"]
    first_of_april = get_ok(client_a, params={"from": "2025-04-01", "to": "2025-04-01"})["pipeline"]["won"]

    assert march == [{"currency": "USD", "count": 2, "value": "110.00"}]
    assert first_of_april == [{"currency": "USD", "count": 1, "value": "1000.00"}]


def test_only_from_runs_to_today_and_only_to_starts_29_days_earlier(client_a, company_a):
    """One missing end of the range takes its default: to is today, from is 29 days before to."""
    today = timezone.localdate()

    only_from = get_ok(client_a, params={"from": "2025-01-01"})
    only_to = get_ok(client_a, params={"to": "2025-03-31"})
    empty = get_ok(client_a, params={"from": "", "to": ""})

    assert (only_from["from"], only_from["to"]) == ("2025-01-01", today.isoformat())
    assert (only_to["from"], only_to["to"]) == ("2025-03-02", "2025-03-31")
    assert (empty["from"], empty["to"]) == ((today - timedelta(days=29)).isoformat(), today.isoformat())


@pytest.mark.parametrize(
    ("params", "named"),
    [
        ({"from": "2025-13-01", "to": "2025-12-31"}, "`from`"),
        ({"from": "2025-02-30", "to": "2025-03-31"}, "`from`"),
        ({"from": "yesterday"}, "`from`"),
        ({"from": "2025-03-01", "to": "31/03/2025"}, "`to`"),
        ({"from": "2025-03-31", "to": "2025-03-01"}, "after"),
        ({"from": "2025-03-01", "to": "9999-12-31"}, "`to`"),
        ({"from": "0001-01-01", "to": "2025-03-31"}, "`from`"),
    ],
)
@pytest.mark.parametrize("path", PATHS)
def test_invalid_range_is_a_400_naming_the_problem(path, params, named, client_a, company_a, user_a):
    """A date that is not YYYY-MM-DD, does not exist, is out of range, or from after to is a clear 400."""
    Seller(company_a, user_a).deal("won", "5.00", "USD", created=at(3, 1), closed=at(3, 2))

    response = client_a.get(path, params)

    assert response.status_code == 400
    assert named in response.json()["detail"]
    assert "pipeline" not in response.json()


def test_anonymous_request_is_refused(company_a, user_a):
    """Without credentials the analytics answer 401 and no figures."""
    seed_company_a(company_a, user_a)

    response = APIClient().get(SUMMARY, MARCH)

    assert response.status_code == 401
    assert "pipeline" not in response.json()


def test_schema_types_each_analytics_response_for_both_scopes(db):
    """The OpenAPI schema documents from/to and a company or all-companies report on every path."""
    schema = APIClient().get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json").json()

    for path in PATHS:
        operation = schema["paths"][f"{path}/"]["get"]
        assert {parameter["name"] for parameter in operation["parameters"]} >= {"from", "to"}
        report = operation["responses"]["200"]["content"]["application/json"]["schema"]["$ref"]
        one_of = schema["components"]["schemas"][report.rsplit("/", 1)[-1]]
        assert set(one_of["discriminator"]["mapping"]) == {"company", "all_companies"}
        assert "400" in operation["responses"]
