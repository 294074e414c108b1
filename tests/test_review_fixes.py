"""Refusals found in review: secrets kept to their managers, malformed webhook input, error shapes."""

import pytest

from calls.services import MAX_CALL_SECONDS
from documents.models import Document
from messaging.models import SmsMessage
from tenancy.context import company_context
from workflows.models import Workflow

from .conftest import bearer_client
from .factories import DocumentFactory, SmsMessageFactory, UserFactory, WorkflowFactory
from .fakes import post_twilio_webhook

pytestmark = pytest.mark.django_db


def test_a_member_cannot_read_or_rotate_a_colleagues_workflow_secret(company_a, user_a):
    """The secret belongs to the workflow's owner and the company's managers; members get 403."""
    workflow = WorkflowFactory(company=company_a, user=user_a)
    member = bearer_client(UserFactory(company=company_a, role="member"))

    assert member.get(f"/api/workflows/{workflow.id}/secret").status_code == 403
    assert member.post(f"/api/workflows/{workflow.id}/rotate-secret").status_code == 403
    with company_context(company_a):
        assert Workflow.objects.get(pk=workflow.pk).secret == workflow.secret
    assert bearer_client(user_a).get(f"/api/workflows/{workflow.id}/secret").status_code == 200


def test_a_member_cannot_delete_a_colleagues_document_out_for_signature(company_a, user_a):
    """Deleting a sent document voids its links, so only its owner or a manager may do it."""
    document = DocumentFactory(file__company=company_a, user=user_a, status=Document.Status.SENT)
    member = bearer_client(UserFactory(company=company_a, role="member"))

    assert member.delete(f"/api/documents/{document.id}").status_code == 403
    with company_context(company_a):
        assert Document.objects.get(pk=document.pk).status == Document.Status.SENT


def test_an_inbound_sms_whose_sid_another_company_holds_is_ignored(client, twilio_a, number_a, company_b):
    """A SID stored under company B is never overwritten nor shown to A, and the webhook is not a 500."""
    taken = SmsMessageFactory(
        phone_number__company=company_b, phone_number__number="+12025559901", twilio_sid="SM" + "f" * 32
    )
    params = {"MessageSid": taken.twilio_sid, "From": "+16175550999", "To": number_a.number, "Body": "Hi"}

    response = post_twilio_webhook(client, "/api/twilio/sms/inbound", params, twilio_a.auth_token)

    assert response.status_code == 200
    with company_context(number_a.company_id):
        assert not SmsMessage.objects.exists()


def test_a_malformed_sid_is_refused_before_anything_is_written(client, twilio_a, number_a):
    """A signed webhook with a SID that is not Twilio's format is a 400 and stores nothing."""
    params = {"MessageSid": "SM" + "0" * 40, "From": "+16175550999", "To": number_a.number, "Body": "Hi"}

    response = post_twilio_webhook(client, "/api/twilio/sms/inbound", params, twilio_a.auth_token)

    assert response.status_code == 400
    with company_context(number_a.company_id):
        assert not SmsMessage.objects.exists()


def test_an_absurd_call_duration_is_not_stored():
    """Durations beyond a day are not call durations; they never reach the integer column."""
    from calls.services import _seconds

    assert _seconds(str(MAX_CALL_SECONDS)) == MAX_CALL_SECONDS
    assert _seconds("99999999999999999999") is None


def test_a_list_shaped_error_still_answers_with_detail(client_a):
    """Errors raised as a bare list of messages reach the client as {"detail": ...}."""
    response = client_a.get("/api/contacts", {"search": "\x00"})

    assert response.status_code == 400
    assert isinstance(response.json(), dict) and response.json()["detail"]


@pytest.mark.django_db(transaction=True)
def test_two_refreshes_racing_with_one_token_yield_one_new_pair(user_a):
    """A refresh token refreshes once, even when two requests present it at the same moment."""
    import threading

    from django.db import connection
    from rest_framework.test import APIClient

    from tenancy.auth import issue_tokens

    refresh_token = issue_tokens(user_a)["refresh_token"]
    barrier = threading.Barrier(2)
    statuses = []

    def refresh():
        barrier.wait()
        statuses.append(APIClient().post("/api/auth/refresh", {"refresh_token": refresh_token}).status_code)
        connection.close()

    threads = [threading.Thread(target=refresh) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert sorted(statuses) == [200, 401]
