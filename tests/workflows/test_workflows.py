"""Workflows over REST: validation against the documented rules, dry runs, manual runs, executions, cancel."""

from io import StringIO

import jsonschema
import pytest
from django.core.management import call_command

from crm.models import Deal
from messaging.models import Email, Notification, SmsMessage
from tenancy.context import company_context
from tenancy.models import Company
from workflows.models import Workflow, WorkflowExecution
from workflows.services import workflow_errors

from ..conftest import bearer_client
from ..factories import (
    ContactFactory,
    DealFactory,
    EmailTemplateFactory,
    UserFactory,
    WorkflowExecutionFactory,
    WorkflowFactory,
)
from ..unscoped import as_stored, unscoped

WORKFLOWS = "/api/workflows"
pytestmark = pytest.mark.django_db


def workflow_body(**overrides) -> dict:
    body = {
        "name": "Deal won",
        "trigger": "record_updated",
        "record_type": "deal",
        "conditions": [{"field": "stage", "op": "changed_to", "value": "won"}],
        "actions": [{"type": "create_notification", "params": {"title": "{{ deal.name }} was won"}}],
    }
    return {**body, **overrides}


def count(model, company) -> int:
    with company_context(company):
        return model.objects.count()


@pytest.fixture
def deal_a(company_a, user_a):
    contact = ContactFactory(
        company=company_a, first_name="Ada", email="ada@a.example", phone="+16175550111", owner=user_a
    )
    return DealFactory(
        account=contact.account, contact=contact, owner=user_a, name="Initech renewal", stage="negotiation"
    )


@pytest.fixture
def deal_b(company_b, user_b):
    return DealFactory(account__company=company_b, owner=user_b, name="Globex deal", stage="negotiation")


# Saving


def test_a_created_workflow_belongs_to_its_creator_and_stays_in_its_company(client_a, client_b, user_a):
    """A's new workflow is owned by A's user, gets a secret, and B neither lists nor reads it."""
    response = client_a.post(WORKFLOWS, workflow_body(), format="json")

    assert response.status_code == 201, response.content
    body = response.json()
    assert body["user"] == str(user_a.pk)
    assert body["webhook_url"] is None
    assert "secret" not in body
    with unscoped():
        assert Workflow._base_manager.get(pk=body["id"]).secret
    assert client_b.get(WORKFLOWS).json()["count"] == 0
    assert client_b.get(f"{WORKFLOWS}/{body['id']}").status_code == 404


@pytest.mark.parametrize(
    ("condition", "key"),
    [
        ({"field": "colour", "op": "eq", "value": "red"}, "field"),
        ({"field": "stage", "op": "like", "value": "won"}, "op"),
        ({"field": "stage", "op": "eq", "value": "sold"}, "value"),
        ({"field": "name", "op": "gt", "value": "A"}, "value"),
        ({"field": "amount", "op": "gte", "value": "lots"}, "value"),
        ({"field": "stage", "op": "in", "value": "won"}, "value"),
        ({"field": "expected_close_date", "op": "lt", "value": "next week"}, "value"),
        ({"field": "stage", "op": "changed", "value": "won"}, "value"),
        ({"field": "stage", "op": "eq", "value": "won", "extra": 1}, "extra"),
    ],
)
def test_a_condition_breaking_the_schema_is_a_400_on_that_condition(client_a, company_a, condition, key):
    """Each invalid condition is reported under its index and key, and nothing is stored."""
    body = workflow_body(conditions=[{"field": "stage", "op": "eq", "value": "won"}, condition])

    response = client_a.post(WORKFLOWS, body, format="json")

    assert response.status_code == 400, response.content
    assert list(response.json()["conditions"]) == ["1"]
    assert key in response.json()["conditions"]["1"]
    assert count(Workflow, company_a) == 0


def test_change_conditions_apply_to_record_triggers_only(client_a, company_a):
    """changed_to on a manual workflow is refused, since no change triggers it."""
    body = workflow_body(
        trigger="manual", conditions=[{"field": "stage", "op": "changed_to", "value": "won"}]
    )

    response = client_a.post(WORKFLOWS, body, format="json")

    assert response.status_code == 400
    assert "op" in response.json()["conditions"]["0"]


@pytest.mark.parametrize(
    ("action", "key"),
    [
        ({"type": "send_email", "params": {}}, "params.template_id"),
        ({"type": "send_email", "params": {"template_id": "not-an-id"}}, "params.template_id"),
        ({"type": "send_email", "params": {"template_id": "TEMPLATE", "to": "nobody"}}, "params.to"),
        ({"type": "send_sms", "params": {"body": "Hi {{ contact.shoe_size }}"}}, "params.body"),
        ({"type": "create_notification", "params": {"title": ""}}, "params.title"),
        (
            {"type": "create_notification", "params": {"title": "Hi", "recipient": "everyone"}},
            "params.recipient",
        ),
        ({"type": "update_field", "params": {"field": "closed_at", "value": None}}, "params.field"),
        ({"type": "update_field", "params": {"field": "stage", "value": "sold"}}, "params.value"),
        ({"type": "update_field", "params": {"field": "amount", "value": -5}}, "params.value"),
        ({"type": "webhook", "params": {"url": "ftp://example.com/x"}}, "params.url"),
        ({"type": "webhook", "params": {"url": "https://example.com/x", "timeout": 90}}, "params.timeout"),
        ({"type": "webhook", "params": {"url": "https://example.com/x", "payload": [1]}}, "params.payload"),
        ({"type": "wait", "params": {"minutes": 5, "hours": 1}}, "params.seconds"),
        ({"type": "wait", "params": {"hours": 24 * 31}}, "params.hours"),
        ({"type": "wait", "params": {"days": 1}}, "params.days"),
        ({"type": "teleport", "params": {}}, "type"),
    ],
)
def test_invalid_action_params_are_a_400_per_field(client_a, company_a, action, key):
    """Each action's params are checked on save; the error names the action's index and the param."""
    if action["params"].get("template_id") == "TEMPLATE":
        action["params"]["template_id"] = str(EmailTemplateFactory(company=company_a).id)
    ok = {"type": "create_notification", "params": {"title": "Hello"}}

    response = client_a.post(WORKFLOWS, workflow_body(actions=[ok, action]), format="json")

    assert response.status_code == 400, response.content
    errors = response.json()["actions"]
    assert list(errors) == ["1"] and key in errors["1"], errors
    assert count(Workflow, company_a) == 0


def test_another_companys_template_or_user_is_refused(client_b, company_a, company_b, user_a):
    """B's workflow cannot send A's template or notify A's user: 400 on the param, nothing stored."""
    template_a = EmailTemplateFactory(company=company_a)
    actions = [
        {"type": "send_email", "params": {"template_id": str(template_a.id)}},
        {"type": "create_notification", "params": {"title": "Hi", "recipient": str(user_a.id)}},
    ]

    response = client_b.post(WORKFLOWS, workflow_body(actions=actions), format="json")

    assert response.status_code == 400
    errors = response.json()["actions"]
    assert "params.template_id" in errors["0"] and "params.recipient" in errors["1"]
    assert count(Workflow, company_b) == 0


def test_outbound_webhooks_to_private_addresses_are_refused(client_a, company_a, settings):
    """A webhook URL naming a loopback or private address is a 400 unless private addresses are allowed."""
    settings.WORKFLOW_WEBHOOK_ALLOW_PRIVATE = False
    for url in ["http://127.0.0.1:8000/x", "http://10.0.0.5/x", "http://[::1]/x", "http://169.254.169.254/"]:
        body = workflow_body(actions=[{"type": "webhook", "params": {"url": url}}])
        response = client_a.post(WORKFLOWS, body, format="json")
        assert response.status_code == 400, url
        assert "params.url" in response.json()["actions"]["0"]
    assert count(Workflow, company_a) == 0


@pytest.mark.parametrize(
    ("changes", "key"),
    [
        ({"trigger": "record_created", "record_type": ""}, "record_type"),
        ({"record_type": "spaceship"}, "record_type"),
        ({"trigger": "schedule", "record_type": "", "conditions": []}, "schedule_interval_seconds"),
        (
            {"trigger": "schedule", "record_type": "", "conditions": [], "schedule_cron": "0 25 * * *"},
            "schedule_cron",
        ),
        (
            {"trigger": "schedule", "record_type": "", "conditions": [], "schedule_interval_seconds": 5},
            "schedule_interval_seconds",
        ),
        ({"actions": []}, "actions"),
    ],
)
def test_trigger_settings_are_checked(client_a, company_a, changes, key):
    """Record triggers need a record type, schedules one valid interval or cron, and actions exist."""
    response = client_a.post(WORKFLOWS, workflow_body(**changes), format="json")

    assert response.status_code == 400, response.content
    assert key in response.json()
    assert count(Workflow, company_a) == 0


def test_switching_away_from_a_schedule_drops_it(client_a, company_a):
    """A schedule belongs to the schedule trigger: sent with another, or left behind, it is cleared."""
    body = workflow_body(trigger="manual", conditions=[], schedule_cron="0 9 * * *")

    created = client_a.post(WORKFLOWS, body, format="json")
    scheduled = client_a.post(
        WORKFLOWS,
        workflow_body(trigger="schedule", record_type="", conditions=[], schedule_interval_seconds=3600),
        format="json",
    ).json()
    switched = client_a.patch(f"{WORKFLOWS}/{scheduled['id']}", {"trigger": "manual"}, format="json")

    assert created.status_code == 201, created.content
    assert created.json()["schedule_cron"] == ""
    assert switched.status_code == 200, switched.content
    assert switched.json()["schedule_interval_seconds"] is None
    assert switched.json()["next_run_at"] is None


def test_a_change_only_the_stored_workflow_refuses_is_a_conflict(client_a, company_a, user_a):
    """A payload condition patched onto a deal workflow is a 409; a malformed one stays a 400."""
    workflow = WorkflowFactory(company=company_a, user=user_a, trigger="manual", record_type="deal")
    url = f"{WORKFLOWS}/{workflow.id}"

    conflicting = client_a.patch(
        url, {"conditions": [{"field": "lead.source", "op": "eq", "value": "ad"}]}, format="json"
    )
    malformed = client_a.patch(
        url, {"conditions": [{"field": "stage", "op": "changed", "value": None}]}, format="json"
    )

    assert conflicting.status_code == 409, conflicting.content
    assert "has no field 'lead.source'" in conflicting.json()["detail"]
    assert malformed.status_code == 400 and "conditions" in malformed.json()
    with company_context(company_a):
        assert Workflow.objects.get(pk=workflow.pk).conditions == workflow.conditions


def test_a_run_that_does_not_fit_the_workflow_is_a_conflict(client_a, company_a, user_a, deal_a):
    """A record id for a workflow without a record type, or none for one with, is a 409; nothing starts."""
    payload_workflow = WorkflowFactory(company=company_a, user=user_a, trigger="manual", record_type="")
    deal_workflow = WorkflowFactory(company=company_a, user=user_a, trigger="manual", record_type="deal")

    with_record = client_a.post(
        f"{WORKFLOWS}/{payload_workflow.id}/run", {"record_id": str(deal_a.id)}, format="json"
    )
    without_record = client_a.post(f"{WORKFLOWS}/{deal_workflow.id}/test", {}, format="json")

    assert with_record.status_code == 409 and "no record type" in with_record.json()["detail"]
    assert without_record.status_code == 409 and "give its id" in without_record.json()["detail"]
    assert count(WorkflowExecution, company_a) == 0


def test_a_payload_jsonb_cannot_hold_is_stored_with_replacement_characters(client_a, company_a, user_a):
    """NUL and lone surrogates in a run's payload become U+FFFD instead of failing the run."""
    workflow = WorkflowFactory(
        company=company_a, user=user_a, trigger="manual", record_type="", conditions=[]
    )

    response = client_a.post(
        f"{WORKFLOWS}/{workflow.id}/run",
        {"payload": {"note\u0000": ["a\u0000b"]}},
        format="json",
    )

    assert response.status_code == 202, response.content
    with company_context(company_a):
        assert WorkflowExecution.objects.get().trigger_payload == {"note\ufffd": ["a\ufffdb"]}


def test_a_schedule_gets_its_next_due_time(client_a):
    """A cron schedule's next run is its next slot in UTC; a webhook workflow shows its URL."""
    body = workflow_body(trigger="schedule", record_type="", conditions=[], schedule_cron="30 9 * * *")

    response = client_a.post(WORKFLOWS, body, format="json")

    assert response.status_code == 201, response.content
    assert response.json()["next_run_at"].endswith("09:30:00Z")
    hook = client_a.post(WORKFLOWS, workflow_body(trigger="webhook", conditions=[]), format="json").json()
    assert hook["webhook_url"].endswith(f"/api/public/workflows/{hook['id']}/hook")


def test_a_partial_update_is_checked_as_a_whole(client_a, company_a):
    """Switching a deal workflow to a schedule without one is a 409 and leaves it as it was."""
    workflow = client_a.post(WORKFLOWS, workflow_body(), format="json").json()

    response = client_a.patch(f"{WORKFLOWS}/{workflow['id']}", {"trigger": "schedule"}, format="json")

    assert response.status_code == 409, response.content
    with company_context(company_a):
        assert Workflow.objects.get(pk=workflow["id"]).trigger == "record_updated"


def test_the_openapi_schema_publishes_the_condition_and_action_schemas(client_a):
    """The documented schema of conditions and actions is part of the OpenAPI document."""
    schema = client_a.get("/api/schema/", {"format": "json"}).json()

    properties = schema["components"]["schemas"]["Workflow"]["properties"]
    assert properties["conditions"]["items"]["properties"]["op"]["enum"] == [
        "eq",
        "ne",
        "gt",
        "gte",
        "lt",
        "lte",
        "in",
        "contains",
        "changed",
        "changed_to",
    ]
    action_types = [
        option["properties"]["type"]["enum"][0] for option in properties["actions"]["items"]["oneOf"]
    ]
    assert action_types == [
        "send_email",
        "send_sms",
        "create_notification",
        "update_field",
        "webhook",
        "wait",
    ]


@pytest.mark.parametrize(
    ("record_type", "params", "accepted"),
    [
        ("deal", {"title": "T", "recipient": "record_owner"}, True),
        ("", {"title": "T", "recipient": "owner"}, True),
        ("", {"title": "T", "recipient": "record_owner"}, False),
        ("deal", {"title": "T", "recipient": "the boss"}, False),
        ("deal", {"title": "T", "recipient": "OWNER"}, False),
    ],
)
def test_the_schema_and_the_server_agree_on_a_notification_recipient(
    client_a, company_a, record_type, params, accepted
):
    """`recipient` is owner, record_owner (with a record type) or a user id, as the published schema says."""
    body = workflow_body(
        trigger="manual",
        record_type=record_type,
        conditions=[],
        actions=[{"type": "create_notification", "params": params}],
    )
    assert schema_accepts(client_a, body) is accepted

    response = client_a.post(WORKFLOWS, body, format="json")

    assert response.status_code == (201 if accepted else 400), response.content
    assert count(Workflow, company_a) == (1 if accepted else 0)


@pytest.mark.parametrize(
    ("record_type", "to", "accepted"),
    [
        ("contact", "contact", True),
        ("contact", "ops@a.example", True),
        ("", "ops@a.example", True),
        ("", "contact", False),
        ("", None, False),
        ("contact", None, True),
        ("contact", "the contact", False),
    ],
)
def test_the_schema_and_the_server_agree_on_an_email_recipient(
    client_a, company_a, record_type, to, accepted
):
    """`to` is `contact` (with a record type, its default) or an e-mail address, as the schema says."""
    template = EmailTemplateFactory(company=company_a)
    params = {"template_id": str(template.id)} if to is None else {"template_id": str(template.id), "to": to}
    action = {"type": "send_email", "params": params}
    body = workflow_body(trigger="manual", record_type=record_type, conditions=[], actions=[action])
    assert schema_accepts(client_a, body) is accepted

    response = client_a.post(WORKFLOWS, body, format="json")

    assert response.status_code == (201 if accepted else 400), response.content


@pytest.mark.parametrize(
    ("action", "accepted"),
    [
        ({"type": "send_sms", "params": {"body": "Hi {{ contact.first_name }}"}}, True),
        ({"type": "send_sms", "params": {"body": ""}}, False),
        ({"type": "send_sms", "params": {"body": "   "}}, False),
        ({"type": "create_notification", "params": {"title": " "}}, False),
        ({"type": "webhook", "params": {"url": "https://hooks.example.com/crm"}}, True),
        ({"type": "webhook", "params": {"url": "ftp://hooks.example.com/crm"}}, False),
        ({"type": "webhook", "params": {"url": "https://\u00cf"}}, False),
        ({"type": "webhook", "params": {"url": "https://h\u00f6oks.example.com/crm"}}, False),
        ({"type": "webhook", "params": {"url": "https://xn--hoks-6qa.example.com/crm"}}, True),
    ],
)
def test_the_schema_and_the_server_agree_on_action_texts_and_urls(client_a, company_a, action, accepted):
    """A blank text message or title, or a webhook that is not http(s), is refused by both."""
    body = workflow_body(trigger="manual", record_type="contact", conditions=[], actions=[action])
    assert schema_accepts(client_a, body) is accepted

    response = client_a.post(WORKFLOWS, body, format="json")

    assert response.status_code == (201 if accepted else 400), response.content


@pytest.mark.parametrize(
    ("record_type", "field", "value", "accepted"),
    [
        ("deal", "amount", "1250.00", True),
        ("deal", "amount", 1250, False),
        ("deal", "amount", "1250.001", False),
        ("deal", "amount", None, False),
        ("deal", "amount", "-5.00", False),
        ("deal", "stage", "won", True),
        ("deal", "stage", "finished", False),
        ("deal", "expected_close_date", "2026-12-01", True),
        ("deal", "expected_close_date", "2026-12-1", False),
        ("deal", "expected_close_date", 20261201, False),
        ("deal", "owner", "user_a", True),
        ("deal", "owner", "", False),
        ("deal", "owner", {"id": "x"}, False),
        ("contact", "title", "CFO", True),
        ("contact", "title", 5, False),
        ("account", "industry", "", True),
    ],
)
def test_the_schema_and_the_server_agree_on_the_value_update_field_sets(
    client_a, company_a, user_a, record_type, field, value, accepted
):
    """Each field's value has the JSON type the published schema states for it, and nothing else."""
    value = str(user_a.pk) if value == "user_a" else value
    action = {"type": "update_field", "params": {"field": field, "value": value}}
    body = workflow_body(trigger="manual", record_type=record_type, conditions=[], actions=[action])
    assert schema_accepts(client_a, body) is accepted

    response = client_a.post(WORKFLOWS, body, format="json")

    assert response.status_code == (201 if accepted else 400), response.content
    assert count(Workflow, company_a) == (1 if accepted else 0)


@pytest.mark.parametrize(
    ("payload", "accepted"),
    [
        ({"deal": "{{ deal.name }}", "tags": ["a", {"b": [1, None]}]}, True),
        ({"a": {"b": {"c": {"d": 1}}}}, True),
        ({"a": {"b": {"c": {"d": {"e": 1}}}}}, False),
        ({"a": [[[[1]]]]}, False),
        ({"text": "a\x00b"}, False),
        ({"k\x00y": 1}, False),
    ],
    ids=["mixed", "object-three-deep", "object-four-deep", "list-four-deep", "nul-in-text", "nul-in-key"],
)
def test_a_webhook_payload_is_free_json_without_nul_nested_at_most_three_levels(
    client_a, company_a, payload, accepted
):
    """jsonb cannot hold NUL; the schema states the nesting (and NUL, but in keys: OpenAPI 3.0 cannot)."""
    action = {"type": "webhook", "params": {"url": "https://hooks.example.com/crm", "payload": payload}}
    body = workflow_body(trigger="manual", record_type="", conditions=[], actions=[action])
    if "k\x00y" not in payload:
        assert schema_accepts(client_a, body) is accepted

    response = client_a.post(WORKFLOWS, body, format="json")

    assert response.status_code == (201 if accepted else 400), response.content
    assert count(Workflow, company_a) == (1 if accepted else 0)


@pytest.mark.parametrize(
    "overrides",
    [
        {"trigger": "schedule", "schedule_interval_seconds": 3600},
        {
            "trigger": "schedule",
            "record_type": "",
            "schedule_interval_seconds": 3600,
            "schedule_cron": "0 9 * * *",
        },
        {"trigger": "record_created", "record_type": ""},
        {"trigger": "manual", "record_type": "", "conditions": []},
    ],
    ids=[
        "schedule-on-a-deal",
        "interval-and-cron",
        "record-trigger-without-type",
        "deal-action-without-type",
    ],
)
def test_the_schema_refuses_the_trigger_mixes_the_server_refuses(client_a, company_a, overrides):
    """Each trigger variant of the schema takes only its own triggers, record type and schedule."""
    body = workflow_body(
        actions=[{"type": "update_field", "params": {"field": "stage", "value": "won"}}], **overrides
    )
    body["conditions"] = overrides.get("conditions", [])
    assert not schema_accepts(client_a, body)

    response = client_a.post(WORKFLOWS, body, format="json")

    assert response.status_code == 400, response.content
    assert count(Workflow, company_a) == 0


def schema_accepts(client, body) -> bool:
    """Whether the published WorkflowRequest schema accepts a body (with OpenAPI's `nullable`)."""
    components = with_nullable(client.get("/api/schema/", {"format": "json"}).json()["components"])
    root = {**components["schemas"]["WorkflowRequest"], "components": components}  # where $refs point
    return jsonschema.Draft7Validator(root, format_checker=jsonschema.FormatChecker()).is_valid(body)


def with_nullable(schema):
    """OpenAPI 3.0's `nullable: true` as JSON Schema's type list."""
    if isinstance(schema, list):
        return [with_nullable(item) for item in schema]
    if not isinstance(schema, dict):
        return schema
    converted = {key: with_nullable(value) for key, value in schema.items() if key != "nullable"}
    if schema.get("nullable") and "type" in schema:
        converted["type"] = [schema["type"], "null"]
    return converted


# Dry run


def full_deal_workflow(company, user, url="https://hooks.example.com/crm"):
    template = EmailTemplateFactory(
        company=company, subject="About {{ deal.name }}", body_text="Hi {{ contact.first_name }}"
    )
    return WorkflowFactory(
        company=company,
        user=user,
        trigger="record_updated",
        record_type="deal",
        conditions=[
            {"field": "stage", "op": "changed_to", "value": "won"},
            {"field": "amount", "op": "gte", "value": 500},
        ],
        actions=[
            {"type": "send_email", "params": {"template_id": str(template.id)}},
            {"type": "send_sms", "params": {"body": "Thanks {{ contact.first_name }} for {{ deal.name }}!"}},
            {"type": "update_field", "params": {"field": "stage", "value": "won"}},
            {"type": "webhook", "params": {"url": url, "payload": {"deal": "{{ deal.name }}"}}},
            {
                "type": "create_notification",
                "params": {"recipient": "record_owner", "title": "{{ deal.name }} won"},
            },
            {"type": "wait", "params": {"minutes": 5}},
        ],
    )


def test_a_dry_run_shows_what_each_action_would_do_and_changes_nothing(client_a, company_a, user_a, deal_a):
    """The dry run evaluates the conditions and renders every action, without writing a row."""
    workflow = full_deal_workflow(company_a, user_a)
    before = {
        model: count(model, company_a) for model in (Email, SmsMessage, Notification, WorkflowExecution)
    }

    response = client_a.post(
        f"{WORKFLOWS}/{workflow.id}/test",
        {"record_id": str(deal_a.id), "changed_fields": {"stage": ["negotiation", "won"]}},
        format="json",
    )

    assert response.status_code == 200, response.content
    body = response.json()
    assert body["conditions_met"] is True
    assert [c["met"] for c in body["conditions"]] == [True, True]
    would = [action["would"] for action in body["actions"]]
    assert would[0]["to"] == "ada@a.example" and would[0]["subject"] == "About Initech renewal"
    assert would[1] == {"to": "+16175550111", "body": "Thanks Ada for Initech renewal!"}
    assert would[2] == {"field": "stage", "old": "negotiation", "new": "won", "changed": True}
    assert would[3]["url"] == "https://hooks.example.com/crm"
    assert would[3]["payload"]["data"] == {"deal": "Initech renewal"}
    assert would[3]["payload"]["record"] == {"type": "deal", "id": str(deal_a.id)}
    assert would[4]["recipients"] == [user_a.email] and would[4]["title"] == "Initech renewal won"
    assert would[5] == {"seconds": 300}
    assert {model: count(model, company_a) for model in before} == before
    with company_context(company_a):
        assert Deal.objects.get(pk=deal_a.pk).stage == "negotiation"


def test_a_dry_run_reports_unmet_conditions_and_failing_actions(client_a, company_a, user_a, deal_a):
    """Without the change, changed_to is not evaluated; a contact who opted out shows why SMS would fail."""
    workflow = full_deal_workflow(company_a, user_a)
    with company_context(company_a):
        deal_a.contact.sms_opted_out = True
        deal_a.contact.save()
        Deal.objects.filter(pk=deal_a.pk).update(amount=100)

    body = client_a.post(
        f"{WORKFLOWS}/{workflow.id}/test", {"record_id": str(deal_a.id)}, format="json"
    ).json()

    assert body["conditions_met"] is False
    assert [(c["met"], c["actual"]) for c in body["conditions"]] == [(None, "negotiation"), (False, "100.00")]
    assert "opted out" in body["actions"][1]["error"] and body["actions"][1]["would"] is None


def test_a_dry_run_cannot_read_another_companys_record(client_a, client_b, company_a, user_a, deal_b):
    """Naming B's deal in A's dry run is a 404 that reveals nothing of it; B cannot test A's workflow."""
    workflow = full_deal_workflow(company_a, user_a)

    response = client_a.post(f"{WORKFLOWS}/{workflow.id}/test", {"record_id": str(deal_b.id)}, format="json")

    assert response.status_code == 404
    assert "No deal of this company" in response.json()["detail"]
    assert "Globex" not in response.content.decode()
    assert client_b.post(f"{WORKFLOWS}/{workflow.id}/test", {}, format="json").status_code == 404


def test_a_payload_workflow_is_tested_against_the_payload(client_a, company_a, user_a):
    """Without a record type, conditions read dotted paths of the payload."""
    workflow = WorkflowFactory(
        company=company_a,
        user=user_a,
        trigger="webhook",
        conditions=[{"field": "lead.source", "op": "in", "value": ["Website", "ads"]}],
    )

    met = client_a.post(
        f"{WORKFLOWS}/{workflow.id}/test", {"payload": {"lead": {"source": "website"}}}, format="json"
    ).json()
    unmet = client_a.post(f"{WORKFLOWS}/{workflow.id}/test", {"payload": {"lead": {}}}, format="json").json()

    assert met["conditions_met"] is True
    assert unmet["conditions_met"] is False and unmet["conditions"][0]["actual"] is None


# Manual runs and executions


def test_a_manual_run_creates_an_execution_that_runs_in_the_background(
    client_a, company_a, user_a, deal_a, django_capture_on_commit_callbacks
):
    """POST run answers 202 with the pending execution; the task then runs each step and logs it."""
    workflow = WorkflowFactory(
        company=company_a,
        user=user_a,
        record_type="deal",
        actions=[
            {"type": "update_field", "params": {"field": "stage", "value": "proposal"}},
            {"type": "create_notification", "params": {"title": "{{ deal.name }} is at {{ deal.stage }}"}},
        ],
    )

    with django_capture_on_commit_callbacks(execute=True):
        response = client_a.post(
            f"{WORKFLOWS}/{workflow.id}/run", {"record_id": str(deal_a.id)}, format="json"
        )

    assert response.status_code == 202, response.content
    assert response.json()["status"] == "pending"
    assert response.json()["triggered_by"] == str(user_a.pk)
    detail = client_a.get(f"{WORKFLOWS}/{workflow.id}/executions/{response.json()['id']}").json()
    assert detail["status"] == "succeeded"
    assert [(step["type"], step["status"], step["attempts"]) for step in detail["steps"]] == [
        ("update_field", "succeeded", 1),
        ("create_notification", "succeeded", 1),
    ]
    assert detail["steps"][0]["output"] == {
        "field": "stage",
        "old": "negotiation",
        "new": "proposal",
        "changed": True,
    }
    with company_context(company_a):
        assert Deal.objects.get(pk=deal_a.pk).stage == "proposal"
        assert Notification.objects.get(user=user_a).title == "Initech renewal is at Proposal"


def test_a_manual_run_cannot_act_on_another_companys_record(client_a, company_a, company_b, user_a, deal_b):
    """A's run naming B's deal is a 404 like an unknown id: no execution, and B's deal stays as it was."""
    workflow = WorkflowFactory(
        company=company_a,
        user=user_a,
        record_type="deal",
        actions=[{"type": "update_field", "params": {"field": "stage", "value": "lost"}}],
    )

    response = client_a.post(f"{WORKFLOWS}/{workflow.id}/run", {"record_id": str(deal_b.id)}, format="json")

    assert response.status_code == 404, response.content
    assert "No deal of this company" in response.json()["detail"]
    assert count(WorkflowExecution, company_a) == 0
    with company_context(company_b):
        assert Deal.objects.get(pk=deal_b.pk).stage == "negotiation"


def test_another_company_cannot_run_a_workflow(client_b, company_a, company_b, user_a):
    """B's run of A's workflow is a 404 and starts nothing anywhere."""
    workflow = WorkflowFactory(company=company_a, user=user_a)

    assert client_b.post(f"{WORKFLOWS}/{workflow.id}/run", {}, format="json").status_code == 404
    assert count(WorkflowExecution, company_a) == count(WorkflowExecution, company_b) == 0


def test_a_manual_run_refuses_unmet_conditions(client_a, company_a, user_a):
    """A manual run whose conditions do not hold is a 409 naming them, and starts nothing."""
    workflow = WorkflowFactory(
        company=company_a, user=user_a, conditions=[{"field": "priority", "op": "gte", "value": 3}]
    )

    response = client_a.post(f"{WORKFLOWS}/{workflow.id}/run", {"payload": {"priority": 1}}, format="json")

    assert response.status_code == 409 and "priority" in response.json()["detail"]
    assert count(WorkflowExecution, company_a) == 0


def test_executions_are_listed_newest_first_and_filtered_by_status(client_a, client_b, company_a, user_a):
    """The list is paginated and filtered by status; B gets a 404 for A's workflow."""
    workflow = WorkflowFactory(company=company_a, user=user_a)
    failed = WorkflowExecutionFactory(workflow=workflow, status="failed", error="boom")
    succeeded = WorkflowExecutionFactory(workflow=workflow, status="succeeded")
    WorkflowExecutionFactory(workflow__company=company_a)  # another workflow's
    url = f"{WORKFLOWS}/{workflow.id}/executions"

    listed = client_a.get(url).json()
    only_failed = client_a.get(url, {"status": "failed"}).json()

    assert listed["count"] == 2
    assert [row["id"] for row in listed["results"]] == [str(succeeded.pk), str(failed.pk)]
    assert "steps" not in listed["results"][0]
    assert [row["id"] for row in only_failed["results"]] == [str(failed.pk)]
    assert client_a.get(url, {"status": "exploded"}).status_code == 400
    assert client_b.get(url).status_code == 404
    assert client_b.get(f"{url}/{failed.pk}").status_code == 404


def test_an_execution_is_read_only_through_its_own_workflow(client_a, company_a, user_a):
    """An execution of another workflow is not found under this one."""
    workflow = WorkflowFactory(company=company_a, user=user_a)
    other = WorkflowExecutionFactory(workflow__company=company_a)

    assert client_a.get(f"{WORKFLOWS}/{workflow.id}/executions/{other.pk}").status_code == 404
    assert client_a.get(f"{WORKFLOWS}/{workflow.id}/executions/not-a-uuid").status_code == 404


def test_cancel_stops_a_pending_execution_and_skips_its_steps(client_a, client_b, company_a, user_a):
    """Cancel turns a pending execution cancelled with every step skipped; B's cancel is a 404."""
    workflow = WorkflowFactory(company=company_a, user=user_a)
    execution = WorkflowExecutionFactory(
        workflow=workflow,
        status="pending",
        steps=[
            {
                "index": 0,
                "type": "create_notification",
                "params": {"title": "Hi"},
                "status": "pending",
                "output": None,
                "error": "",
                "attempts": 0,
                "started_at": None,
                "finished_at": None,
                "next_attempt_at": None,
            }
        ],
    )
    url = f"{WORKFLOWS}/{workflow.id}/executions/{execution.pk}/cancel"

    assert client_b.post(url).status_code == 404
    response = client_a.post(url)

    assert response.status_code == 200, response.content
    assert response.json()["status"] == "cancelled"
    assert response.json()["steps"][0]["status"] == "skipped"
    again = client_a.post(url)
    assert again.status_code == 409 and "cancelled already" in again.json()["detail"]


def test_the_signing_secret_is_revealed_and_rotated_inside_the_company_only(
    client_a, client_b, company_a, user_a
):
    """The owner's company reads and rotates the secret; B gets 404 and A's secret stays."""
    workflow = WorkflowFactory(company=company_a, user=user_a)

    assert client_a.get(f"{WORKFLOWS}/{workflow.id}/secret").json() == {"secret": workflow.secret}
    assert client_b.post(f"{WORKFLOWS}/{workflow.id}/rotate-secret").status_code == 404
    assert client_b.get(f"{WORKFLOWS}/{workflow.id}/secret").status_code == 404
    rotated = client_a.post(f"{WORKFLOWS}/{workflow.id}/rotate-secret").json()["secret"]

    assert rotated != workflow.secret
    with company_context(company_a):
        assert Workflow.objects.get(pk=workflow.pk).secret == rotated


def test_a_member_cannot_read_or_rotate_a_colleagues_workflow_secret(company_a, user_a):
    """The secret belongs to the workflow's owner and the company's managers; members get 403."""
    workflow = WorkflowFactory(company=company_a, user=user_a)
    member = bearer_client(UserFactory(company=company_a, role="member"))

    assert member.get(f"/api/workflows/{workflow.id}/secret").status_code == 403
    assert member.post(f"/api/workflows/{workflow.id}/rotate-secret").status_code == 403
    with company_context(company_a):
        assert Workflow.objects.get(pk=workflow.pk).secret == workflow.secret
    assert bearer_client(user_a).get(f"/api/workflows/{workflow.id}/secret").status_code == 200


def test_deleting_a_workflow_cancels_its_unfinished_executions(client_a, company_a, user_a):
    """DELETE hides the workflow and cancels what it had not finished; finished executions stay."""
    workflow = WorkflowFactory(company=company_a, user=user_a)
    pending = WorkflowExecutionFactory(workflow=workflow, status="pending")
    done = WorkflowExecutionFactory(workflow=workflow, status="succeeded")

    assert client_a.delete(f"{WORKFLOWS}/{workflow.id}").status_code == 204

    with company_context(company_a):
        statuses = dict(WorkflowExecution.objects.values_list("pk", "status"))
    assert statuses == {pending.pk: "cancelled", done.pk: "succeeded"}


def test_seed_demo_fills_valid_workflows_and_executions_in_each_company(db):
    """seed_demo gives each company workflows that pass the documented rules, and executions of its own."""
    call_command("seed_demo", "--companies", "2", "--per-company", "10", "--seed", "3", stdout=StringIO())

    for company in as_stored(lambda: Company.objects.filter(slug__in=["acme", "globex"])):
        with company_context(company):
            workflows = list(Workflow.objects.all())
            assert {workflow.trigger for workflow in workflows} >= {"record_updated", "schedule", "webhook"}
            assert all(workflow_errors(workflow) == {} for workflow in workflows)
            runs = WorkflowExecution.objects.select_related("workflow")
            assert runs.count() >= 2
            assert {run.status for run in runs} >= {"succeeded", "failed"}
            assert all(run.workflow.company_id == company.pk for run in runs)
