"""The public signing page: an HTML page a signer opens from their e-mail, with no login.

Its forms are ordinary POSTs protected by Django's CSRF token (the page sets the cookie), so
signing with a typed name works without JavaScript; a drawn signature needs it.

The page's referrer policy is same-origin: the link's token never leaves the site in a Referer, and
the browser still sends the page's own Origin with the form, which Django's CSRF check compares
with the host (under no-referrer browsers send `Origin: null`, and every real signer was refused).
"""

from django.core.exceptions import ValidationError
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.decorators import method_decorator
from django.views import View
from django.views.decorators.cache import never_cache

from core.api.throttles import PUBLIC_THROTTLES, throttle_wait

from . import signing
from .api import SIGNING_LINK_THROTTLE_KIND, signing_link
from .models import DocumentSignature
from .services import AWAITING_SIGNER, Requester
from .signing import SigningRefused

TEMPLATE = "documents/sign.html"
NOT_FOUND = "This signing link is not valid. Check that you opened the whole link from your e-mail."
AGREE_REQUIRED = "Tick the box to agree to sign this document electronically."
# Same-origin, not no-referrer: the forms' POST must carry a real Origin (see the module's docstring).
SIGNING_PAGE_REFERRER_POLICY = "same-origin"
THROTTLED = "Too many requests for this signing link; wait {wait} seconds and reload the page."


@method_decorator(never_cache, name="dispatch")
class SigningPage(View):
    """GET shows the document and the sign and decline forms; POST signs or declines.

    Limited per client address and per link like the signing API, whose link bucket it shares.
    """

    throttle_key_kind = SIGNING_LINK_THROTTLE_KIND

    def throttle_key(self, request) -> str:
        return self.kwargs.get("token", "")

    def dispatch(self, request, *args, **kwargs):
        wait = throttle_wait(request, self, PUBLIC_THROTTLES)
        if wait is not None:
            response = self._refused(request, THROTTLED.format(wait=wait), status=429)
            response["Retry-After"] = str(wait)
            return response
        return super().dispatch(request, *args, **kwargs)

    def get(self, request, token):
        with signing_link(token) as signature:
            if signature is None:
                return self._refused(request, NOT_FOUND, status=404)
            try:
                signature = signing.open_signature(signature, requester=Requester.of(request))
            except SigningRefused as refusal:
                return self._refused(request, refusal.message, status=refusal.status, signature=signature)
            return self._page(request, signature, token)

    def post(self, request, token):
        with signing_link(token) as signature:
            if signature is None:
                return self._refused(request, NOT_FOUND, status=404)
            choice = request.POST.get("action")
            try:
                if choice == "sign":
                    if not request.POST.get("agree"):
                        raise ValidationError({"agree": [AGREE_REQUIRED]})
                    signing.sign(
                        signature,
                        typed_name=request.POST.get("typed_name", ""),
                        signature_image=request.POST.get("signature_image", ""),
                        requester=Requester.of(request),
                    )
                elif choice == "decline":
                    signing.decline(
                        signature, reason=request.POST.get("reason", ""), requester=Requester.of(request)
                    )
                else:
                    raise ValidationError("Choose to sign or to decline.")
            except SigningRefused as refusal:
                return self._refused(request, refusal.message, status=refusal.status, signature=signature)
            except ValidationError as error:
                errors = error.message_dict if hasattr(error, "error_dict") else {"action": error.messages}
                return self._page(request, signature, token, errors=errors, status=400)
        return redirect(reverse("documents:sign", args=[token]))

    def _page(self, request, signature: DocumentSignature, token: str, *, errors=None, status=200):
        document = signature.document
        context = {
            "signature": signature,
            "document": document,
            "company": signature.company,
            "signers": document.signatures.count(),
            "can_act": signature.status in AWAITING_SIGNER,
            "document_url": reverse("documents:public-signature-document", args=[token]),
            "errors": [message for messages in (errors or {}).values() for message in messages],
            "field_errors": errors or {},
            "typed_name": request.POST.get("typed_name", signature.signer_name),
            "reason": request.POST.get("reason", ""),
        }
        return _with_private_headers(render(request, TEMPLATE, context, status=status))

    def _refused(self, request, message: str, *, status: int, signature=None):
        context = {"refusal": message, "company": signature.company if signature is not None else None}
        return _with_private_headers(render(request, TEMPLATE, context, status=status))


def _with_private_headers(response):
    response["Referrer-Policy"] = SIGNING_PAGE_REFERRER_POLICY
    response["X-Robots-Tag"] = "noindex, nofollow"
    return response
