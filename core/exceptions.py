"""The error services raise when an action does not fit a record's current state."""

from django.core.exceptions import ValidationError


class StateConflict(ValidationError):
    """A service refuses an action because of the record's current state (answered 409, not 400).

    A ValidationError, so forms and the admin show it like any other refused rule.
    """
