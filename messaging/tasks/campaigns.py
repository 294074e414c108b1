"""Campaign tasks: send a campaign batch, start a campaign, find due campaigns."""

import logging

from celery import shared_task
from django.utils import timezone

from tenancy.context import all_companies
from tenancy.tasks import TenantTask, enqueue_after_commit

from ..models import EmailCampaign
from ..services import campaigns

logger = logging.getLogger("messaging.email")

# Due campaigns started per beat run; the rest are found by the next run.
DUE_BATCH = 200


@shared_task(base=TenantTask, name="messaging.send_campaign_batch")
def send_campaign_batch(*, company_id, campaign_id, email_ids):
    """Send a batch of one campaign's queued e-mails, each once."""
    return campaigns.send_campaign_batch(campaign_id, email_ids)


@shared_task(base=TenantTask, name="messaging.start_campaign")
def start_campaign(*, company_id, campaign_id):
    """Start one company's scheduled campaign if it is due and not yet started."""
    return campaigns.start_due_campaign(campaign_id)


@shared_task(name="messaging.dispatch_due_campaigns")
def dispatch_due_campaigns() -> int:
    """Platform job: queue a start task, inside its company, for every scheduled campaign now due."""
    with all_companies(reason="email campaigns: find scheduled campaigns that are due"):
        due = list(
            EmailCampaign.objects.filter(
                status=EmailCampaign.Status.SCHEDULED, scheduled_at__lte=timezone.now()
            )
            .order_by("scheduled_at")
            .values_list("pk", "company_id")[:DUE_BATCH]
        )
    for campaign_id, company_id in due:
        enqueue_after_commit(start_campaign, company_id=company_id, campaign_id=str(campaign_id))
    if due:
        logger.info("campaigns: queued %s due campaigns", len(due))
    return len(due)
