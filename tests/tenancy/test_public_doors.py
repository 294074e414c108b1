"""The public doors find their company through one unaudited resolver; the audit log keeps no request text."""

import uuid

import pytest
from django.db import connection
from django.test import Client
from rest_framework.test import APIClient

from calls.models import Call
from documents.services import hash_token
from files.services import download_link
from messaging.models import PhoneNumber, SmsMessage
from tenancy.context import company_context, current_scope, no_company
from tenancy.resolution import company_for_key

from ..factories import DocumentSignatureFactory, FileFactory, WorkflowFactory
from ..fakes import twilio_signature
from ..unscoped import REASON as UNSCOPED_REASON
from ..unscoped import audit_entries as stored_audit_entries

ODD = "To=<script>alert(1)</script>'; DROP TABLE audit_log; --\u202e"


def audit_entries() -> list[tuple]:
    """Every audit entry as stored (the test's own all-companies read left out)."""
    rows = [(e.action, e.reason, e.method, e.path) for e in stored_audit_entries()]
    return [row for row in rows if row[1] != UNSCOPED_REASON]


def raw_visible_numbers() -> int:
    """Phone numbers this transaction's row-level security lets through, asked past Django's wrappers."""
    connection.ensure_connection()
    with connection.connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM phone_numbers")
        return cursor.fetchone()[0]


@pytest.fixture
def no_public_throttles(settings):
    """The flood reaches the resolver every time; the throttles are tested beside each door."""
    settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK, "DEFAULT_THROTTLE_RATES": {}}


def test_the_resolver_answers_the_owning_company_and_nothing_for_bad_keys(
    number_a, number_b, company_a, company_b
):
    """A key names its company's id; unknown, empty, over-long or NUL-bearing keys name none."""
    assert company_for_key(PhoneNumber, "number", number_a.number) == company_a.pk
    assert company_for_key(PhoneNumber, "number", number_b.number) == company_b.pk
    for key in ["+19995550000", "", None, "+1" * 200, "+1202\x00"]:
        assert company_for_key(PhoneNumber, "number", key) is None
    assert company_for_key(PhoneNumber, "company__name", company_a.name) is None


@pytest.mark.skipif(connection.vendor != "postgresql", reason="row-level security is PostgreSQL's")
def test_the_resolver_writes_no_audit_row_and_leaves_no_cross_company_scope(
    number_a, number_b, company_a, company_b
):
    """Inside company A, resolving B's number leaves A's context and A's database scope in force."""
    with company_context(company_a):
        assert PhoneNumber.objects.count() == 1  # the transaction now carries A's scope
        assert raw_visible_numbers() == 1

        assert company_for_key(PhoneNumber, "number", number_b.number) == company_b.pk

        assert current_scope().company_id == company_a.pk and not current_scope().spans_all_companies
        assert raw_visible_numbers() == 1
    with no_company():
        assert company_for_key(PhoneNumber, "number", number_a.number) == company_a.pk
        assert current_scope() is None
    assert audit_entries() == []


def test_a_super_admin_request_keeps_its_path_out_of_the_reason(admin_client_api, company_a):
    """The reason is a fixed text; the odd path and the method stay in their own, truncated columns."""
    odd_path = "/api/contacts?search=" + ODD + "x" * 600
    admin_client_api.get(odd_path)
    admin_client_api.get("/api/contacts", HTTP_X_COMPANY_ID=str(company_a.pk))
    response = admin_client_api.generic("PROPFINDLONGER", "/api/contacts?x=" + ODD)

    assert response.status_code < 500
    entries = audit_entries()
    assert [(action, reason) for action, reason, _, _ in entries] == [
        ("all_companies", "super admin request"),
        ("company_access", "super admin request"),
        ("all_companies", "super admin request"),
    ]
    assert entries[0][3].startswith("/api/contacts?search=") and len(entries[0][3]) == 500
    assert entries[2][2] == "PROPFINDLO"
    assert all("script" not in reason and "DROP" not in reason for _, reason, _, _ in entries)


@pytest.mark.usefixtures("no_public_throttles")
def test_a_flood_of_unauthenticated_requests_writes_no_audit_row(
    company_a, company_b, number_a, twilio_a, user_a, admin_client_api
):
    """100 unauthenticated requests at every public door leave the audit log empty, then a canary shows."""
    token = "t" * 43
    DocumentSignatureFactory(
        document__file__company=company_a, document__file__user=user_a, token_hash=hash_token(token)
    )
    with company_context(company_a):
        file_path = download_link(FileFactory(company=company_a)).url.split("/api/", 1)[1]
    hook = WorkflowFactory(company=company_a, user=user_a, trigger="webhook")
    web, api = Client(), APIClient()
    answers = set()
    for index in range(100):
        text = {
            "To": [number_a.number, ODD][index % 2],
            "From": ODD,
            "Body": ODD,
            "MessageSid": "SM" + "a" * 32,
        }
        forged = twilio_signature("/api/twilio/sms/inbound", text, "not-the-token")
        answers.add(web.post("/api/twilio/sms/inbound", text, HTTP_X_TWILIO_SIGNATURE=forged).status_code)
        answers.add(web.post("/api/twilio/voice/inbound", text, HTTP_X_TWILIO_SIGNATURE=forged).status_code)
        answers.add(web.get(f"/sign/{token if index % 2 else uuid.uuid4().hex}").status_code)
        answers.add(api.get(f"/api/public/signatures/{uuid.uuid4().hex}").status_code)
        answers.add(api.get(f"/api/{file_path}" if index % 2 else f"/api/public/files/{ODD}").status_code)
        answers.add(
            web.post(
                f"/api/public/workflows/{hook.pk}/hook",
                b"{}",
                content_type="application/json",
                HTTP_X_CRM_SIGNATURE=f"t=1,v1={ODD}",
                HTTP_X_CRM_DELIVERY="evt-1",
            ).status_code
        )

    assert all(code < 500 for code in answers)
    assert audit_entries() == []
    with company_context(company_a):
        assert SmsMessage.objects.count() == 0 and Call.objects.count() == 0
    admin_client_api.get("/api/contacts")
    assert [reason for _, reason, _, _ in audit_entries()] == ["super admin request"]
