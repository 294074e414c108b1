"""Celery tasks of documents: e-mailing signing links, expiring overdue documents, the link outbox."""

import logging
from datetime import timedelta

from celery import shared_task
from django.conf import settings
from django.utils import timezone

from tenancy.context import all_companies
from tenancy.tasks import TenantTask, enqueue_after_commit

from . import services
from .models import Document, DocumentSignature

logger = logging.getLogger("documents")

# Rows handled per beat run; the rest are found by the next run.
BATCH = 500


@shared_task(base=TenantTask, name="documents.send_signature_request")
def send_signature_request(*, company_id, signature_id):
    """E-mail one signer a fresh signing link, once however often the task is delivered."""
    services.deliver_signature_request(signature_id)


@shared_task(base=TenantTask, name="documents.expire_overdue_documents")
def expire_overdue_documents(*, company_id):
    """Expire one company's documents whose signing deadline has passed."""
    return services.expire_overdue_documents()


@shared_task(name="documents.dispatch_overdue_documents")
def dispatch_overdue_documents() -> int:
    """Platform job: queue the expiry, inside its company, of every company with an overdue document."""
    with all_companies(reason="documents: find companies with documents past their signing deadline"):
        company_ids = list(
            Document.objects.filter(status=Document.Status.SENT, expires_at__lte=timezone.now())
            .order_by()
            .values_list("company_id", flat=True)
            .distinct()[:BATCH]
        )
    for company_id in company_ids:
        enqueue_after_commit(expire_overdue_documents, company_id=company_id)
    return len(company_ids)


@shared_task(name="documents.requeue_stalled_signature_requests")
def requeue_stalled_signature_requests() -> int:
    """Platform job: queue again every signer's turn recorded but never e-mailed (a broker outage)."""
    cutoff = timezone.now() - timedelta(seconds=settings.OUTBOX_REQUEUE_AFTER_SECONDS)
    with all_companies(reason="documents: requeue signing links recorded but never e-mailed"):
        stalled = list(
            DocumentSignature.objects.filter(
                status__in=services.AWAITING_SIGNER,
                token_hash__isnull=True,
                document__status=Document.Status.SENT,
                updated_at__lt=cutoff,
            )
            .order_by("updated_at")
            .values_list("pk", "company_id")[:BATCH]
        )
    for signature_id, company_id in stalled:
        send_signature_request.apply_async(
            kwargs={"company_id": str(company_id), "signature_id": str(signature_id)}
        )
    if stalled:
        logger.info("documents: queued %s stalled signing links again", len(stalled))
    return len(stalled)
