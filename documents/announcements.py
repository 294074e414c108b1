"""Announcements of the e-signature engine: a document's signing finished, completed or declined.

Documents knows nothing of the apps above it; those that react to a finished signing (quotes)
subscribe here from their `AppConfig.ready()`. The signing side calls `announce_signing_finished`
explicitly after the document's write, inside its transaction, so a listener's own writes commit
or roll back with it.
"""

from collections.abc import Callable

SigningFinishedListener = Callable[..., object]

_signing_finished_listeners: list[SigningFinishedListener] = []


def subscribe_signing_finished(listener: SigningFinishedListener) -> None:
    """Call `listener(document, outcome=...)` when every signer signed or one declined."""
    if listener not in _signing_finished_listeners:
        _signing_finished_listeners.append(listener)


def announce_signing_finished(document, *, outcome: str) -> None:
    """Tell every subscriber that `document` is now `outcome` (Document.Status.COMPLETED or DECLINED)."""
    for listener in _signing_finished_listeners:
        listener(document, outcome=outcome)
