"""The public inbound webhook of a workflow: no login, but a signature over its time, delivery id and body.

    X-CRM-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<delivery id>.<raw body>">
    X-CRM-Delivery: <delivery id>

A signature older (or further ahead) than WORKFLOW_HOOK_TOLERANCE_SECONDS, or a delivery id the
workflow already took in, is refused, so a captured request cannot be replayed (docs/WORKFLOWS.md).
"""

import hashlib
import hmac
import json
import logging
import re
import time
from datetime import UTC, datetime

from django.conf import settings
from django.core.exceptions import RequestDataTooBig
from django.db import IntegrityError, transaction
from django.http import JsonResponse
from django.utils.decorators import method_decorator
from django.views import View
from django.views.decorators.csrf import csrf_exempt

from core.api.parsers import nesting_problem
from core.api.throttles import WEBHOOK_THROTTLES, throttled_response
from tenancy.context import company_context
from tenancy.resolution import company_for_key

from . import services
from .conditions import unmet
from .models import Workflow, WorkflowDelivery, WorkflowExecution
from .records import parse_uuid
from .signing import DELIVERY_HEADER, SIGNATURE_HEADER

logger = logging.getLogger("workflows")
SIGNATURE_META = "HTTP_" + SIGNATURE_HEADER.upper().replace("-", "_")
DELIVERY_META = "HTTP_" + DELIVERY_HEADER.upper().replace("-", "_")
# No "." in a delivery id, so "<t>.<id>.<body>" reads one way only.
DELIVERY_ID = re.compile(r"^[A-Za-z0-9_-]{1,100}$")
TIMESTAMP = re.compile(r"^[0-9]{1,12}$")
SIGNATURE_VERSION = "v1"
REFUSED = (
    f"Missing or invalid {SIGNATURE_HEADER}. Send 't=<unix seconds>,v1=<hex HMAC-SHA256 of t, "
    f"{DELIVERY_HEADER} and the body, joined by dots>', keyed with the workflow's secret (docs/WORKFLOWS.md)."
)
STALE = (
    "The signature's time t is more than {seconds} seconds from now: sign each delivery when you "
    "send it, with a synchronised clock."
)
BAD_DELIVERY = (
    f"Send a delivery id in {DELIVERY_HEADER}: 1 to 100 letters, digits, '-' or '_', new for each delivery."
)


def signed_content(timestamp: str, delivery_id: str, body: bytes) -> bytes:
    """What the HMAC covers: the signing time, the delivery id and the raw body."""
    return f"{timestamp}.{delivery_id}.".encode() + body


def _digest(secret: str, timestamp: str, delivery_id: str, body: bytes) -> str:
    return hmac.new(secret.encode(), signed_content(timestamp, delivery_id, body), hashlib.sha256).hexdigest()


def hook_signature(secret: str, body: bytes, *, delivery_id: str, timestamp: int) -> str:
    """The X-CRM-Signature value a sender puts on a delivery (what docs/WORKFLOWS.md shows senders)."""
    return f"t={timestamp},{SIGNATURE_VERSION}={_digest(secret, str(timestamp), delivery_id, body)}"


def parse_signature(header: str) -> tuple[str, list[str]] | None:
    """(t, [v1 digests]) of a signature header, or None when it has not that form."""
    timestamp, digests = None, []
    for part in header.split(","):
        name, _, value = part.strip().partition("=")
        if name == "t" and timestamp is None and TIMESTAMP.match(value):
            timestamp = value
        elif name == SIGNATURE_VERSION and value:
            digests.append(value)
        elif name == "t":
            return None
    if timestamp is None or not digests:
        return None
    return timestamp, digests


def signature_matches(secret: str, timestamp: str, delivery_id: str, body: bytes, digests: list[str]) -> bool:
    """Whether one of the v1 digests is ours, compared in constant time."""
    if not secret:
        return False
    wanted = _digest(secret, timestamp, delivery_id, body).encode()
    return any(hmac.compare_digest(wanted, digest.strip().encode("utf-8", "replace")) for digest in digests)


def _refused() -> JsonResponse:
    # One answer for unsigned, wrongly signed and unknown workflows, so nothing can be probed.
    return JsonResponse({"detail": REFUSED}, status=403)


@method_decorator(csrf_exempt, name="dispatch")
class WorkflowHookView(View):
    """POST /api/public/workflows/<id>/hook: start a webhook workflow; unsigned is a 403 writing nothing."""

    http_method_names = ["post"]
    throttle_key_kind = "workflow-hook"

    def throttle_key(self, request) -> str:
        return self.kwargs.get("workflow_id", "")

    def post(self, request, workflow_id):
        throttled = throttled_response(request, self, WEBHOOK_THROTTLES)
        if throttled is not None:
            return throttled
        try:
            body = request.body
        except RequestDataTooBig:
            return JsonResponse({"detail": "The body is too large."}, status=413)
        signed = parse_signature(request.META.get(SIGNATURE_META, ""))
        workflow_pk = parse_uuid(workflow_id)
        if signed is None or workflow_pk is None:
            return _refused()
        delivery_id = request.META.get(DELIVERY_META, "")
        if not DELIVERY_ID.match(delivery_id):
            return JsonResponse({"detail": BAD_DELIVERY}, status=400)
        company_id = company_for_key(Workflow, "id", workflow_pk)
        if company_id is None:
            return _refused()
        timestamp, digests = signed
        with company_context(company_id):
            workflow = (
                Workflow.objects.select_related("user", "company")
                .filter(pk=workflow_pk, trigger=Workflow.Trigger.WEBHOOK)
                .first()
            )
            if workflow is None or not signature_matches(
                workflow.secret, timestamp, delivery_id, body, digests
            ):
                logger.warning("refused an inbound webhook of workflow %s with a bad signature", workflow_pk)
                return _refused()
            skew, tolerance = abs(time.time() - int(timestamp)), settings.WORKFLOW_HOOK_TOLERANCE_SECONDS
            if skew > tolerance:
                logger.warning("refused an inbound webhook of workflow %s signed %ds away", workflow_pk, skew)
                return JsonResponse({"detail": STALE.format(seconds=tolerance)}, status=403)
            return self.handle(request, workflow, body, delivery_id=delivery_id, timestamp=int(timestamp))

    def handle(
        self, request, workflow: Workflow, body: bytes, *, delivery_id: str, timestamp: int
    ) -> JsonResponse:
        if not workflow.is_active:
            return JsonResponse({"detail": "This workflow is switched off."}, status=409)
        problem = nesting_problem(body)
        if problem:
            return JsonResponse({"detail": problem}, status=400)
        try:
            payload = json.loads(body or b"{}")
        except (UnicodeDecodeError, ValueError):
            return JsonResponse({"detail": "The body is not JSON."}, status=400)
        if not isinstance(payload, dict):
            return JsonResponse({"detail": "The body is a JSON object."}, status=400)
        try:
            # One savepoint: a delivery refused below is not kept, so the sender may correct and resend it.
            with transaction.atomic():
                if not remember_delivery(workflow, delivery_id, signed_at=timestamp):
                    return replayed(workflow, delivery_id)
                outcome, created = services.receive_webhook(
                    workflow, payload=payload, delivery_id=delivery_id
                )
        except services.RunRefused as error:
            return JsonResponse(error.errors, status=400)
        if isinstance(outcome, list):
            return JsonResponse(
                {"detail": "The conditions are not met; nothing ran.", "unmet": unmet(outcome)}
            )
        return JsonResponse(
            {"execution_id": str(outcome.pk), "status": outcome.status, "created": created},
            status=202 if created else 200,
        )


def remember_delivery(workflow: Workflow, delivery_id: str, *, signed_at: int) -> bool:
    """Record that the workflow took this delivery in; False when it already had (a replay)."""
    try:
        with transaction.atomic():
            WorkflowDelivery.objects.create(
                workflow=workflow,
                delivery_id=delivery_id,
                signed_at=datetime.fromtimestamp(signed_at, tz=UTC),
            )
    except IntegrityError:
        return False
    return True


def replayed(workflow: Workflow, delivery_id: str) -> JsonResponse:
    """409 for a delivery id seen before; a sender retrying learns the execution it started, if any."""
    logger.warning("refused a replayed delivery %s of workflow %s", delivery_id, workflow.pk)
    started = WorkflowExecution.objects.filter(
        workflow=workflow, dedupe_key=f"delivery:{delivery_id}"
    ).first()
    answer = {"detail": f"This {DELIVERY_HEADER} was already received; nothing was started."}
    if started is not None:
        answer["execution_id"] = str(started.pk)
    return JsonResponse(answer, status=409)
