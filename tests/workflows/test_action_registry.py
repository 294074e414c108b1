"""One registry entry makes an action type: validated, dry-run and run with it, refused without it."""

import pytest

from workflows.actions import ACTION_TYPES
from workflows.actions.base import ActionType, params_schema

WORKFLOWS = "/api/workflows"
pytestmark = pytest.mark.django_db


def _check(params, record_type):
    text = params.get("text")
    return [] if isinstance(text, str) and text.strip() else [("text", "Say something.")]


def _run(ctx, params):
    return {"said": ctx.render(params["text"])}


def _describe(ctx, params, *, index):
    return {"would_say": ctx.render(params["text"])}


ECHO = ActionType(
    name="echo",
    description="Say a text, rendered with merge fields.",
    params=params_schema({"text": {"type": "string"}}, required=("text",)),
    check=_check,
    run=_run,
    describe=_describe,
    transactional=True,
)


def echo_workflow(**params):
    return {
        "name": "Echo",
        "trigger": "manual",
        "conditions": [],
        "actions": [{"type": "echo", "params": params or {"text": "Hello from {{ company.name }}"}}],
    }


@pytest.fixture
def echo_registered(monkeypatch):
    monkeypatch.setitem(ACTION_TYPES, "echo", ECHO)


def test_an_unregistered_action_type_is_refused(client_a):
    """Without its registry entry, an action type is not one a workflow may have."""
    response = client_a.post(WORKFLOWS, echo_workflow(), format="json")

    assert response.status_code == 400, response.content
    assert "Use one of:" in response.json()["actions"]["0"]["type"][0]
    assert "echo" not in response.json()["actions"]["0"]["type"][0]


def test_one_registry_entry_makes_an_action_type_valid_described_and_run(
    client_a, company_a, echo_registered, django_capture_on_commit_callbacks
):
    """The entry alone: its check validates the params, the dry run describes it and an execution runs it."""
    assert client_a.post(WORKFLOWS, echo_workflow(text=" "), format="json").json()["actions"] == {
        "0": {"params.text": ["Say something."]}
    }
    assert client_a.post(WORKFLOWS, echo_workflow(text="Hi", loud=True), format="json").json()["actions"] == {
        "0": {"params.loud": ["Unknown parameter of echo."]}
    }
    created = client_a.post(WORKFLOWS, echo_workflow(), format="json")
    assert created.status_code == 201, created.content
    workflow_id = created.json()["id"]

    dry_run = client_a.post(f"{WORKFLOWS}/{workflow_id}/test", {}, format="json").json()
    with django_capture_on_commit_callbacks(execute=True):
        run = client_a.post(f"{WORKFLOWS}/{workflow_id}/run", {}, format="json")

    assert dry_run["actions"] == [
        {"index": 0, "type": "echo", "would": {"would_say": f"Hello from {company_a.name}"}, "error": ""}
    ]
    assert run.status_code == 202, run.content
    detail = client_a.get(f"{WORKFLOWS}/{workflow_id}/executions/{run.json()['id']}").json()
    assert detail["status"] == "succeeded"
    assert [(step["type"], step["status"], step["output"]) for step in detail["steps"]] == [
        ("echo", "succeeded", {"said": f"Hello from {company_a.name}"})
    ]
