"""Errors raised when tenant isolation would be broken, and the one services raise for a state conflict."""

from django.core.exceptions import ValidationError


class TenancyError(Exception):
    """Base class for tenant isolation errors."""


class NoTenantContext(TenancyError):
    """A tenant-scoped query or write ran with no company in the context."""


class CrossTenantWrite(TenancyError):
    """A write would store a row of another company, or point at one."""


class StateConflict(ValidationError):
    """A service refuses an action because of the record's current state (answered 409, not 400).

    A ValidationError, so forms and the admin show it like any other refused rule.
    """
