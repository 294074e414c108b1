"""What every action type is made of, and what the actions of one execution (or one dry run) act on.

An action raises StepRefused for a problem retrying cannot fix (the contact has no address, the
template was deleted); any other exception counts as a failed attempt and the step is retried.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import cached_property

from messaging.services import templates

from ..records import RecordType

# A problem with one parameter: (its key, the message).
ParamProblems = list[tuple[str, str]]


class StepRefused(Exception):
    """A step that cannot succeed however often it is tried; the message says why."""


class StepFailed(Exception):
    """An attempt that failed for a reason worth retrying; the message says why, as the step log shows it."""


@dataclass(frozen=True)
class ActionType:
    """One kind of action, whole: adding an action type means adding one of these to ACTION_TYPES."""

    name: str
    # What the published schema says the action does, and the JSON Schema of its params object; its
    # properties are the params allowed.
    description: str
    params: dict
    # The problems of the params a workflow is saved with: [(param, message), ...].
    check: Callable[[dict, RecordType | None], ParamProblems]
    # Transactional: run(ctx, params) returns the step's output inside the step's transaction, so the
    # rows it writes commit with the step's success. Otherwise run(ctx, params, index=, attempt=)
    # returns a call, claimed first and `perform()`ed after the claim commits, outside any
    # transaction (an outbound request cannot be rolled back). A pause does nothing itself:
    # run(params) is how many seconds it holds the steps after it.
    run: Callable[..., object]
    # What the step would do, for a dry run: describe(ctx, params, index=) writes nothing.
    describe: Callable[..., dict]
    transactional: bool
    pauses: bool = False
    # Whether it acts on the record an execution is about (its contact, its owner, its fields).
    needs_record: bool = False
    # The params schema of a workflow of one record type (or none), where it narrows the general one.
    params_for: Callable[[dict, RecordType | None], dict] | None = None

    @property
    def allowed(self) -> tuple[str, ...]:
        return tuple(self.params["properties"])

    def params_schema(self, record_type: RecordType | None) -> dict:
        return self.params_for(self.params, record_type) if self.params_for else self.params


def params_schema(properties: dict, required: tuple[str, ...] = (), **extra) -> dict:
    """The JSON Schema of an action's params object: these properties and no others."""
    return {
        "type": "object",
        **({"required": list(required)} if required else {}),
        "additionalProperties": False,
        "properties": properties,
        **extra,
    }


def with_property(params: dict, key: str, schema: dict) -> dict:
    """A params schema with one property's schema replaced."""
    return {**params, "properties": {**params["properties"], key: schema}}


def merge_field_problems(key: str, text) -> ParamProblems:
    """Why a text with merge fields would not render, as e-mail templates check it."""
    if not isinstance(text, str):
        return [(key, "Give text.")]
    return [(key, message) for message in templates.template_errors(**{key: text}).get(key, [])]


@dataclass
class RunContext:
    """What the actions of one execution (or one dry run) act on."""

    workflow: object
    record_type: RecordType | None
    record: object | None
    payload: dict
    execution: object | None = None

    @cached_property
    def contact(self):
        if self.record is None:
            return None
        return self.record_type.contact_of(self.record)

    @cached_property
    def deal(self):
        if self.record is None:
            return None
        return self.record_type.deal_of(self.record)

    @property
    def sender(self):
        return self.workflow.user

    @cached_property
    def merge_values(self) -> dict[str, str]:
        return templates.merge_values(
            contact=self.contact, deal=self.deal, sender=self.sender, company=self.workflow.company
        )

    def render(self, text: str) -> str:
        return templates.render_text(text or "", self.merge_values)

    def require_record(self):
        if self.record is None:
            kind = self.record_type.name if self.record_type else "record"
            raise StepRefused(f"The {kind} this execution acts on no longer exists in this company.")
        return self.record
