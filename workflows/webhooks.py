"""The public inbound webhook of a workflow: no login, but an HMAC-SHA256 signature over the raw body."""

import json
import logging

from django.core.exceptions import RequestDataTooBig
from django.http import JsonResponse
from django.utils.decorators import method_decorator
from django.views import View
from django.views.decorators.csrf import csrf_exempt

from tenancy.context import company_context
from tenancy.resolution import company_owning

from . import services
from .conditions import unmet
from .models import Workflow
from .records import parse_uuid
from .signing import DELIVERY_HEADER, SIGNATURE_HEADER, signature_matches

logger = logging.getLogger("workflows")
SIGNATURE_META = "HTTP_" + SIGNATURE_HEADER.upper().replace("-", "_")
DELIVERY_META = "HTTP_" + DELIVERY_HEADER.upper().replace("-", "_")


def _refused() -> JsonResponse:
    # One answer for unsigned, wrongly signed and unknown workflows, so nothing can be probed.
    return JsonResponse({"detail": f"Missing or invalid {SIGNATURE_HEADER} signature."}, status=403)


@method_decorator(csrf_exempt, name="dispatch")
class WorkflowHookView(View):
    """POST /api/public/workflows/<id>/hook: start a webhook workflow; unsigned is a 403 writing nothing."""

    http_method_names = ["post"]

    def post(self, request, workflow_id):
        try:
            body = request.body
        except RequestDataTooBig:
            return JsonResponse({"detail": "The body is too large."}, status=413)
        signature = request.META.get(SIGNATURE_META, "")
        workflow_pk = parse_uuid(workflow_id)
        if not signature or workflow_pk is None:
            return _refused()
        company_id = company_owning(
            Workflow,
            reason=f"workflow inbound webhook {workflow_pk}",
            request=request,
            pk=workflow_pk,
            trigger=Workflow.Trigger.WEBHOOK,
        )
        if company_id is None:
            return _refused()
        with company_context(company_id):
            workflow = Workflow.objects.select_related("user", "company").filter(pk=workflow_pk).first()
            if workflow is None or not signature_matches(workflow.secret, body, signature):
                logger.warning("refused an inbound webhook of workflow %s with a bad signature", workflow_pk)
                return _refused()
            return self.handle(request, workflow, body)

    def handle(self, request, workflow: Workflow, body: bytes) -> JsonResponse:
        if not workflow.is_active:
            return JsonResponse({"detail": "This workflow is switched off."}, status=409)
        try:
            payload = json.loads(body or b"{}")
        except (UnicodeDecodeError, ValueError):
            return JsonResponse({"detail": "The body is not JSON."}, status=400)
        if not isinstance(payload, dict):
            return JsonResponse({"detail": "The body is a JSON object."}, status=400)
        try:
            outcome, created = services.receive_webhook(
                workflow, payload=payload, delivery_id=request.META.get(DELIVERY_META, "")
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
