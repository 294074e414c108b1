"""Isolation-matrix registrations of workflows."""

from workflows.models import Workflow

from ..factories import EmailTemplateFactory, WorkflowFactory
from ..isolation import Registration


def workflow_payload(company) -> dict:
    return {
        "name": "Deal won: thank the customer",
        "trigger": "record_updated",
        "record_type": "deal",
        "conditions": [{"field": "stage", "op": "changed_to", "value": "won"}],
        "actions": [
            {"type": "send_email", "params": {"template_id": str(EmailTemplateFactory(company=company).id)}},
            {
                "type": "create_notification",
                "params": {"recipient": "record_owner", "title": "{{ deal.name }} won"},
            },
        ],
    }


REGISTRATIONS = {Workflow: Registration(WorkflowFactory, workflow_payload)}
