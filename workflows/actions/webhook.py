"""webhook: POST a signed JSON body, claimed first and made outside any transaction (it cannot be undone)."""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass

from django.core.serializers.json import DjangoJSONEncoder

from core.api.strict import free_json_object_schema, free_json_problem

from .. import signing
from ..records import RecordType, is_number
from .base import (
    ActionType,
    ParamProblems,
    RunContext,
    StepFailed,
    StepRefused,
    merge_field_problems,
    params_schema,
)

logger = logging.getLogger("workflows")

MAX_TIMEOUT = 30
DEFAULT_TIMEOUT = 10


def check(params: dict, record_type: RecordType | None) -> ParamProblems:
    problems = []
    problem = signing.url_problem(params.get("url"))
    if problem:
        problems.append(("url", problem))
    payload = params.get("payload", {})
    problem = free_json_problem(payload, object_only=True)
    if problem:
        problems.append(("payload", problem))
    else:
        for text in _strings_in(payload):
            problems += merge_field_problems("payload", text)
    timeout = params.get("timeout", DEFAULT_TIMEOUT)
    if not is_number(timeout) or not 1 <= timeout <= MAX_TIMEOUT:
        problems.append(("timeout", f"Give a number of seconds from 1 to {MAX_TIMEOUT}."))
    return problems


def _strings_in(value):
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for item in value.values():
            yield from _strings_in(item)
    elif isinstance(value, list):
        for item in value:
            yield from _strings_in(item)


def webhook_body(ctx: RunContext, params: dict, *, step_index: int) -> dict:
    """The JSON an outbound webhook sends: who sent it, about which record, and the rendered payload."""
    execution = ctx.execution
    record = None
    if ctx.record is not None:
        record = {"type": ctx.record_type.name, "id": str(ctx.record.pk)}
    return {
        "workflow_id": str(ctx.workflow.pk),
        "execution_id": str(execution.pk) if execution is not None else None,
        "step": step_index,
        "trigger": execution.trigger if execution is not None else ctx.workflow.trigger,
        "record": record,
        "data": _render_json(ctx, params.get("payload", {})),
    }


def _render_json(ctx: RunContext, value):
    if isinstance(value, str):
        return ctx.render(value)
    if isinstance(value, dict):
        return {key: _render_json(ctx, item) for key, item in value.items()}
    if isinstance(value, list):
        return [_render_json(ctx, item) for item in value]
    return value


def encode(body: dict) -> bytes:
    return json.dumps(body, cls=DjangoJSONEncoder, separators=(",", ":"), sort_keys=True).encode()


@dataclass(frozen=True)
class WebhookCall:
    """An outbound webhook claimed by one attempt, made outside any database transaction."""

    index: int
    attempt: int
    url: str
    body: bytes
    secret: str
    timeout: float
    delivery_id: str

    def perform(self) -> dict:
        """The step's output on a 2xx answer; StepRefused for an address never called, else StepFailed."""
        try:
            result = signing.post_signed(
                url=self.url,
                body=self.body,
                secret=self.secret,
                timeout=self.timeout,
                delivery_id=self.delivery_id,
            )
        except Exception as error:
            logger.info("webhook %s failed: %s", self.url, error)
            if isinstance(error, signing.WebhookRefused):
                raise StepRefused(str(error)) from error
            raise
        if not result.ok:
            raise StepFailed(f"{self.url} answered {result.status_code}: {result.response_excerpt[:200]}")
        return {"url": self.url, "status_code": result.status_code, "response": result.response_excerpt}


def run(ctx: RunContext, params: dict, *, index: int, attempt: int) -> WebhookCall:
    return WebhookCall(
        index=index,
        attempt=attempt,
        url=params["url"],
        body=encode(webhook_body(ctx, params, step_index=index)),
        secret=ctx.workflow.secret,
        timeout=float(params.get("timeout", DEFAULT_TIMEOUT)),
        delivery_id=f"{ctx.execution.pk}:{index}",
    )


def describe(ctx: RunContext, params: dict, *, index: int) -> dict:
    return {
        "url": params["url"],
        "payload": webhook_body(ctx, params, step_index=index),
        "timeout": params.get("timeout", DEFAULT_TIMEOUT),
    }


WEBHOOK = ActionType(
    name="webhook",
    description="POST a JSON body signed with the workflow's secret (X-CRM-Signature: sha256=<hex>).",
    params=params_schema(
        {
            "url": {"type": "string", "format": "uri", "pattern": "^https?://[!-~]+$", "maxLength": 2000},
            "payload": free_json_object_schema(),
            "timeout": {"type": "number", "minimum": 1, "maximum": MAX_TIMEOUT},
        },
        required=("url",),
    ),
    check=check,
    run=run,
    describe=describe,
    transactional=False,
)
