"""Admin pages of workflows: the same rules as the API, executions read-only with their step log."""

import json

import pytest
from django.test import Client

from tenancy.context import company_context
from workflows.models import Workflow

from ..factories import WorkflowExecutionFactory, WorkflowFactory

pytestmark = pytest.mark.django_db


def browser(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


STEP = {
    "index": 0,
    "type": "webhook",
    "params": {"url": "https://hooks.example.com/erp"},
    "status": "failed",
    "output": None,
    "error": "https://hooks.example.com/erp answered 503: down",
    "attempts": 4,
    "started_at": "2026-01-01T09:00:00+00:00",
    "finished_at": "2026-01-01T09:06:10+00:00",
    "next_attempt_at": None,
}


@pytest.mark.parametrize("url", ["/admin/workflows/workflow/", "/admin/workflows/workflowexecution/"])
def test_every_page_opens_for_company_staff_and_super_admins(url, user_a, super_admin, company_a):
    """The changelists answer 200 for a company and the platform; only workflows can be added."""
    WorkflowExecutionFactory(workflow__company=company_a)
    for user in (user_a, super_admin):
        assert browser(user).get(url).status_code == 200, (user, url)
    assert browser(user_a).get("/admin/workflows/workflow/add/").status_code == 200
    assert browser(user_a).get("/admin/workflows/workflowexecution/add/").status_code == 403


def test_an_execution_shows_its_step_log_and_cannot_be_changed(user_a, user_b, company_a):
    """The execution page shows each step's outcome; POSTing a change is refused; B cannot open it."""
    execution = WorkflowExecutionFactory(workflow__company=company_a, status="failed", steps=[STEP])
    url = f"/admin/workflows/workflowexecution/{execution.pk}/change/"

    page = browser(user_a).get(url)
    changed = browser(user_a).post(url, {"status": "succeeded"})

    assert page.status_code == 200
    assert "answered 503: down" in page.content.decode() and "webhook" in page.content.decode()
    assert changed.status_code == 403
    with company_context(company_a):
        assert execution.__class__.objects.get(pk=execution.pk).status == "failed"
    assert browser(user_b).get(url).status_code == 302  # not found in B's admin: back to the index


def form(**overrides) -> dict:
    data = {
        "name": "Won deals",
        "trigger": "record_updated",
        "record_type": "deal",
        "conditions": json.dumps([{"field": "stage", "op": "changed_to", "value": "won"}]),
        "actions": json.dumps([{"type": "create_notification", "params": {"title": "Won"}}]),
        "is_active": "on",
    }
    return {**data, **overrides}


def test_a_workflow_added_in_the_admin_is_checked_like_the_api(user_a, company_a):
    """A broken condition is a form error storing nothing; a valid workflow is owned by its creator."""
    client = browser(user_a)
    broken = form(conditions=json.dumps([{"field": "colour", "op": "eq", "value": "red"}]))

    refused = client.post("/admin/workflows/workflow/add/", broken)
    saved = client.post("/admin/workflows/workflow/add/", form())

    assert refused.status_code == 200 and "has no field" in refused.content.decode()
    assert saved.status_code == 302
    with company_context(company_a):
        workflow = Workflow.objects.get()
    assert (workflow.user_id, workflow.company_id) == (user_a.pk, company_a.pk)
    assert workflow.secret


def test_a_company_user_cannot_change_another_companys_workflow(user_b, company_a):
    """B's admin does not find A's workflow, and a POST leaves it unchanged."""
    workflow = WorkflowFactory(company=company_a, name="Original")

    response = browser(user_b).post(f"/admin/workflows/workflow/{workflow.pk}/change/", form(name="Hijacked"))

    assert response.status_code == 302
    with company_context(company_a):
        assert Workflow.objects.get(pk=workflow.pk).name == "Original"
