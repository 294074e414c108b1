"""Running workflows: record events, retries, redelivery, signed webhooks out and in, waits, schedules."""

import hashlib
import hmac
import json
import time
import uuid
from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone

from crm.models import Contact, Deal
from messaging.models import Email, Notification
from tenancy.context import company_context
from workflows import engine, services
from workflows.models import Workflow, WorkflowExecution
from workflows.tasks import dispatch_scheduled, run_execution

from ..factories import ContactFactory, DealFactory, EmailTemplateFactory, UserFactory, WorkflowFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def receiver(local_receiver, settings):
    """A local HTTP server standing in for the outside world; loopback addresses are allowed for it."""
    settings.WORKFLOW_WEBHOOK_ALLOW_PRIVATE = True
    return local_receiver


@pytest.fixture
def fast_retries(settings):
    settings.WORKFLOW_STEP_MAX_ATTEMPTS = 3
    settings.WORKFLOW_RETRY_BACKOFF_SECONDS = [10, 60]


@pytest.fixture
def deal_a(company_a, user_a):
    contact = ContactFactory(company=company_a, first_name="Ada", email="ada@a.example", owner=user_a)
    return DealFactory(
        account=contact.account, contact=contact, owner=user_a, name="Initech", stage="proposal"
    )


@pytest.fixture
def deal_b(company_b, user_b):
    return DealFactory(account__company=company_b, owner=user_b, name="Globex", stage="proposal")


def won_workflow(company, user, **overrides):
    fields = {
        "company": company,
        "user": user,
        "trigger": "record_updated",
        "record_type": "deal",
        "conditions": [{"field": "stage", "op": "changed_to", "value": "won"}],
        "actions": [{"type": "create_notification", "params": {"title": "{{ deal.name }} won"}}],
    }
    return WorkflowFactory(**{**fields, **overrides})


def executions(company, **filters) -> list[WorkflowExecution]:
    with company_context(company):
        return list(WorkflowExecution.objects.filter(**filters).order_by("created_at"))


def reload(execution) -> WorkflowExecution:
    with company_context(execution.company_id):
        return WorkflowExecution.objects.get(pk=execution.pk)


def run_task(execution) -> None:
    """Deliver the execution's task (again), as a worker would."""
    run_execution.apply(kwargs={"company_id": str(execution.company_id), "execution_id": str(execution.pk)})


def run_on_worker(execution) -> None:
    """What a worker's delivery of the task does (an eager run ends waits at once, a worker's does not)."""
    with company_context(execution.company_id):
        engine.run_execution(execution.pk)


def start(workflow, record=None) -> WorkflowExecution:
    with company_context(workflow.company_id):
        execution, _ = services.start_execution(workflow, trigger="manual", payload={}, record=record)
    return execution


# Record events


def test_a_deal_update_starts_each_matching_workflow_once(
    client_a, company_a, user_a, deal_a, django_capture_on_commit_callbacks
):
    """Moving a deal to won through the API runs the won workflow once, with the change in its payload."""
    won = won_workflow(company_a, user_a)
    won_workflow(company_a, user_a, conditions=[{"field": "stage", "op": "changed_to", "value": "lost"}])
    won_workflow(company_a, user_a, is_active=False)

    with django_capture_on_commit_callbacks(execute=True):
        assert client_a.patch(f"/api/deals/{deal_a.pk}", {"stage": "won"}, format="json").status_code == 200
        client_a.patch(f"/api/deals/{deal_a.pk}", {"stage": "won"}, format="json")

    started = executions(company_a)
    assert [(e.workflow_id, e.status) for e in started] == [(won.pk, "succeeded")]
    assert started[0].trigger_payload["changed_fields"]["stage"] == ["proposal", "won"]
    assert started[0].record_id == deal_a.pk
    with company_context(company_a):
        assert list(Notification.objects.values_list("title", flat=True)) == ["Initech won"]


def test_another_companys_deal_update_never_starts_a_workflow(
    client_b, company_a, company_b, user_a, user_b, deal_b, django_capture_on_commit_callbacks
):
    """B's deal moving to won runs B's workflow only; A's identical workflow stays idle."""
    won_workflow(company_a, user_a)
    won_b = won_workflow(company_b, user_b)

    with django_capture_on_commit_callbacks(execute=True):
        client_b.patch(f"/api/deals/{deal_b.pk}", {"stage": "won"}, format="json")

    assert executions(company_a) == []
    assert [e.workflow_id for e in executions(company_b)] == [won_b.pk]
    with company_context(company_a):
        assert not Notification.objects.exists()


def test_contacts_created_through_the_api_and_the_admin_each_start_a_workflow_once(
    client_a, company_a, user_a, django_capture_on_commit_callbacks
):
    """A record_created workflow hears of a contact created anywhere exactly once, conditions applied."""
    workflow = WorkflowFactory(
        company=company_a,
        user=user_a,
        trigger="record_created",
        record_type="contact",
        conditions=[{"field": "email", "op": "contains", "value": "@VIP.example"}],
    )
    browser = Client()
    browser.force_login(user_a)

    with django_capture_on_commit_callbacks(execute=True):
        client_a.post("/api/contacts", {"first_name": "Ann", "email": "ann@vip.example"}, format="json")
        client_a.post("/api/contacts", {"first_name": "Joe", "email": "joe@plain.example"}, format="json")
        response = browser.post("/admin/crm/contact/add/", {"first_name": "Bea", "email": "bea@vip.example"})
        assert response.status_code == 302

    started = executions(company_a)
    assert [e.workflow_id for e in started] == [workflow.pk, workflow.pk]
    with company_context(company_a):
        names = {Contact.objects.get(pk=e.record_id).first_name for e in started}
    assert names == {"Ann", "Bea"}


def test_account_updates_through_the_admin_report_the_changed_fields(
    company_a, user_a, django_capture_on_commit_callbacks
):
    """An account edited in the admin starts an update workflow with only the fields that changed."""
    WorkflowFactory(
        company=company_a,
        user=user_a,
        trigger="record_updated",
        record_type="account",
        conditions=[{"field": "industry", "op": "changed"}],
    )
    contact = ContactFactory(company=company_a)
    account = contact.account
    browser = Client()
    browser.force_login(user_a)
    form = {
        "name": account.name,
        "domain": account.domain,
        "industry": "Retail",
        "owner": str(account.owner_id),
    }

    with django_capture_on_commit_callbacks(execute=True):
        assert browser.post(f"/admin/crm/account/{account.pk}/change/", form).status_code == 302

    (execution,) = executions(company_a)
    assert execution.trigger_payload["changed_fields"] == {"industry": ["Software", "Retail"]}


def test_a_workflow_changing_its_record_does_not_trigger_itself(
    client_a, company_a, user_a, deal_a, django_capture_on_commit_callbacks
):
    """A workflow that updates the deal on every deal update runs once, and a downstream workflow once."""
    bump = won_workflow(
        company_a,
        user_a,
        conditions=[{"field": "stage", "op": "changed"}],
        actions=[{"type": "update_field", "params": {"field": "amount", "value": "999.00"}}],
    )
    downstream = won_workflow(
        company_a, user_a, conditions=[{"field": "amount", "op": "changed_to", "value": 999}]
    )

    with django_capture_on_commit_callbacks(execute=True):
        client_a.patch(f"/api/deals/{deal_a.pk}", {"stage": "negotiation"}, format="json")

    started = executions(company_a)
    assert sorted((e.workflow_id, e.status) for e in started) == sorted(
        [(bump.pk, "succeeded"), (downstream.pk, "succeeded")]
    )
    downstream_run = next(e for e in started if e.workflow_id == downstream.pk)
    assert downstream_run.trigger_payload["chain"] == [str(bump.pk)]


# Isolation of actions


def test_an_execution_naming_another_companys_record_cannot_touch_it(company_a, company_b, user_a, deal_b):
    """A's update_field step on B's deal id finds no deal: the step fails and B's deal is unchanged."""
    workflow = WorkflowFactory(
        company=company_a,
        user=user_a,
        record_type="deal",
        actions=[{"type": "update_field", "params": {"field": "stage", "value": "lost"}}],
    )
    with company_context(company_a):
        execution, _ = services.start_execution(
            workflow, trigger="webhook", payload={"record_id": str(deal_b.pk)}
        )
        WorkflowExecution.objects.filter(pk=execution.pk).update(record_type="deal", record_id=deal_b.pk)

    run_task(execution)

    execution = reload(execution)
    assert execution.status == "failed"
    assert "no longer exists" in execution.steps[0]["error"]
    assert execution.steps[0]["attempts"] == 1  # refused outright, not retried
    with company_context(company_b):
        assert Deal.objects.get(pk=deal_b.pk).stage == "proposal"
        assert not Notification.objects.exists()
    with company_context(company_a):
        assert Notification.objects.get().user == user_a


def test_another_companys_task_cannot_run_an_execution(company_a, company_b, user_a):
    """A task carrying B's company finds nothing of A's execution and does nothing."""
    execution = start(WorkflowFactory(company=company_a, user=user_a))

    run_execution.apply(kwargs={"company_id": str(company_b.pk), "execution_id": str(execution.pk)})

    assert reload(execution).status == "pending"
    with company_context(company_a):
        assert not Notification.objects.exists()


# Retries and redelivery


def test_a_failing_step_is_retried_with_backoff_then_fails_and_notifies_the_owner(
    company_a, user_a, receiver, fast_retries
):
    """A webhook answering 500 is tried three times (10 s, then 60 s apart); then the owner hears of it."""
    workflow = WorkflowFactory(
        company=company_a,
        user=user_a,
        name="Sync to ERP",
        actions=[
            {"type": "webhook", "params": {"url": receiver.url}},
            {"type": "create_notification", "params": {"title": "Synced"}},
        ],
    )
    receiver.answer_next(500, 500, 500)
    execution = start(workflow)

    run_task(execution)
    first = reload(execution)
    run_task(execution)
    second = reload(execution)
    run_task(execution)
    final = reload(execution)

    assert (first.status, first.steps[0]["status"], first.steps[0]["attempts"]) == ("running", "pending", 1)
    delay = timezone.datetime.fromisoformat(first.steps[0]["next_attempt_at"]) - first.updated_at
    assert timedelta(seconds=9) < delay <= timedelta(seconds=10)
    assert first.resume_at is not None and "answered 500" in first.steps[0]["error"]
    delay = timezone.datetime.fromisoformat(second.steps[0]["next_attempt_at"]) - second.updated_at
    assert timedelta(seconds=59) < delay <= timedelta(seconds=60)
    assert final.status == "failed"
    assert [step["status"] for step in final.steps] == ["failed", "skipped"]
    assert final.steps[0]["attempts"] == final.attempts == 3
    assert final.error.startswith("Step 1 (webhook) failed after 3 attempts:")
    assert len(receiver.requests) == 3
    with company_context(company_a):
        notice = Notification.objects.get()
    assert (notice.user_id, notice.kind, notice.target_id) == (user_a.pk, "send_failed", execution.pk)
    assert "Sync to ERP" in notice.title and "Step 1 (webhook)" in notice.body and "500" in notice.body
    run_task(execution)
    assert len(receiver.requests) == 3


def test_a_step_recovering_on_retry_succeeds_without_repeating_earlier_steps(
    company_a, user_a, deal_a, receiver, fast_retries
):
    """E-mail then a webhook failing once: the retry calls the webhook again, the e-mail is queued once."""
    template = EmailTemplateFactory(company=company_a)
    workflow = WorkflowFactory(
        company=company_a,
        user=user_a,
        record_type="deal",
        actions=[
            {"type": "send_email", "params": {"template_id": str(template.pk)}},
            {"type": "webhook", "params": {"url": receiver.url}},
        ],
    )
    receiver.answer_next(503)
    execution = start(workflow, record=deal_a)

    run_task(execution)
    run_task(execution)

    execution = reload(execution)
    assert execution.status == "succeeded"
    assert [step["attempts"] for step in execution.steps] == [1, 2]
    assert execution.attempts == 3
    assert len(receiver.requests) == 2
    with company_context(company_a):
        assert Email.objects.filter(to_email="ada@a.example").count() == 1


def test_a_redelivered_task_does_each_step_once(company_a, user_a, deal_a, receiver):
    """The same task delivered twice sends one e-mail, one webhook and one notification."""
    template = EmailTemplateFactory(company=company_a)
    workflow = WorkflowFactory(
        company=company_a,
        user=user_a,
        record_type="deal",
        actions=[
            {"type": "send_email", "params": {"template_id": str(template.pk)}},
            {"type": "webhook", "params": {"url": receiver.url}},
            {"type": "create_notification", "params": {"title": "Done"}},
        ],
    )
    execution = start(workflow, record=deal_a)

    run_task(execution)
    run_task(execution)

    execution = reload(execution)
    assert execution.status == "succeeded"
    assert [step["attempts"] for step in execution.steps] == [1, 1, 1]
    assert len(receiver.requests) == 1
    with company_context(company_a):
        assert Email.objects.count() == 1
        assert Notification.objects.count() == 1
        email = Email.objects.get()
    assert execution.steps[0]["output"]["email_id"] == str(email.pk)
    assert email.status == "queued"  # recorded before its send task was queued


def test_a_webhook_claimed_by_another_worker_is_left_to_it_until_its_claim_expires(
    company_a, user_a, receiver, settings
):
    """A redelivery finding the webhook step claimed moments ago calls nothing; after the lease it retries."""
    settings.WORKFLOW_RETRY_BACKOFF_SECONDS = [0]
    workflow = WorkflowFactory(
        company=company_a, user=user_a, actions=[{"type": "webhook", "params": {"url": receiver.url}}]
    )
    execution = start(workflow)
    claimed = reload(execution)
    claimed.steps[0].update(status="running", attempts=1, started_at=timezone.now().isoformat())
    claimed.steps[0]["claimed_at"] = claimed.steps[0]["started_at"]
    with company_context(company_a):
        WorkflowExecution.objects.filter(pk=execution.pk).update(status="running", steps=claimed.steps)

    run_task(execution)

    assert receiver.requests == []
    assert reload(execution).steps[0]["status"] == "running"
    lost = (timezone.now() - timedelta(seconds=engine.STEP_LEASE_SECONDS + 1)).isoformat()
    claimed.steps[0]["claimed_at"] = lost
    with company_context(company_a):
        WorkflowExecution.objects.filter(pk=execution.pk).update(steps=claimed.steps)

    run_task(execution)  # the worker holding the claim died: the attempt counts as failed
    run_task(execution)  # the retry

    step = reload(execution).steps[0]
    assert (step["status"], step["attempts"], len(receiver.requests)) == ("succeeded", 2, 1)


# Outbound webhooks


def test_an_outbound_webhook_is_signed_with_the_workflows_secret(company_a, user_a, deal_a, receiver):
    """The receiver gets JSON with the rendered payload, signed HMAC-SHA256 with the workflow's secret."""
    workflow = WorkflowFactory(
        company=company_a,
        user=user_a,
        record_type="deal",
        actions=[
            {
                "type": "webhook",
                "params": {"url": receiver.url, "payload": {"deal": "{{ deal.name }}", "n": 1}},
            }
        ],
    )
    execution = start(workflow, record=deal_a)

    run_task(execution)

    (request,) = receiver.requests
    expected = "sha256=" + hmac.new(workflow.secret.encode(), request.body, hashlib.sha256).hexdigest()
    assert request.headers["x-crm-signature"] == expected
    assert request.headers["x-crm-delivery"] == f"{execution.pk}:0"
    assert request.headers["content-type"] == "application/json"
    body = json.loads(request.body)
    assert body["data"] == {"deal": "Initech", "n": 1}
    assert body["record"] == {"type": "deal", "id": str(deal_a.pk)}
    assert body["execution_id"] == str(execution.pk) and body["workflow_id"] == str(workflow.pk)
    step = reload(execution).steps[0]
    assert (step["status"], step["output"]["status_code"]) == ("succeeded", 200)


def test_outbound_webhooks_never_reach_private_addresses_in_production(company_a, user_a, receiver, settings):
    """A host resolving to loopback is refused at call time without a request or a retry."""
    workflow = WorkflowFactory(
        company=company_a,
        user=user_a,
        actions=[{"type": "webhook", "params": {"url": receiver.url.replace("127.0.0.1", "localhost")}}],
    )
    execution = start(workflow)
    settings.WORKFLOW_WEBHOOK_ALLOW_PRIVATE = False

    run_task(execution)

    execution = reload(execution)
    assert execution.status == "failed"
    assert "private or local address" in execution.steps[0]["error"]
    assert execution.steps[0]["attempts"] == 1
    assert receiver.requests == []


# Waits and cancelling


def wait_then_notify(company, user):
    return WorkflowFactory(
        company=company,
        user=user,
        actions=[
            {"type": "create_notification", "params": {"title": "First"}},
            {"type": "wait", "params": {"hours": 2}},
            {"type": "create_notification", "params": {"title": "Second"}},
        ],
    )


def titles(company) -> list[str]:
    with company_context(company):
        return list(Notification.objects.order_by("created_at").values_list("title", flat=True))


def test_a_wait_defers_the_next_steps_until_it_is_due(company_a, user_a):
    """After a 2-hour wait is reached nothing more runs early; once due, the execution finishes."""
    execution = start(wait_then_notify(company_a, user_a))

    run_on_worker(execution)
    run_on_worker(execution)  # an early delivery does not end the wait

    waiting = reload(execution)
    assert waiting.status == "running" and titles(company_a) == ["First"]
    assert waiting.steps[1]["status"] == "running"
    due = timezone.datetime.fromisoformat(waiting.steps[1]["next_attempt_at"])
    assert timedelta(hours=2) - timedelta(seconds=5) < due - timezone.now() <= timedelta(hours=2)
    assert waiting.resume_at == due
    waiting.steps[1]["next_attempt_at"] = (timezone.now() - timedelta(seconds=1)).isoformat()
    with company_context(company_a):
        WorkflowExecution.objects.filter(pk=execution.pk).update(steps=waiting.steps)

    run_on_worker(execution)

    assert reload(execution).status == "succeeded"
    assert titles(company_a) == ["First", "Second"]


def test_without_a_worker_a_wait_ends_at_once_and_says_so(
    company_a, user_a, django_capture_on_commit_callbacks, caplog
):
    """In eager mode (a first run with no broker) nothing would come back later, so waits do not block."""
    execution = start(wait_then_notify(company_a, user_a))

    with django_capture_on_commit_callbacks(execute=True):
        run_task(execution)

    finished = reload(execution)
    assert finished.status == "succeeded"
    assert titles(company_a) == ["First", "Second"]
    # The record says the 2-hour wait was cut short, never that it lasted 2 hours.
    assert finished.steps[1]["output"]["planned_seconds"] == 7200
    assert finished.steps[1]["output"]["waited_seconds"] < 60
    assert "no worker" in finished.steps[1]["output"]["cut_short"]
    assert "ended after" in caplog.text


def test_cancelling_during_a_wait_skips_the_remaining_steps(client_a, company_a, user_a):
    """A cancelled execution runs nothing more, even when its wait's task arrives."""
    workflow = wait_then_notify(company_a, user_a)
    execution = start(workflow)
    run_on_worker(execution)

    response = client_a.post(f"/api/workflows/{workflow.pk}/executions/{execution.pk}/cancel")
    run_task(execution)

    assert response.status_code == 200
    assert [step["status"] for step in response.json()["steps"]] == ["succeeded", "skipped", "skipped"]
    assert reload(execution).status == "cancelled"
    assert titles(company_a) == ["First"]


# Inbound webhooks


def hook_url(workflow) -> str:
    return f"/api/public/workflows/{workflow.pk}/hook"


def hook_signature(secret: str, body: bytes, delivery_id: str) -> str:
    """X-CRM-Signature signed now over the time, the delivery id and the body (docs/WORKFLOWS.md)."""
    timestamp = int(time.time())
    signed = f"{timestamp}.{delivery_id}.".encode() + body
    return f"t={timestamp},v1=" + hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest()


def post_hook(workflow, body: bytes, *, secret=None, **headers):
    secret = workflow.secret if secret is None else secret
    headers.setdefault("HTTP_X_CRM_DELIVERY", uuid.uuid4().hex)
    signature = hook_signature(secret, body, headers["HTTP_X_CRM_DELIVERY"])
    return Client().post(
        hook_url(workflow), body, content_type="application/json", HTTP_X_CRM_SIGNATURE=signature, **headers
    )


@pytest.fixture
def lead_hook(company_a, user_a):
    return WorkflowFactory(
        company=company_a,
        user=user_a,
        trigger="webhook",
        conditions=[{"field": "source", "op": "eq", "value": "website"}],
        actions=[{"type": "create_notification", "params": {"title": "New lead"}}],
    )


def test_a_signed_inbound_webhook_starts_the_workflow(
    company_a, lead_hook, django_capture_on_commit_callbacks
):
    """A body signed with the workflow's secret starts an execution with the payload; it then runs."""
    with django_capture_on_commit_callbacks(execute=True):
        response = post_hook(lead_hook, b'{"source": "website", "email": "lee@example.com"}')

    assert response.status_code == 202, response.content
    (execution,) = executions(company_a)
    assert str(execution.pk) == response.json()["execution_id"]
    assert execution.trigger == "webhook" and execution.trigger_payload["email"] == "lee@example.com"
    assert execution.status == "succeeded" and titles(company_a) == ["New lead"]


@pytest.mark.parametrize(
    "case", ["unsigned", "wrong-secret", "tampered", "other-companys-secret", "bad-prefix"]
)
def test_an_unsigned_or_wrongly_signed_inbound_webhook_is_refused(
    company_a, company_b, user_b, lead_hook, case
):
    """Anything but the workflow's own signature over the exact body is a 403, and nothing is written."""
    body = b'{"source": "website"}'
    if case == "unsigned":
        response = Client().post(hook_url(lead_hook), body, content_type="application/json")
    elif case == "wrong-secret":
        response = post_hook(lead_hook, body, secret="guessed")
    elif case == "tampered":
        response = Client().post(
            hook_url(lead_hook),
            b'{"source": "ads"}',
            content_type="application/json",
            HTTP_X_CRM_SIGNATURE=hook_signature(lead_hook.secret, body, "evt_1"),
            HTTP_X_CRM_DELIVERY="evt_1",
        )
    elif case == "other-companys-secret":
        response = post_hook(
            lead_hook, body, secret=WorkflowFactory(company=company_b, trigger="webhook").secret
        )
    else:
        digest = hmac.new(lead_hook.secret.encode(), body, hashlib.sha256).hexdigest()
        response = Client().post(
            hook_url(lead_hook), body, content_type="application/json", HTTP_X_CRM_SIGNATURE=digest
        )

    assert response.status_code == 403
    assert executions(company_a) == [] and executions(company_b) == []


def test_inbound_webhooks_only_reach_live_webhook_workflows(company_a, user_a, lead_hook):
    """Unknown ids and non-webhook workflows are a 403; a switched-off one a 409; none start anything."""
    manual = WorkflowFactory(company=company_a, user=user_a)
    body = b'{"source": "website"}'

    assert post_hook(manual, body).status_code == 403
    assert (
        Client()
        .post(
            "/api/public/workflows/not-a-uuid/hook",
            body,
            content_type="application/json",
            HTTP_X_CRM_SIGNATURE="sha256=00",
        )
        .status_code
        == 403
    )
    with company_context(company_a):
        Workflow.objects.filter(pk=lead_hook.pk).update(is_active=False)
    assert post_hook(lead_hook, body).status_code == 409
    assert executions(company_a) == []


def test_an_inbound_webhook_answers_unmet_conditions_and_bad_bodies_without_starting(company_a, lead_hook):
    """A payload failing the conditions is acknowledged with 200; a body that is not an object is a 400."""
    unmet = post_hook(lead_hook, b'{"source": "ads"}')
    not_an_object = post_hook(lead_hook, b"[1, 2]")
    not_json = post_hook(lead_hook, b"source=website")

    assert unmet.status_code == 200 and unmet.json()["unmet"] == ["source eq 'website'"]
    assert not_an_object.status_code == 400 and not_json.status_code == 400
    assert executions(company_a) == []


def test_a_redelivered_inbound_webhook_starts_one_execution(company_a, lead_hook):
    """A sender retrying with the same X-CRM-Delivery id is refused (409) and told the first execution."""
    body = b'{"source": "website"}'

    first = post_hook(lead_hook, body, HTTP_X_CRM_DELIVERY="evt_1")
    again = post_hook(lead_hook, body, HTTP_X_CRM_DELIVERY="evt_1")
    other = post_hook(lead_hook, body, HTTP_X_CRM_DELIVERY="evt_2")

    assert (first.status_code, again.status_code, other.status_code) == (202, 409, 202)
    assert again.json()["execution_id"] == first.json()["execution_id"] != other.json()["execution_id"]
    assert len(executions(company_a)) == 2


def test_an_inbound_webhook_naming_another_companys_record_is_refused(company_a, user_a, deal_b):
    """A's deal webhook given B's deal id answers 400 and starts nothing."""
    workflow = WorkflowFactory(
        company=company_a,
        user=user_a,
        trigger="webhook",
        record_type="deal",
        actions=[{"type": "update_field", "params": {"field": "stage", "value": "lost"}}],
    )

    response = post_hook(workflow, json.dumps({"record_id": str(deal_b.pk)}).encode())

    assert response.status_code == 400 and "record_id" in response.json()
    assert executions(company_a) == []


# Schedules


def scheduled(company, user, **fields):
    workflow = WorkflowFactory(
        company=company, user=user, trigger="schedule", schedule_interval_seconds=3600, **fields
    )
    due = timezone.now().replace(microsecond=0) - timedelta(minutes=5)
    with company_context(company):
        Workflow.objects.filter(pk=workflow.pk).update(next_run_at=due)
    return workflow, due


def test_a_due_schedule_runs_once_per_slot_in_its_own_company(
    company_a, company_b, user_a, user_b, django_capture_on_commit_callbacks
):
    """Two beats finding the same due slot start one execution per workflow, each inside its company."""
    workflow_a, due = scheduled(company_a, user_a)
    workflow_b, _ = scheduled(company_b, user_b)
    WorkflowFactory(
        company=company_a, user=user_a, trigger="schedule", schedule_interval_seconds=3600, is_active=False
    )

    with django_capture_on_commit_callbacks(execute=False) as queued:
        dispatch_scheduled.apply()
        dispatch_scheduled.apply()  # the beat ran again before the start tasks did
    with django_capture_on_commit_callbacks(execute=True):
        for callback in queued:
            callback()
    with django_capture_on_commit_callbacks(execute=True):
        dispatch_scheduled.apply()  # the next beat: the slot has moved on

    (run_a,) = executions(company_a)
    (run_b,) = executions(company_b)
    assert (run_a.workflow_id, run_b.workflow_id) == (workflow_a.pk, workflow_b.pk)
    assert run_a.dedupe_key == f"schedule:{due.isoformat()}" and run_a.status == "succeeded"
    with company_context(company_a):
        assert Workflow.objects.get(pk=workflow_a.pk).next_run_at == due + timedelta(hours=1)
        assert list(Notification.objects.values_list("user", flat=True)) == [user_a.pk]


def test_the_beat_requeues_an_execution_whose_task_was_lost(
    company_a, user_a, settings, django_capture_on_commit_callbacks
):
    """A pending execution long past its due time (the broker was down) is queued again and runs."""
    execution = start(WorkflowFactory(company=company_a, user=user_a))
    with company_context(company_a):
        WorkflowExecution.objects.filter(pk=execution.pk).update(
            resume_at=timezone.now() - timedelta(seconds=settings.OUTBOX_REQUEUE_AFTER_SECONDS + 1)
        )
    recent = start(WorkflowFactory(company=company_a, user=user_a))

    with django_capture_on_commit_callbacks(execute=True):
        dispatch_scheduled.apply()

    assert reload(execution).status == "succeeded"
    assert reload(recent).status == "pending"


def test_other_users_are_notified_only_inside_the_company(company_a, user_a, deal_a, company_b):
    """A notification to the record's owner goes to A's user, never to anyone of B."""
    UserFactory(company=company_b)
    workflow = WorkflowFactory(
        company=company_a,
        user=None,
        record_type="deal",
        actions=[{"type": "create_notification", "params": {"recipient": "record_owner", "title": "Hi"}}],
    )
    run_task(start(workflow, record=deal_a))

    with company_context(company_a):
        assert list(Notification.objects.values_list("user", flat=True)) == [user_a.pk]
    with company_context(company_b):
        assert not Notification.objects.exists()
