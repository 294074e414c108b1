"""Rate limits of the public doors: per client address and per key (a number, a token), on the cache.

DRF views list the classes in `throttle_classes`; plain Django views (Twilio's webhooks, the
workflow hook, the signing page) ask `throttle_wait()` or `throttled_response()` with the same
classes. A view limited per key says which key a request names through `throttle_key(request)`
and which kind of key it is through `throttle_key_kind`, so a number and a token never share a
bucket. The client address is DRF's, read past `NUM_PROXIES` proxies as the login throttle reads it.
Signed-in actions that cost the outside world something (a Twilio look-up) are limited per user with
`UserThrottle`, and per any other key (a company) with `KeyThrottle`.
"""

import hashlib
import math

from django.http import JsonResponse
from rest_framework.exceptions import Throttled
from rest_framework.settings import api_settings
from rest_framework.throttling import SimpleRateThrottle


class PublicThrottle(SimpleRateThrottle):
    """Base of the public doors' limits; the rate is read at request time so operators can tune it."""

    def get_rate(self):
        return api_settings.DEFAULT_THROTTLE_RATES.get(self.scope)


class AddressThrottle(PublicThrottle):
    """Requests from one client address to the doors of this scope, whatever they name."""

    def get_cache_key(self, request, view):
        return self.cache_format % {"scope": f"{self.scope}-address", "ident": self.get_ident(request)}


class KeyThrottle(PublicThrottle):
    """Requests naming one key, from any address; a request naming no key is not counted here."""

    def get_cache_key(self, request, view):
        key = view.throttle_key(request)
        if not key:
            return None
        # Hashed: the cache never holds a token, and attacker text of any length makes a short key.
        digest = hashlib.sha256(f"{view.throttle_key_kind}:{key}".encode("utf-8", "replace")).hexdigest()
        return self.cache_format % {"scope": f"{self.scope}-key", "ident": digest}


class UserThrottle(PublicThrottle):
    """Requests of one signed-in user to the views of this scope; an anonymous request is not counted here."""

    def get_cache_key(self, request, view):
        user = getattr(request, "user", None)
        if user is None or not user.is_authenticated:
            return None
        return self.cache_format % {"scope": f"{self.scope}-user", "ident": user.pk}


class PublicAddressThrottle(AddressThrottle):
    """The doors people open (signing links, file links): PUBLIC_THROTTLE_RATE per address."""

    scope = "public"


class PublicKeyThrottle(KeyThrottle):
    """The same doors: PUBLIC_KEY_THROTTLE_RATE per link."""

    scope = "public_key"


class WebhookAddressThrottle(AddressThrottle):
    """The doors machines call (Twilio, workflow hooks): WEBHOOK_THROTTLE_RATE per sending address."""

    scope = "webhook"


class WebhookKeyThrottle(KeyThrottle):
    """The same doors: WEBHOOK_KEY_THROTTLE_RATE per number or workflow."""

    scope = "webhook_key"


PUBLIC_THROTTLES = [PublicAddressThrottle, PublicKeyThrottle]
WEBHOOK_THROTTLES = [WebhookAddressThrottle, WebhookKeyThrottle]


def throttle_wait(request, view, throttle_classes) -> int | None:
    """Seconds to wait when any of the throttles refuses the request, else None (the request is counted)."""
    waits = []
    for throttle_class in throttle_classes:
        throttle = throttle_class()
        if not throttle.allow_request(request, view):
            waits.append(throttle.wait() or throttle.duration)
    if not waits:
        return None
    return max(1, math.ceil(max(waits)))


def throttled_response(request, view, throttle_classes) -> JsonResponse | None:
    """For a plain Django view: 429 with Retry-After and a JSON detail, or None when the request may pass."""
    wait = throttle_wait(request, view, throttle_classes)
    if wait is None:
        return None
    response = JsonResponse({"detail": str(Throttled(wait).detail)}, status=429)
    response["Retry-After"] = str(wait)
    return response
