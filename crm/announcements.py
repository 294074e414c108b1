"""Announcements of the sales core: a contact, account or deal was created or changed.

The sales core knows nothing of the apps above it; those that react to its records (workflows)
subscribe here from their `AppConfig.ready()`. Services call `announce_record_changed` explicitly
after the write, inside its transaction, so a listener's own writes commit or roll back with it.
"""

from collections.abc import Callable

RecordChangedListener = Callable[..., object]

_record_changed_listeners: list[RecordChangedListener] = []


def subscribe_record_changed(listener: RecordChangedListener) -> None:
    """Call `listener(instance, created=..., changed_fields=...)` after every sales-core save."""
    if listener not in _record_changed_listeners:
        _record_changed_listeners.append(listener)


def announce_record_changed(instance, *, created: bool, changed_fields: dict) -> None:
    """Tell every subscriber that `instance` was created or changed ({field: (old, new)})."""
    for listener in _record_changed_listeners:
        listener(instance, created=created, changed_fields=changed_fields)
