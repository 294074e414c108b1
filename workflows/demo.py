"""Deterministic demo workflows of every trigger, and a few finished executions with their step logs."""

import random
from datetime import UTC, datetime, timedelta

from crm.demo import seeded_uuid
from crm.models import Deal
from messaging.models import EmailTemplate

from .models import Workflow, WorkflowDelivery, WorkflowExecution

NOW = datetime(2026, 1, 1, 9, 0, tzinfo=UTC)


def _step(index, action, status, *, output=None, error="", attempts=1, at=NOW):
    return {
        "index": index,
        "type": action["type"],
        "params": action["params"],
        "status": status,
        "output": output,
        "error": error,
        "attempts": attempts if status != "skipped" else 0,
        "started_at": at.isoformat() if status != "skipped" else None,
        "finished_at": (at + timedelta(seconds=2)).isoformat() if status != "skipped" else None,
        "next_attempt_at": None,
    }


def seed_workflows(company, users, rng: random.Random, per_company: int) -> dict[str, int]:
    """Four workflows (record, schedule, webhook, manual) and three executions for one company."""
    owner, sales = users[0], users[2] if len(users) > 2 else users[0]
    template = EmailTemplate.objects.order_by("name").first()
    won_deal = Deal.objects.filter(stage=Deal.Stage.WON).order_by("name").first()

    won_actions = [
        {
            "type": "create_notification",
            "params": {"recipient": "record_owner", "title": "{{ deal.name }} was won"},
        }
    ]
    if template is not None:
        won_actions.insert(
            0, {"type": "send_email", "params": {"template_id": str(template.pk), "to": "contact"}}
        )
    digest = {
        "type": "webhook",
        "params": {
            "url": "https://hooks.example.com/crm/digest",
            "payload": {"company": "{{ company.name }}"},
        },
    }
    workflows = [
        Workflow(
            id=seeded_uuid(rng),
            company=company,
            user=owner,
            name="Deal won: thank the customer",
            description="When a deal moves to won, e-mail its contact and tell the deal's owner.",
            trigger=Workflow.Trigger.RECORD_UPDATED,
            record_type="deal",
            conditions=[{"field": "stage", "op": "changed_to", "value": "won"}],
            actions=won_actions,
        ),
        Workflow(
            id=seeded_uuid(rng),
            company=company,
            user=sales,
            name="New contact: welcome text after an hour",
            trigger=Workflow.Trigger.RECORD_CREATED,
            record_type="contact",
            conditions=[{"field": "phone", "op": "ne", "value": ""}],
            actions=[
                {"type": "wait", "params": {"hours": 1}},
                {
                    "type": "send_sms",
                    "params": {"body": "Hi {{ contact.first_name }}, thanks for reaching out!"},
                },
            ],
        ),
        Workflow(
            id=seeded_uuid(rng),
            company=company,
            user=owner,
            name="Weekday pipeline digest",
            trigger=Workflow.Trigger.SCHEDULE,
            schedule_cron="0 8 * * mon-fri",
            next_run_at=NOW + timedelta(days=1, hours=-1),
            actions=[digest],
            is_active=False,
        ),
        Workflow(
            id=seeded_uuid(rng),
            company=company,
            user=owner,
            name="Website lead",
            trigger=Workflow.Trigger.WEBHOOK,
            conditions=[{"field": "source", "op": "eq", "value": "website"}],
            actions=[
                {"type": "create_notification", "params": {"title": "New website lead: {{ company.name }}"}}
            ],
        ),
    ]
    for workflow in workflows:
        workflow.secret = f"{rng.getrandbits(256):064x}"
    Workflow.objects.bulk_create(workflows)

    won, _, digest_workflow, website_lead = workflows
    executions = []
    if won_deal is not None:
        executions.append(
            WorkflowExecution(
                id=seeded_uuid(rng),
                company=company,
                workflow=won,
                status=WorkflowExecution.Status.SUCCEEDED,
                trigger=won.trigger,
                trigger_payload={
                    "event": won.trigger,
                    "record_type": "deal",
                    "record_id": str(won_deal.pk),
                    "changed_fields": {"stage": ["negotiation", "won"]},
                    "chain": [],
                },
                record_type="deal",
                record_id=won_deal.pk,
                steps=[
                    _step(index, action, "succeeded", output={"demo": True}, at=NOW - timedelta(days=3))
                    for index, action in enumerate(won.actions)
                ],
                attempts=len(won.actions),
                started_at=NOW - timedelta(days=3),
                finished_at=NOW - timedelta(days=3, seconds=-5),
            )
        )
    failure = f"{digest['params']['url']} answered 503: Service Unavailable"
    executions.append(
        WorkflowExecution(
            id=seeded_uuid(rng),
            company=company,
            workflow=digest_workflow,
            status=WorkflowExecution.Status.FAILED,
            trigger=digest_workflow.trigger,
            trigger_payload={"due_at": (NOW - timedelta(days=1, hours=1)).isoformat()},
            steps=[
                _step(0, digest, "failed", error=failure, attempts=4, at=NOW - timedelta(days=1, hours=1))
            ],
            attempts=4,
            started_at=NOW - timedelta(days=1, hours=1),
            finished_at=NOW - timedelta(days=1, minutes=54),
            error=f"Step 1 (webhook) failed after 4 attempts: {failure}",
            dedupe_key=f"schedule:{(NOW - timedelta(days=1, hours=1)).isoformat()}",
        )
    )
    executions.append(
        WorkflowExecution(
            id=seeded_uuid(rng),
            company=company,
            workflow=won,
            status=WorkflowExecution.Status.CANCELLED,
            trigger=Workflow.Trigger.MANUAL,
            trigger_payload={},
            record_type="deal" if won_deal is not None else "",
            record_id=won_deal.pk if won_deal is not None else None,
            steps=[
                _step(index, action, "skipped", error="Not run: the execution was cancelled.")
                for index, action in enumerate(won.actions)
            ],
            triggered_by=owner,
            started_at=NOW - timedelta(hours=2),
            finished_at=NOW - timedelta(hours=2, seconds=-30),
            error=f"Cancelled by {owner.full_name}.",
        )
    )
    WorkflowExecution.objects.bulk_create(executions)
    # The website lead's one signed inbound delivery so far, whose conditions did not hold.
    deliveries = [
        WorkflowDelivery(
            id=seeded_uuid(rng),
            company=company,
            workflow=website_lead,
            delivery_id=f"{rng.getrandbits(128):032x}",
            signed_at=NOW - timedelta(hours=3),
        )
    ]
    WorkflowDelivery.objects.bulk_create(deliveries)
    return {
        "workflows": len(workflows),
        "workflow_executions": len(executions),
        "workflow_deliveries": len(deliveries),
    }
