"""Inbound workflow hooks sign their time and delivery id: old, future and repeated deliveries are refused."""

import hashlib
import hmac
import json
import time

import pytest
from django.test import Client

from tenancy.context import company_context
from workflows.models import WorkflowDelivery, WorkflowExecution

from ..factories import ContactFactory, DealFactory, WorkflowFactory

BODY = b'{"source": "website"}'


def signed(secret: str, body: bytes, delivery: str, *, at: int | None = None) -> str:
    """X-CRM-Signature as docs/WORKFLOWS.md tells a sender to compute it."""
    timestamp = int(time.time()) if at is None else at
    digest = hmac.new(secret.encode(), f"{timestamp}.{delivery}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={digest}"


def post(workflow, body=BODY, *, delivery="evt_1", signature=None, address="198.51.100.7", **headers):
    signature = signed(workflow.secret, body, delivery) if signature is None else signature
    return Client(REMOTE_ADDR=address).post(
        f"/api/public/workflows/{workflow.pk}/hook",
        body,
        content_type="application/json",
        HTTP_X_CRM_SIGNATURE=signature,
        HTTP_X_CRM_DELIVERY=delivery,
        **headers,
    )


def executions(company) -> list[WorkflowExecution]:
    with company_context(company):
        return list(WorkflowExecution.objects.all())


def deliveries(company) -> list[str]:
    with company_context(company):
        return sorted(WorkflowDelivery.objects.values_list("delivery_id", flat=True))


@pytest.fixture
def hook_a(company_a, user_a):
    return WorkflowFactory(
        company=company_a,
        user=user_a,
        trigger="webhook",
        conditions=[{"field": "source", "op": "eq", "value": "website"}],
    )


@pytest.fixture
def hook_b(company_b, user_b):
    return WorkflowFactory(company=company_b, user=user_b, trigger="webhook")


def test_three_replays_of_a_signed_delivery_start_one_execution(company_a, hook_a):
    """The same signed request sent four times: one 202, then 409s naming the first execution."""
    signature = signed(hook_a.secret, BODY, "evt_1")
    answers = [post(hook_a, signature=signature) for _ in range(4)]

    assert [answer.status_code for answer in answers] == [202, 409, 409, 409]
    (execution,) = executions(company_a)
    assert answers[1].json()["execution_id"] == str(execution.pk) == answers[0].json()["execution_id"]
    assert "already received" in answers[1].json()["detail"]
    assert deliveries(company_a) == ["evt_1"]


def test_a_replay_under_a_new_delivery_id_fails_the_signature(company_a, hook_a):
    """The delivery id is signed: changing it on a captured request is a 403 and starts nothing."""
    signature = signed(hook_a.secret, BODY, "evt_1")
    assert post(hook_a, signature=signature).status_code == 202

    replayed = post(hook_a, signature=signature, delivery="evt_2")

    assert replayed.status_code == 403
    assert len(executions(company_a)) == 1 and deliveries(company_a) == ["evt_1"]


@pytest.mark.parametrize("offset", [-301, 301, -86400 * 365], ids=["old", "future", "last-year"])
def test_a_delivery_signed_outside_the_tolerance_is_refused(company_a, hook_a, offset):
    """A correct signature over a time more than WORKFLOW_HOOK_TOLERANCE_SECONDS away: 403, nothing kept."""
    answer = post(hook_a, signature=signed(hook_a.secret, BODY, "evt_1", at=int(time.time()) + offset))

    assert answer.status_code == 403 and "300 seconds" in answer.json()["detail"]
    assert executions(company_a) == [] and deliveries(company_a) == []


def test_the_tolerance_is_a_setting(company_a, hook_a, settings):
    """A delivery signed 20 minutes ago passes under a 30-minute tolerance."""
    settings.WORKFLOW_HOOK_TOLERANCE_SECONDS = 1800
    answer = post(hook_a, signature=signed(hook_a.secret, BODY, "evt_1", at=int(time.time()) - 1200))

    assert answer.status_code == 202


def test_a_replayed_delivery_whose_conditions_failed_is_refused_too(company_a, hook_a):
    """Nothing started the first time, and a replay is still refused: the delivery itself was seen."""
    body = b'{"source": "ads"}'
    signature = signed(hook_a.secret, body, "evt_9")
    first = post(hook_a, body, delivery="evt_9", signature=signature)
    again = post(hook_a, body, delivery="evt_9", signature=signature)

    assert first.status_code == 200 and first.json()["unmet"]
    assert again.status_code == 409 and "execution_id" not in again.json()
    assert executions(company_a) == []


@pytest.mark.parametrize(
    "header",
    ["sha256=" + "0" * 64, "t=abc,v1=00", "v1=00", "t=1,t=2,v1=00", ""],
    ids=["old-scheme", "bad-time", "no-time", "two-times", "none"],
)
def test_old_and_malformed_signatures_are_a_403_that_says_how_to_sign(company_a, hook_a, header):
    """The body-only signature of before, or any other form, is refused with the scheme to use."""
    answer = post(hook_a, signature=header)

    assert answer.status_code == 403 and "t=<unix seconds>,v1=" in answer.json()["detail"]
    assert executions(company_a) == [] and deliveries(company_a) == []


@pytest.mark.parametrize("delivery", ["", "evt.1", "x" * 101, "evt 1"], ids=["none", "dot", "long", "space"])
def test_a_missing_or_malformed_delivery_id_is_a_400(company_a, hook_a, delivery):
    """The delivery id is required and plain, so the signed text reads one way only."""
    answer = post(hook_a, delivery=delivery, signature=signed(hook_a.secret, BODY, delivery))

    assert answer.status_code == 400 and "X-CRM-Delivery" in answer.json()["detail"]
    assert executions(company_a) == [] and deliveries(company_a) == []


def test_delivery_ids_are_per_workflow(company_a, company_b, hook_a, hook_b):
    """The same delivery id on B's workflow is B's own first delivery."""
    assert post(hook_a, delivery="evt_1").status_code == 202
    assert post(hook_b, delivery="evt_1").status_code == 202
    assert deliveries(company_a) == ["evt_1"] and deliveries(company_b) == ["evt_1"]


def test_a_refused_run_keeps_no_delivery_so_the_sender_may_resend(company_a, user_a):
    """A deal hook given no record_id is a 400; the corrected delivery under the same id then runs."""
    workflow = WorkflowFactory(company=company_a, user=user_a, trigger="webhook", record_type="deal")
    contact = ContactFactory(company=company_a, owner=user_a)
    deal = DealFactory(account=contact.account, contact=contact, owner=user_a)

    assert post(workflow, b"{}").status_code == 400
    assert deliveries(company_a) == []
    assert post(workflow, json.dumps({"record_id": str(deal.pk)}).encode()).status_code == 202
    assert deliveries(company_a) == ["evt_1"]


@pytest.fixture
def low_webhook_rates(settings):
    rates = {**settings.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"], "webhook": "6/min", "webhook_key": "3/min"}
    settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK, "DEFAULT_THROTTLE_RATES": rates}


@pytest.mark.usefixtures("low_webhook_rates")
def test_a_flood_on_one_workflow_is_refused_and_another_companys_workflow_is_not(
    company_a, company_b, hook_a, hook_b
):
    """Three deliveries to A's hook pass from anywhere; the fourth is a 429; B's hook still runs."""
    answers = [post(hook_a, delivery=f"evt_{index}", address=f"198.51.100.{index}") for index in range(4)]
    other = post(hook_b, delivery="evt_1", address="198.51.100.1")

    assert [answer.status_code for answer in answers] == [202, 202, 202, 429]
    assert int(answers[-1]["Retry-After"]) > 0 and answers[-1].json()["detail"]
    assert len(executions(company_a)) == 3 and deliveries(company_a) == ["evt_0", "evt_1", "evt_2"]
    assert other.status_code == 202


@pytest.mark.usefixtures("low_webhook_rates")
def test_a_flood_from_one_address_is_refused_whatever_workflow_it_names(hook_a):
    """An address trying made-up workflow ids gets six 403s, then a 429 even for a good delivery."""
    web = Client(REMOTE_ADDR="203.0.113.90")
    guesses = [
        web.post(
            f"/api/public/workflows/{index:08d}-0000-0000-0000-000000000000/hook",
            b"{}",
            content_type="application/json",
            HTTP_X_CRM_SIGNATURE="x",
        )
        for index in range(6)
    ]

    assert [answer.status_code for answer in guesses] == [403] * 6
    assert post(hook_a, address="203.0.113.90").status_code == 429


@pytest.mark.parametrize("depth", [65, 50000])
def test_a_signed_delivery_nested_too_deep_is_a_400_and_starts_nothing(depth, company_a, hook_a):
    """A correctly signed body nesting past the limit is refused before it is parsed or remembered."""
    body = b'{"source": ' + b"[" * depth + b"]" * depth + b"}"
    response = post(hook_a, body=body, delivery="evt_deep")
    assert response.status_code == 400
    assert "deeper than 64 levels" in response.json()["detail"]
    assert executions(company_a) == []
    assert deliveries(company_a) == []
