"""Deleted records: what still points at them, and restoring one, for the API and the admin alike.

DELETE keeps the row (`is_deleted`); rows that point at it keep pointing, and their representations
say the reference is deleted; where keeping them would be wrong, the model's service refuses the
delete with StillReferenced (409 with `referenced_by`). Owners and admins list deleted rows and
restore them, within their company, and every restore is written to the audit log.
"""

from django.core.exceptions import ValidationError
from django.db import IntegrityError, models, transaction

from core.exceptions import StateConflict

from .audit import record_access
from .models import AuditLog


class StillReferenced(StateConflict):
    """A delete a model's service refuses while live records point at it: 409 naming them and how many."""

    def __init__(self, message: str, *, referenced_by: dict[str, int]):
        super().__init__(message)
        self.referenced_by = referenced_by


def tenant_foreign_keys(model):
    """The model's foreign keys to other tenant records."""
    for field in model._meta.concrete_fields:
        if field.many_to_one and getattr(field.related_model, "_is_tenant_model", False):
            yield field


def deleted_parent(record):
    """The deleted record this one belongs to (a cascading foreign key: a quote's line, a folder's file)."""
    for field in tenant_foreign_keys(type(record)):
        related_id = getattr(record, field.attname)
        if related_id is None or field.remote_field.on_delete is not models.CASCADE:
            continue
        # The base manager: the scoped one hides exactly the deleted row asked about. Composite
        # foreign keys keep the parent in the record's own company.
        parent = field.related_model._base_manager.filter(pk=related_id, is_deleted=True).first()
        if parent is not None:
            return parent
    return None


def _constraint_fields(model, error: IntegrityError) -> str:
    """The columns of the unique rule the database named, as a reader knows them."""
    name = getattr(getattr(error.__cause__, "diag", None), "constraint_name", None)
    for constraint in model._meta.constraints:
        if constraint.name == name and getattr(constraint, "fields", None):
            return ", ".join(field for field in constraint.fields if field != "company")
    return "values"


@transaction.atomic
def restore_record(record, *, actor, request=None):
    """Bring a deleted record back into every list and picker; 409 when a rule of live rows forbids it."""
    meta = record._meta
    if not record.is_deleted:
        raise StateConflict(f"This {meta.verbose_name} is not deleted.")
    parent = deleted_parent(record)
    if parent is not None:
        raise StateConflict(
            f"This {meta.verbose_name} belongs to {parent._meta.verbose_name} {parent}, which is deleted: "
            f"restore the {parent._meta.verbose_name} first."
        )
    record.is_deleted = False
    try:
        # Django checks the unique rules against the company's live rows, with their own messages.
        record.validate_constraints()
        with transaction.atomic():
            record.save(update_fields=["is_deleted", "updated_at"])
    except ValidationError as error:
        record.is_deleted = True
        raise StateConflict(f"Cannot restore this {meta.verbose_name}: {' '.join(error.messages)}") from error
    except IntegrityError as error:
        # A rule across companies (a phone number registered once) is the database's to check.
        record.is_deleted = True
        raise StateConflict(
            f"Cannot restore this {meta.verbose_name}: a live {meta.verbose_name} has the same "
            f"{_constraint_fields(type(record), error)}."
        ) from error
    # The reason names the kind of record and its id as stored, never text from the request.
    record_access(
        action=AuditLog.Action.RESTORE,
        reason=f"restored {meta.label} {record.pk}",
        actor=actor,
        company_id=record.company_id,
        request=request,
    )
    return record


def deleted_ids(field, ids) -> set:
    """Which of these ids of `field`'s related model are deleted rows, in one query."""
    ids = {value for value in ids if value is not None}
    if not ids:
        return set()
    return set(
        field.related_model._base_manager.filter(pk__in=ids, is_deleted=True).values_list("pk", flat=True)
    )
